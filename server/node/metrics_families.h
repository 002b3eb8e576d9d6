// Building Prometheus metric families at scrape time. The node's collectors
// read their sources (volume status, I/O counters, /proc) when Prometheus
// scrapes and describe each metric once, in a MetricDef table, so that the
// names, types and help texts sit in one place per collector (and match
// docs/METRICS.md, which a test checks).
#ifndef WRITEBOOST_NODE_METRICS_FAMILIES_H_
#define WRITEBOOST_NODE_METRICS_FAMILIES_H_

#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"

namespace wb::node {

struct MetricDef {
  const char* name;
  prometheus::MetricType type;  // Counter, Gauge or Histogram
  const char* help;
};

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Collects samples into one family per metric name, in the order the
// families are first used. Not thread-safe; one per scrape.
class FamilySet {
 public:
  // Adds a counter or gauge sample (by def.type).
  void Add(const MetricDef& def, const MetricLabels& labels, double value);

  // Adds a histogram sample. `bucket_counts` are per bucket (not
  // cumulative), one per bound plus a last one for +Inf.
  // REQUIRES: def.type is Histogram; bucket_counts.size() == bounds.size() + 1.
  void AddHistogram(const MetricDef& def, const MetricLabels& labels,
                    absl::Span<const double> bounds,
                    absl::Span<const uint64_t> bucket_counts, double sum);

  std::vector<prometheus::MetricFamily> Take() { return std::move(families_); }

 private:
  prometheus::ClientMetric& NewMetric(const MetricDef& def, const MetricLabels& labels);

  std::vector<prometheus::MetricFamily> families_;
  absl::flat_hash_map<std::string, size_t> index_;  // name -> families_ slot
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_METRICS_FAMILIES_H_
