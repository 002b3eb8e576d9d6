// MemDevice: the device contents are one std::string under a reader/writer
// lock.
#include "server/core/device/mem_device.h"

#include <cassert>
#include <cstring>
#include <utility>

namespace wb {

MemDevice::MemDevice(uint64_t size, uint32_t logical_block_size,
                     std::string name)
    : MemDevice(FromImageTag{}, std::string(size, '\0'), logical_block_size,
                std::move(name)) {}

MemDevice::MemDevice(FromImageTag, std::string image,
                     uint32_t logical_block_size, std::string name)
    : size_(image.size()),
      lbs_(logical_block_size),
      name_(std::move(name)),
      data_(std::move(image)) {
  assert(lbs_ == 512 || lbs_ == 4096);
  assert(size_ % lbs_ == 0);
}

std::unique_ptr<MemDevice> MemDevice::FromImage(std::string image,
                                                uint32_t logical_block_size,
                                                std::string name) {
  // The constructor is private only to keep the (size) and (image) forms
  // apart; make_unique cannot reach it.
  return std::unique_ptr<MemDevice>(new MemDevice(
      FromImageTag{}, std::move(image), logical_block_size, std::move(name)));
}

void MemDevice::Submit(const IoRequest& req, IoCallback done) {
  absl::Status s = ValidateRequest(*this, req);
  if (s.ok()) {
    switch (req.op) {
      case IoOp::kRead: {
        absl::ReaderMutexLock l(&mu_);
        std::memcpy(req.buf, data_.data() + req.offset, req.length);
        break;
      }
      case IoOp::kWrite: {
        absl::MutexLock l(&mu_);
        std::memcpy(data_.data() + req.offset, req.buf, req.length);
        break;
      }
      case IoOp::kDiscard: {
        absl::MutexLock l(&mu_);
        std::memset(data_.data() + req.offset, 0, req.length);
        break;
      }
      case IoOp::kFlush:
        break;
    }
  }
  // Outside the lock: the callback may submit more I/O.
  std::move(done)(std::move(s));
}

std::string MemDevice::Image() const {
  absl::ReaderMutexLock l(&mu_);
  return data_;
}

}  // namespace wb
