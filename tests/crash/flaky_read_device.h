// FlakyReadDevice: fails, at random, reads longer than a threshold, but
// never two in a row, so that a retry always succeeds. On the cache of a
// crash rig with the threshold above one block, only writeback's segment
// reads qualify: the read path reads metadata and single blocks. Every
// failure is counted, so the run can check that the volume counted each one
// as a cache error, not an origin error.
#ifndef WRITEBOOST_TESTS_CRASH_FLAKY_READ_DEVICE_H_
#define WRITEBOOST_TESTS_CRASH_FLAKY_READ_DEVICE_H_

#include <atomic>
#include <random>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "server/core/device/device.h"

namespace wb::crash {

class FlakyReadDevice final : public Device {
 public:
  // REQUIRES: inner outlives this device.
  FlakyReadDevice(Device* inner, double probability, uint64_t min_length,
                  uint64_t seed)
      : inner_(inner), p_(probability), min_length_(min_length), rng_(seed) {}

  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override {
    return inner_->logical_block_size();
  }
  std::string name() const override { return inner_->name(); }
  bool supports_discard() const override { return inner_->supports_discard(); }
  bool discard_zeroes() const override { return inner_->discard_zeroes(); }

  void Submit(const IoRequest& req, IoCallback done) override {
    if (armed_.load() && req.op == IoOp::kRead && req.length > min_length_ &&
        Roll()) {
      injected_++;
      std::move(done)(absl::UnavailableError("injected cache read error"));
      return;
    }
    inner_->Submit(req, std::move(done));
  }

  // Off until armed: recovery at open reads whole segments too.
  void Arm() { armed_ = true; }
  uint64_t injected() const { return injected_.load(); }

 private:
  bool Roll() {
    absl::MutexLock l(&mu_);
    const bool fail =
        !failed_last_ && std::uniform_real_distribution<double>(0, 1)(rng_) < p_;
    failed_last_ = fail;
    return fail;
  }

  Device* const inner_;
  const double p_;
  const uint64_t min_length_;
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  bool failed_last_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> armed_{false};
  std::atomic<uint64_t> injected_{0};
};

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_FLAKY_READ_DEVICE_H_
