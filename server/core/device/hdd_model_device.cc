#include "server/core/device/hdd_model_device.h"

#include <cmath>
#include <utility>

namespace wb {

HddModelDevice::HddModelDevice(Device* inner, HddModel model, uint64_t seed)
    : inner_(inner), model_(model), rng_(seed), spin_up_(absl::Now()) {
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

absl::Duration HddModelDevice::SeekTime(uint64_t from, uint64_t to) const {
  // Seek time grows with the square root of the distance: about 1 ms for a
  // short seek, 15 ms across the whole disk, 8.5 ms on average.
  double distance = std::abs(static_cast<double>(to) - static_cast<double>(from)) /
                    static_cast<double>(size());
  return model_.min_seek + (model_.full_stroke_seek - model_.min_seek) * std::sqrt(distance);
}

absl::Duration HddModelDevice::ServiceTime(const IoRequest& req, absl::Time now) {
  if (req.op == IoOp::kFlush || req.op == IoOp::kDiscard) return absl::ZeroDuration();
  absl::Duration t;
  if (req.offset != head_) {
    if (model_.rotation_mode == HddModel::Rotation::kRandom) {
      t += SeekTime(head_, req.offset);
      std::uniform_real_distribution<double> turn(0.0, 1.0);
      t += model_.rotation * turn(rng_);
    } else {
      // One track holds what passes under the head in one rotation.
      const double track_bytes =
          model_.bytes_per_second * absl::ToDoubleSeconds(model_.rotation);
      const auto track = [&](uint64_t off) {
        return static_cast<uint64_t>(static_cast<double>(off) / track_bytes);
      };
      if (track(req.offset) != track(head_)) t += SeekTime(head_, req.offset);
      // Wait for the target's angle to come under the head after the seek.
      const double rot = absl::ToDoubleSeconds(model_.rotation);
      const double turns_now = absl::ToDoubleSeconds(now + t - spin_up_) / rot;
      const double head_angle = turns_now - std::floor(turns_now);
      const double pos = static_cast<double>(req.offset) / track_bytes;
      const double target_angle = pos - std::floor(pos);
      double wait = target_angle - head_angle;
      if (wait < 0) wait += 1.0;
      t += model_.rotation * wait;
    }
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
    absl::Duration t = ServiceTime(p.req, absl::Now());
    absl::SleepFor(t);
    {
      absl::MutexLock l(&mu_);
      busy_ += t;
    }
    inner_->Submit(p.req, std::move(p.done));
  }
}

}  // namespace wb
