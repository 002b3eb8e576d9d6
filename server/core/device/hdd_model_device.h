// HddModelDevice: a wrapper that makes its inner device behave, in time, like
// one 7200 rpm disk: a single actuator serves requests one at a time, each
// paying a seek (by distance), a rotational delay and a transfer. Used by
// tests and benchmarks to show what sorting and merging buy.
//
// The parameters are fixed from a 7200 rpm datasheet before anything is
// tuned against them (docs/TESTING.md, "The HDD model"): 8.33 ms per
// rotation, average seek 8.5 ms, full stroke 15 ms, 200 MB/s sequential. A
// request that starts where the previous one ended pays neither seek nor
// rotation. There is no volatile write cache, so Flush costs nothing (a
// kinder model would hide the cost of random writes).
#ifndef WRITEBOOST_CORE_DEVICE_HDD_MODEL_DEVICE_H_
#define WRITEBOOST_CORE_DEVICE_HDD_MODEL_DEVICE_H_

#include <cstdint>
#include <deque>
#include <random>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/device/device.h"

namespace wb {

struct HddModel {
  absl::Duration rotation = absl::Microseconds(8333);  // 7200 rpm
  absl::Duration full_stroke_seek = absl::Milliseconds(15);
  absl::Duration min_seek = absl::Microseconds(1070);  // average 8.5 ms
  double bytes_per_second = 200e6;

  // How the wait for the target sector is charged.
  enum class Rotation {
    // The platter turns with the clock and every byte has an angle: a track
    // holds one rotation's worth of bytes at the sequential rate, so the
    // head waits until the target comes round, as on a real disk. A request
    // on the head's own track needs no seek.
    kPositional,
    // A uniform random fraction of a rotation (and at least the shortest
    // seek) for every request that does not continue the previous one.
    // Pessimistic: close ascending targets on one track cost as much as
    // random ones.
    kRandom,
  };
  Rotation rotation_mode = Rotation::kPositional;
};

class HddModelDevice final : public Device {
 public:
  // REQUIRES: inner outlives this device.
  HddModelDevice(Device* inner, HddModel model = {}, uint64_t seed = 1);
  ~HddModelDevice() override;

  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override { return inner_->logical_block_size(); }
  std::string name() const override { return "hdd-model(" + inner_->name() + ")"; }

  void Submit(const IoRequest& req, IoCallback done) override;

  // Total modelled busy time so far.
  absl::Duration busy() const;

 private:
  // Time the modelled head needs for req from where it is, starting at
  // `now`; moves the head.
  absl::Duration ServiceTime(const IoRequest& req, absl::Time now);
  absl::Duration SeekTime(uint64_t from, uint64_t to) const;
  struct Pending {
    IoRequest req;
    IoCallback done;
  };
  void Run();

  Device* const inner_;
  const HddModel model_;
  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration busy_ ABSL_GUARDED_BY(mu_);
  uint64_t head_ = 0;  // byte offset where the last request ended; Run() only
  std::mt19937_64 rng_;  // rotational positions (kRandom); Run() only
  const absl::Time spin_up_;  // the platter's angle is 0 at this instant
  std::thread worker_;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_HDD_MODEL_DEVICE_H_
