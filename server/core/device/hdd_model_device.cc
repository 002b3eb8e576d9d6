#include "server/core/device/hdd_model_device.h"

#include <cmath>
#include <utility>

namespace wb {

HddModelDevice::HddModelDevice(Device* inner, HddModel model, uint64_t seed)
    : inner_(inner), model_(model), rng_(seed) {
  worker_ = std::thread([this] { Run(); });
}

HddModelDevice::~HddModelDevice() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  worker_.join();
}

void HddModelDevice::Submit(const IoRequest& req, IoCallback done) {
  absl::MutexLock l(&mu_);
  queue_.push_back({req, std::move(done)});
}

absl::Duration HddModelDevice::ServiceTime(const IoRequest& req) {
  if (req.op == IoOp::kFlush || req.op == IoOp::kDiscard) return absl::ZeroDuration();
  absl::Duration t;
  if (req.offset != head_) {
    // Seek time grows with the square root of the distance: about 1 ms for
    // a short seek, 15 ms across the whole disk, 8.5 ms on average.
    double distance = std::abs(static_cast<double>(req.offset) - static_cast<double>(head_)) /
                      static_cast<double>(size());
    t += model_.min_seek + (model_.full_stroke_seek - model_.min_seek) * std::sqrt(distance);
    // Then wait for the sector to come round: uniform over one rotation.
    std::uniform_real_distribution<double> turn(0.0, 1.0);
    t += model_.rotation * turn(rng_);
  }
  t += absl::Seconds(static_cast<double>(req.length) / model_.bytes_per_second);
  head_ = req.offset + req.length;
  return t;
}

absl::Duration HddModelDevice::busy() const {
  absl::MutexLock l(&mu_);
  return busy_;
}

void HddModelDevice::Run() {
  while (true) {
    Pending p;
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    // One actuator: requests are served strictly one after another, in
    // arrival order (no reordering in the drive).
    absl::Duration t = ServiceTime(p.req);
    absl::SleepFor(t);
    {
      absl::MutexLock l(&mu_);
      busy_ += t;
    }
    inner_->Submit(p.req, std::move(p.done));
  }
}

}  // namespace wb
