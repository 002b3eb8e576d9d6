#include "server/node/metrics_io.h"

#include <algorithm>

#include <prometheus/metric_family.h>

#include "server/node/metrics_families.h"

namespace wb::node {
namespace {

using prometheus::MetricType;

constexpr MetricDef kDuration = {
    "writeboost_io_duration_seconds", MetricType::Histogram,
    "Time the node took to run a block request (validation and the core's "
    "operation; not the network), by volume and op."};
constexpr MetricDef kBytes = {
    "writeboost_io_bytes_total", MetricType::Counter,
    "Bytes read, written, trimmed or zeroed by successful block requests."};
constexpr MetricDef kErrors = {
    "writeboost_io_errors_total", MetricType::Counter,
    "Block requests that failed (bad range, volume failed, device error)."};

constexpr std::array<double, 22> kBounds = {
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
    5e-3, 1e-2, 2.5e-2, 5e-2, 0.1,    0.25, 0.5,  1,      2.5,  5,    10};

// The bounds in nanoseconds, for the recording path's integer search.
constexpr std::array<uint64_t, 22> BoundsInNanos() {
  std::array<uint64_t, 22> out{};
  for (size_t i = 0; i < kBounds.size(); i++) {
    out[i] = static_cast<uint64_t>(kBounds[i] * 1e9 + 0.5);
  }
  return out;
}
constexpr std::array<uint64_t, 22> kBoundsNanos = BoundsInNanos();

}  // namespace

const char* IoOpName(IoOp op) {
  switch (op) {
    case IoOp::kRead: return "read";
    case IoOp::kWrite: return "write";
    case IoOp::kWriteFua: return "write_fua";
    case IoOp::kWriteZeroes: return "write_zeroes";
    case IoOp::kWriteZeroesFua: return "write_zeroes_fua";
    case IoOp::kTrim: return "trim";
    case IoOp::kFlush: return "flush";
  }
  return "unknown";
}

absl::Span<const double> IoMetrics::BucketBounds() { return kBounds; }

IoMetrics::IoMetrics(std::function<std::vector<std::string>()> volumes)
    : list_volumes_(std::move(volumes)) {
  static_assert(kBounds.size() == kBuckets);
}

namespace {

// This thread's shard: threads take shards in turn.
int ShardOfThisThread(int shards) {
  static std::atomic<int> next{0};
  thread_local int shard = next.fetch_add(1, std::memory_order_relaxed) % shards;
  return shard;
}

}  // namespace

void IoMetrics::Add(OpCounters& c, uint64_t bytes, uint64_t nanos, bool ok) {
  // Prometheus buckets are "le": a value equal to a bound belongs to it.
  size_t bucket = std::lower_bound(kBoundsNanos.begin(), kBoundsNanos.end(), nanos) -
                  kBoundsNanos.begin();
  c.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  c.sum_nanos.fetch_add(nanos, std::memory_order_relaxed);
  if (ok) {
    c.bytes.fetch_add(bytes, std::memory_order_relaxed);
  } else {
    c.errors.fetch_add(1, std::memory_order_relaxed);
  }
}

void IoMetrics::Record(const std::string& volume, IoOp op, uint64_t bytes,
                       uint64_t nanos, bool ok) {
  const int shard = ShardOfThisThread(kShards);
  {
    absl::ReaderMutexLock l(&mu_);
    auto it = volumes_.find(volume);
    if (it != volumes_.end()) {
      Add((*it->second)[shard][static_cast<int>(op)], bytes, nanos, ok);
      return;
    }
  }
  absl::MutexLock l(&mu_);
  std::unique_ptr<VolumeCounters>& c = volumes_[volume];
  if (c == nullptr) c = std::make_unique<VolumeCounters>();
  Add((*c)[shard][static_cast<int>(op)], bytes, nanos, ok);
}

std::vector<prometheus::MetricFamily> IoMetrics::Collect() const {
  std::vector<std::string> names = list_volumes_();
  std::sort(names.begin(), names.end());
  {
    // Counters for every attached volume, none for the others.
    absl::MutexLock l(&mu_);
    absl::flat_hash_map<std::string, std::unique_ptr<VolumeCounters>> kept;
    for (const std::string& name : names) {
      auto it = volumes_.find(name);
      kept[name] = it != volumes_.end() ? std::move(it->second)
                                         : std::make_unique<VolumeCounters>();
    }
    volumes_.swap(kept);
  }

  FamilySet out;
  absl::ReaderMutexLock l(&mu_);
  std::array<uint64_t, kBuckets + 1> counts;
  for (const std::string& name : names) {
    auto it = volumes_.find(name);
    if (it == volumes_.end()) continue;  // dropped by a concurrent scrape
    const VolumeCounters& v = *it->second;
    for (int i = 0; i < kIoOpCount; i++) {
      counts.fill(0);
      uint64_t sum_nanos = 0, bytes = 0, errors = 0;
      for (const auto& shard : v) {
        const OpCounters& c = shard[i];
        for (size_t b = 0; b < counts.size(); b++) {
          counts[b] += c.buckets[b].load(std::memory_order_relaxed);
        }
        sum_nanos += c.sum_nanos.load(std::memory_order_relaxed);
        bytes += c.bytes.load(std::memory_order_relaxed);
        errors += c.errors.load(std::memory_order_relaxed);
      }
      MetricLabels labels = {{"volume", name}, {"op", IoOpName(static_cast<IoOp>(i))}};
      out.AddHistogram(kDuration, labels, kBounds, counts, sum_nanos / 1e9);
      out.Add(kBytes, labels, static_cast<double>(bytes));
      out.Add(kErrors, labels, static_cast<double>(errors));
    }
  }
  return out.Take();
}

}  // namespace wb::node
