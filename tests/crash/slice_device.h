// SliceDevice: a window [offset, offset + size) of another device, so that
// one buffer holding several cache devices' images one after another (a
// cache set's snapshot) can be opened as those devices.
#ifndef WRITEBOOST_TESTS_CRASH_SLICE_DEVICE_H_
#define WRITEBOOST_TESTS_CRASH_SLICE_DEVICE_H_

#include <cstdint>
#include <string>
#include <utility>

#include "server/core/device/device.h"

namespace wb::crash {

class SliceDevice final : public Device {
 public:
  // REQUIRES: inner outlives this; the window lies inside inner and is
  // aligned to its logical block size.
  SliceDevice(Device* inner, uint64_t offset, uint64_t size, std::string name)
      : inner_(inner), offset_(offset), size_(size), name_(std::move(name)) {}

  uint64_t size() const override { return size_; }
  uint32_t logical_block_size() const override {
    return inner_->logical_block_size();
  }
  std::string name() const override { return name_; }
  void Submit(const IoRequest& req, IoCallback done) override {
    if (absl::Status s = ValidateRequest(*this, req); !s.ok()) {
      std::move(done)(std::move(s));
      return;
    }
    IoRequest moved = req;
    if (req.op != IoOp::kFlush) moved.offset += offset_;
    inner_->Submit(moved, std::move(done));
  }

 private:
  Device* const inner_;
  const uint64_t offset_;
  const uint64_t size_;
  const std::string name_;
};

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_SLICE_DEVICE_H_
