// Process and build metrics for the node, read from /proc at scrape time
// (prometheus-cpp has no process collector):
//
//   writeboost_build_info{version,cache_format}  always 1
//   process_cpu_seconds_total, process_resident_memory_bytes,
//   process_virtual_memory_bytes, process_start_time_seconds,
//   process_open_fds, process_max_fds   (the names client libraries use)
//   writeboost_threads                  threads of the process
#ifndef WRITEBOOST_NODE_METRICS_PROCESS_H_
#define WRITEBOOST_NODE_METRICS_PROCESS_H_

#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace wb::node {

class ProcessMetrics : public prometheus::Collectable {
 public:
  // `version`: the build's version, e.g. "0.1.0".
  explicit ProcessMetrics(std::string version) : version_(std::move(version)) {}

  // A /proc file that cannot be read leaves its metrics out of the scrape.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string version_;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_METRICS_PROCESS_H_
