// FaultDevice: a Device wrapper that fails chosen I/Os, for testing error
// paths. A failed I/O never reaches the inner device (a failed write changes
// nothing); every other I/O is forwarded unchanged.
#ifndef WRITEBOOST_CORE_DEVICE_FAULT_DEVICE_H_
#define WRITEBOOST_CORE_DEVICE_FAULT_DEVICE_H_

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/core/device/device.h"

namespace wb {

// Which I/Os a rule matches.
enum class FaultOp { kRead, kWrite, kFlush, kDiscard, kAny };

struct FaultRule {
  FaultOp op = FaultOp::kAny;
  // Reads, writes and discards match when they overlap
  // [offset, offset + length). A flush has no range: it matches a kFlush
  // rule, and a kAny rule only if that rule covers the whole device (the
  // default range).
  uint64_t offset = 0;
  uint64_t length = std::numeric_limits<uint64_t>::max();
  // Transient: fail the next `count` matching I/Os, then the rule is gone.
  // Persistent: fail every matching I/O until ClearFaults().
  uint64_t count = 1;
  bool persistent = false;
  // What the failed I/O completes with.
  absl::Status status = absl::UnavailableError("injected I/O error");
};

// Thread-safe; rules may be added and cleared while I/O is running. A failed
// I/O completes inline in Submit().
class FaultDevice final : public Device {
 public:
  // Wraps inner without owning it. REQUIRES: inner outlives this device.
  explicit FaultDevice(Device* inner);
  // Wraps and owns inner.
  explicit FaultDevice(std::unique_ptr<Device> inner);

  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override {
    return inner_->logical_block_size();
  }
  std::string name() const override { return inner_->name(); }
  bool supports_discard() const override { return inner_->supports_discard(); }
  bool discard_zeroes() const override { return inner_->discard_zeroes(); }

  void Submit(const IoRequest& req, IoCallback done) override;

  // Adds a rule. When several rules match an I/O, the oldest one applies.
  void AddFault(FaultRule rule);
  // Shorthands: fail the next n matching I/Os; fail them until cleared.
  void FailNext(FaultOp op, uint64_t n = 1);
  void FailAlways(FaultOp op);
  // Removes every rule; counters are kept.
  void ClearFaults();

  // How many I/Os of op have been failed by a rule.
  uint64_t injected(IoOp op) const;
  uint64_t injected_total() const;

  Device* inner() const { return inner_; }

 private:
  // The status to fail req with, if some rule matches; consumes one use of
  // a transient rule.
  bool MatchLocked(const IoRequest& req, absl::Status* status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<Device> owned_;  // Null when not owned.
  Device* const inner_;

  mutable absl::Mutex mu_;
  std::vector<FaultRule> rules_ ABSL_GUARDED_BY(mu_);
  std::array<uint64_t, 4> injected_ ABSL_GUARDED_BY(mu_) = {};  // By IoOp.
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_FAULT_DEVICE_H_
