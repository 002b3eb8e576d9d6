// DeviceRef: a Device that forwards to another it does not own, so that a
// test or tool can hand a Volume "its" device and still reach the same one
// after the Volume is gone.
#ifndef WRITEBOOST_CORE_DEVICE_DEVICE_REF_H_
#define WRITEBOOST_CORE_DEVICE_DEVICE_REF_H_

#include <utility>

#include "server/core/device/device.h"

namespace wb {

class DeviceRef final : public Device {
 public:
  // REQUIRES: target outlives this object.
  explicit DeviceRef(Device* target) : target_(target) {}

  uint64_t size() const override { return target_->size(); }
  uint32_t logical_block_size() const override {
    return target_->logical_block_size();
  }
  std::string name() const override { return target_->name(); }
  bool supports_discard() const override { return target_->supports_discard(); }
  bool discard_zeroes() const override { return target_->discard_zeroes(); }
  void Submit(const IoRequest& req, IoCallback done) override {
    target_->Submit(req, std::move(done));
  }

 private:
  Device* const target_;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_DEVICE_REF_H_
