// The block service's per-volume I/O metrics: a latency histogram, bytes
// and failures for each operation, recorded for every request the service
// runs (unary or on an Io stream, block_ops.cc) and read at scrape time.
//
//   writeboost_io_duration_seconds{volume,op}  histogram, every request
//   writeboost_io_bytes_total{volume,op}       payload of successful ones
//   writeboost_io_errors_total{volume,op}      requests that failed
//
// The recording path takes a reader lock of the volume map and adds to
// relaxed atomics, sharded by thread so that the stream workers of one
// volume do not all write the same cache lines; a scrape sums the shards
// without stopping I/O.
#ifndef WRITEBOOST_NODE_METRICS_IO_H_
#define WRITEBOOST_NODE_METRICS_IO_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace wb::node {

// The op label. FUA variants are their own ops: they wait for a group
// commit, so their latency is of another kind than a buffered write's.
enum class IoOp { kRead, kWrite, kWriteFua, kWriteZeroes, kWriteZeroesFua, kTrim, kFlush };
inline constexpr int kIoOpCount = 7;

// "read", "write", "write_fua", "write_zeroes", "write_zeroes_fua", "trim",
// "flush".
const char* IoOpName(IoOp op);

class IoMetrics : public prometheus::Collectable {
 public:
  // Upper bounds of the latency buckets, in seconds: 1 us to 10 s, three
  // per decade (a buffered write is acknowledged in about a microsecond, an
  // origin read on a disk takes milliseconds).
  static absl::Span<const double> BucketBounds();

  // `volumes` names the attached volumes at scrape time: each of them gets
  // series (zero before its first I/O), and counters of volumes no longer
  // listed are dropped. Called from scrape threads.
  explicit IoMetrics(std::function<std::vector<std::string>()> volumes);

  // Records one finished request. `bytes` counts only when ok. Thread-safe.
  void Record(const std::string& volume, IoOp op, uint64_t bytes, uint64_t nanos,
              bool ok);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  static constexpr int kBuckets = 22;  // BucketBounds().size()

  static constexpr int kShards = 8;

  struct alignas(64) OpCounters {
    std::array<std::atomic<uint64_t>, kBuckets + 1> buckets{};  // last: +Inf
    std::atomic<uint64_t> sum_nanos{0};
    std::atomic<uint64_t> bytes{0};
    std::atomic<uint64_t> errors{0};
  };
  using VolumeCounters = std::array<std::array<OpCounters, kIoOpCount>, kShards>;

  static void Add(OpCounters& c, uint64_t bytes, uint64_t nanos, bool ok);

  const std::function<std::vector<std::string>()> list_volumes_;
  // Recording holds the lock shared; a scrape holds it exclusively only to
  // add and drop volumes.
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, std::unique_ptr<VolumeCounters>> volumes_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_METRICS_IO_H_
