// OriginPacer: how fast writeback may write to one volume's origin, and how
// the origin has been answering. A controller grant (docs/CONTROLLER.md)
// sets the pace; without one (no controller, or its lease lapsed) writes go
// unpaced and the core's own monitor decides when writeback runs.
//
// Only origin writes are paced: the node writes to the origin for writeback
// alone, so pacing them paces writeback and never a client. Reads (cache
// misses) are measured, never delayed.
#ifndef WRITEBOOST_NODE_ORIGIN_PACER_H_
#define WRITEBOOST_NODE_ORIGIN_PACER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wb::node {

// Upper bounds (seconds) of the latency histogram buckets; +Inf follows.
inline constexpr std::array<double, 14> kOriginLatencyBounds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1,     2.5,  5,     10};

class OriginPacer {
 public:
  // Origin I/O since the previous TakeWindow().
  struct Window {
    double seconds = 0;
    uint64_t ios = 0;         // reads and writes that completed
    double p50_ms = 0;        // of those; 0 when ios == 0
    double p99_ms = 0;
    uint64_t write_ios = 0;
    uint64_t write_bytes = 0;
  };
  // Cumulative since the volume opened, for the metrics.
  struct Histogram {
    std::array<uint64_t, kOriginLatencyBounds.size() + 1> buckets{};  // not cumulative
    uint64_t count = 0;
    double sum_seconds = 0;
  };

  OriginPacer();

  // Paces writes to bytes_per_second (> 0) and, when iops > 0, to iops.
  void SetGrant(double bytes_per_second, double iops);
  // Lets writes go unpaced, and wakes any write waiting for its turn.
  void SetUnlimited();
  // 0 when unpaced.
  double granted_bytes_per_second() const;
  // Whether a controller's lease covers this volume now (its grant may
  // still say "unlimited").
  void SetLeaseHeld(bool held) { lease_held_.store(held); }
  bool lease_held() const { return lease_held_.load(); }

  // Returns when a write of `bytes` may start under the grant. Never waits
  // when unpaced; a new grant or SetUnlimited() takes effect within 50 ms.
  void AcquireWrite(uint64_t bytes);

  // Records one completed origin I/O.
  void RecordIo(bool write, uint64_t bytes, absl::Duration latency);

  Window TakeWindow();
  Histogram Latency(bool write) const;

 private:
  // REQUIRES: mu_ held. Adds the tokens earned since the last refill.
  void Refill(absl::Time now);

  std::atomic<bool> lease_held_{false};
  mutable absl::Mutex mu_;
  bool paced_ ABSL_GUARDED_BY(mu_) = false;
  double rate_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  double rate_ios_ ABSL_GUARDED_BY(mu_) = 0;
  // May go negative: a write larger than the tokens at hand starts at once
  // and the next one waits off the debt, which keeps the pace exact.
  double tokens_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  double tokens_ios_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time refilled_at_ ABSL_GUARDED_BY(mu_);

  absl::Time window_start_ ABSL_GUARDED_BY(mu_);
  std::vector<float> window_ms_ ABSL_GUARDED_BY(mu_);  // sampled latencies
  uint64_t window_ios_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t window_write_ios_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t window_write_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sample_seed_ ABSL_GUARDED_BY(mu_) = 88172645463325252ull;

  Histogram reads_ ABSL_GUARDED_BY(mu_);
  Histogram writes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_ORIGIN_PACER_H_
