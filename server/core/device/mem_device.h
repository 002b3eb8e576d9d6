// MemDevice: a Device held in memory. Every I/O completes inline in
// Submit(); Flush does nothing, since memory is as durable as it gets here.
#ifndef WRITEBOOST_CORE_DEVICE_MEM_DEVICE_H_
#define WRITEBOOST_CORE_DEVICE_MEM_DEVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "server/core/device/device.h"

namespace wb {

// Thread-safe: any number of threads may Submit() concurrently; reads share
// a reader lock, writes and discards take it exclusively.
class MemDevice final : public Device {
 public:
  // A zero-filled device of size bytes.
  // REQUIRES: size is a multiple of logical_block_size, which is 512 or 4096.
  explicit MemDevice(uint64_t size, uint32_t logical_block_size = 512,
                     std::string name = "mem");

  // A device whose contents are image (for example an Image() taken
  // earlier, or a CrashDevice::PowerCutImage()).
  // REQUIRES: image.size() is a multiple of logical_block_size.
  static std::unique_ptr<MemDevice> FromImage(std::string image,
                                              uint32_t logical_block_size = 512,
                                              std::string name = "mem");

  uint64_t size() const override { return size_; }
  uint32_t logical_block_size() const override { return lbs_; }
  std::string name() const override { return name_; }
  // Discard zeroes the range.
  bool supports_discard() const override { return true; }
  bool discard_zeroes() const override { return true; }

  void Submit(const IoRequest& req, IoCallback done) override;

  // A copy of the whole contents.
  std::string Image() const;

 private:
  struct FromImageTag {};
  MemDevice(FromImageTag, std::string image, uint32_t logical_block_size,
            std::string name);

  const uint64_t size_;
  const uint32_t lbs_;
  const std::string name_;

  mutable absl::Mutex mu_;
  std::string data_ ABSL_GUARDED_BY(mu_);  // size_ bytes.
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_MEM_DEVICE_H_
