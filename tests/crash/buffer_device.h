// BufferDevice: a Device over a caller-owned std::string. The crash
// harness recovers from a cut's images in place and the fuzz target reuses
// one buffer for every input: fresh megabytes per check (copies and page
// faults) cost more than the check itself. Inline completion; Flush does
// nothing.
#ifndef WRITEBOOST_TESTS_CRASH_BUFFER_DEVICE_H_
#define WRITEBOOST_TESTS_CRASH_BUFFER_DEVICE_H_

#include <cstring>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "server/core/device/device.h"

namespace wb::crash {

class BufferDevice final : public Device {
 public:
  // REQUIRES: *buf outlives the device and keeps its size, a multiple of
  // logical_block_size (512 or 4096).
  BufferDevice(std::string* buf, std::string name,
               uint32_t logical_block_size = 512)
      : buf_(buf), name_(std::move(name)), lbs_(logical_block_size) {}

  uint64_t size() const override { return buf_->size(); }
  uint32_t logical_block_size() const override { return lbs_; }
  std::string name() const override { return name_; }

  void Submit(const IoRequest& req, IoCallback done) override {
    absl::Status s = ValidateRequest(*this, req);
    if (s.ok()) {
      absl::MutexLock l(&mu_);
      if (req.op == IoOp::kRead) {
        std::memcpy(req.buf, buf_->data() + req.offset, req.length);
      } else if (req.op == IoOp::kWrite) {
        std::memcpy(buf_->data() + req.offset, req.buf, req.length);
      }
    }
    std::move(done)(std::move(s));
  }

 private:
  std::string* const buf_;
  const std::string name_;
  const uint32_t lbs_;
  absl::Mutex mu_;
};

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_BUFFER_DEVICE_H_
