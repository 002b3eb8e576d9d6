#include "server/node/metrics_families.h"

#include <cassert>
#include <limits>

namespace wb::node {

prometheus::ClientMetric& FamilySet::NewMetric(const MetricDef& def,
                                              const MetricLabels& labels) {
  auto [it, inserted] = index_.try_emplace(def.name, families_.size());
  if (inserted) {
    prometheus::MetricFamily f;
    f.name = def.name;
    f.help = def.help;
    f.type = def.type;
    families_.push_back(std::move(f));
  }
  prometheus::MetricFamily& family = families_[it->second];
  assert(family.type == def.type);
  prometheus::ClientMetric& m = family.metric.emplace_back();
  for (const auto& [name, value] : labels) m.label.push_back({name, value});
  return m;
}

void FamilySet::Add(const MetricDef& def, const MetricLabels& labels, double value) {
  prometheus::ClientMetric& m = NewMetric(def, labels);
  if (def.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
}

void FamilySet::AddHistogram(const MetricDef& def, const MetricLabels& labels,
                             absl::Span<const double> bounds,
                             absl::Span<const uint64_t> bucket_counts, double sum) {
  assert(bucket_counts.size() == bounds.size() + 1);
  prometheus::ClientMetric& m = NewMetric(def, labels);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bucket_counts.size(); i++) {
    cumulative += bucket_counts[i];
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  // The count is the buckets' total, read in the same pass, so that the
  // +Inf bucket always equals it even while observations race the scrape.
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = sum;
}

}  // namespace wb::node
