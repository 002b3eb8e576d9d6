// The volumes' state as Prometheus metrics, read at scrape time: each
// scrape lists the registry and asks every open volume for its status
// (Volume::GetStatus, one short hold of the volume's lock). No background
// thread, no copies kept between scrapes, except the open (log replay)
// durations, which the node reports through OnVolumeHealth.
//
// The metric list with meanings is docs/METRICS.md.
#ifndef WRITEBOOST_NODE_METRICS_VOLUMES_H_
#define WRITEBOOST_NODE_METRICS_VOLUMES_H_

#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/node/volume_registry.h"

namespace wb::node {

class VolumeMetrics : public prometheus::Collectable {
 public:
  // REQUIRES: registry outlives this object.
  explicit VolumeMetrics(const VolumeRegistry* registry) : registry_(registry) {}

  // The registry's health callback: a volume stops serving when it starts
  // opening (and when it fails or is detached) and serves once its log is
  // replayed. The time from the last "not serving" to "serving" is its
  // open duration. Thread-safe.
  void OnVolumeHealth(const std::string& volume, bool serving);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const VolumeRegistry* const registry_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Time> down_since_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, double> open_seconds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_METRICS_VOLUMES_H_
