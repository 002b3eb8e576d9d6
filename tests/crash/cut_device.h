// CutPointDevice: a forwarding Device that tells a listener about every
// write and flush just before it is submitted and just after it completes
// (before the volume sees the completion), so the harness can cut power at
// exactly those instants. A gate shared by the cache and origin wrappers of
// one machine lets a snapshot pause every submission, so that both images
// are taken at one instant.
#ifndef WRITEBOOST_TESTS_CRASH_CUT_DEVICE_H_
#define WRITEBOOST_TESTS_CRASH_CUT_DEVICE_H_

#include <atomic>
#include <string>

#include "absl/synchronization/mutex.h"
#include "server/core/device/device.h"

namespace wb::crash {

enum class Role { kCache, kOrigin };
enum class Phase { kBefore, kAfter };
// What a write touches on the cache (docs/FORMAT.md layout).
enum class Region {
  kNone, kSuperblock, kProgress, kRing, kReserved, kFill, kData
};

struct CutPoint {
  Role role;
  IoOp op;
  Phase phase;
  Region region;
};

// E.g. "cache.progress-write.before", "origin.flush.after".
std::string PointName(const CutPoint& p);

class CutListener {
 public:
  virtual ~CutListener() = default;
  // Runs on the thread that submits or completes the I/O, outside the gate.
  // May take a snapshot (IoGate::Pause); must not submit to the device.
  virtual void OnPoint(const CutPoint& p) = 0;
};

// Submissions hold it shared; a snapshot holds it exclusively. With devices
// that complete inline this freezes both devices; with async devices their
// completion threads still run, which the model's watermarks allow for.
class IoGate {
 public:
  absl::Mutex& mu() { return mu_; }

 private:
  absl::Mutex mu_;
};

class CutPointDevice final : public Device {
 public:
  // REQUIRES: inner and gate outlive this device.
  CutPointDevice(Device* inner, Role role, IoGate* gate)
      : inner_(inner), role_(role), gate_(gate) {}

  // listener may be null (no points reported); it may change at any time.
  void set_listener(CutListener* l) { listener_.store(l); }

  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override {
    return inner_->logical_block_size();
  }
  std::string name() const override { return inner_->name(); }
  bool supports_discard() const override { return inner_->supports_discard(); }
  bool discard_zeroes() const override { return inner_->discard_zeroes(); }
  void Submit(const IoRequest& req, IoCallback done) override;

 private:
  Region Classify(const IoRequest& req) const;
  void Notify(const CutPoint& p);

  Device* const inner_;
  const Role role_;
  IoGate* const gate_;
  std::atomic<CutListener*> listener_{nullptr};
};

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_CUT_DEVICE_H_
