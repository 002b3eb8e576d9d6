// The shared parts of every Device: op names, request validation and the
// synchronous conveniences built on Submit().
#include "server/core/device/device.h"

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"

namespace wb {

const char* IoOpName(IoOp op) {
  switch (op) {
    case IoOp::kRead:
      return "read";
    case IoOp::kWrite:
      return "write";
    case IoOp::kFlush:
      return "flush";
    case IoOp::kDiscard:
      return "discard";
  }
  return "unknown";
}

absl::Status ValidateRequest(const Device& dev, const IoRequest& req) {
  switch (req.op) {
    case IoOp::kFlush:
      return absl::OkStatus();
    case IoOp::kRead:
    case IoOp::kWrite:
    case IoOp::kDiscard:
      break;
    default:
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: unknown I/O op %d", dev.name(), static_cast<int>(req.op)));
  }
  const uint64_t lbs = dev.logical_block_size();
  if (req.offset % lbs != 0 || req.length % lbs != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %s at offset %d length %d is not aligned to the logical block "
        "size %d",
        dev.name(), IoOpName(req.op), req.offset, req.length, lbs));
  }
  const uint64_t size = dev.size();
  // Written so that offset + length cannot overflow.
  if (req.offset > size || req.length > size - req.offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s: %s at offset %d length %d is beyond the device size %d",
        dev.name(), IoOpName(req.op), req.offset, req.length, size));
  }
  if (req.op == IoOp::kDiscard) return absl::OkStatus();
  if (req.buf == nullptr && req.length > 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %s at offset %d length %d has no buffer",
                        dev.name(), IoOpName(req.op), req.offset, req.length));
  }
  // The contract in device.h; O_DIRECT needs it for real, and checking it on
  // every device (MemDevice included) catches a stray buffer in unit tests
  // instead of on the first real disk.
  if (reinterpret_cast<uintptr_t>(req.buf) % kIoAlignment != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %s buffer %p is not aligned to %d bytes (use aligned_io.h)",
        dev.name(), IoOpName(req.op), req.buf, kIoAlignment));
  }
  return absl::OkStatus();
}

namespace {

// Submits req and blocks until its callback has run.
absl::Status SubmitAndWait(Device& dev, const IoRequest& req) {
  absl::Notification done;
  absl::Status result;
  dev.Submit(req, [&done, &result](absl::Status s) {
    result = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

}  // namespace

absl::Status Device::Read(uint64_t offset, void* buf, uint64_t length) {
  IoRequest req;
  req.op = IoOp::kRead;
  req.offset = offset;
  req.length = length;
  req.buf = buf;
  return SubmitAndWait(*this, req);
}

absl::Status Device::Write(uint64_t offset, const void* buf, uint64_t length) {
  IoRequest req;
  req.op = IoOp::kWrite;
  req.offset = offset;
  req.length = length;
  // IoRequest has one buffer field for both directions; a write never
  // stores through it.
  req.buf = const_cast<void*>(buf);
  return SubmitAndWait(*this, req);
}

absl::Status Device::Flush() {
  IoRequest req;
  req.op = IoOp::kFlush;
  return SubmitAndWait(*this, req);
}

absl::Status Device::Discard(uint64_t offset, uint64_t length) {
  IoRequest req;
  req.op = IoOp::kDiscard;
  req.offset = offset;
  req.length = length;
  return SubmitAndWait(*this, req);
}

}  // namespace wb
