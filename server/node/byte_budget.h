// ByteBudget: a soft cap on bytes held in memory by requests in flight. A
// reader waits until the budget is below its limit before reading more, then
// charges what it read, so the cap is exceeded by at most one message per
// reader. Thread-safe.
#ifndef WRITEBOOST_NODE_BYTE_BUDGET_H_
#define WRITEBOOST_NODE_BYTE_BUDGET_H_

#include <cstdint>
#include <functional>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wb::node {

class ByteBudget {
 public:
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}

  // Waits until fewer than limit bytes are held, or cancelled() returns true
  // (polled every 100 ms). Returns false when cancelled.
  bool WaitForRoom(const std::function<bool()>& cancelled) {
    absl::MutexLock l(&mu_);
    while (used_ >= limit_) {
      if (cancelled()) return false;
      cv_.WaitWithTimeout(&mu_, absl::Milliseconds(100));
    }
    return true;
  }
  void Charge(uint64_t n) {
    absl::MutexLock l(&mu_);
    used_ += n;
  }
  void Release(uint64_t n) {
    absl::MutexLock l(&mu_);
    used_ -= n;
    if (used_ < limit_) cv_.SignalAll();
  }
  uint64_t used() const {
    absl::MutexLock l(&mu_);
    return used_;
  }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_BYTE_BUDGET_H_
