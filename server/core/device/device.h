// Device: the only way the core touches storage (cache devices and origins).
//
// Implementations:
//   FileDevice   files and block devices, O_DIRECT + io_uring (file_device.h)
//   MemDevice    in memory; Flush does nothing (mem_device.h)
//   CrashDevice  tracks writes no flush has covered; PowerCut() keeps an
//                arbitrary subset of them, torn at 512-byte sectors (crash_device.h)
//   FaultDevice  wrapper that injects errors by op and range (fault_device.h)
//
// Rules every implementation keeps:
// - offset and length of every I/O are multiples of logical_block_size(),
//   and buffers are aligned to kIoAlignment (4096). Callers use aligned_io.h
//   helpers to bounce anything else.
// - Submit() never blocks for the I/O itself and may be called from any
//   thread, concurrently. The callback runs exactly once, either inline in
//   Submit() or on a device-owned thread; it must not block for long and the
//   caller must not hold a lock that the callback takes when calling Submit().
// - A Flush covers the writes that had *completed* (callback run) before
//   the Flush was submitted; writes still in flight may land on either side.
// - Errors: absl::Status, never exceptions. IoError-like failures are
//   kUnavailable (transient is not distinguished); a bad range is kOutOfRange.
#ifndef WRITEBOOST_CORE_DEVICE_DEVICE_H_
#define WRITEBOOST_CORE_DEVICE_DEVICE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace wb {

inline constexpr size_t kSectorSize = 512;
inline constexpr size_t kIoAlignment = 4096;

enum class IoOp { kRead, kWrite, kFlush, kDiscard };

const char* IoOpName(IoOp op);

struct IoRequest {
  IoOp op = IoOp::kRead;
  uint64_t offset = 0;   // bytes; ignored for kFlush
  uint64_t length = 0;   // bytes; ignored for kFlush
  void* buf = nullptr;   // kRead/kWrite only; aligned, length bytes
};

using IoCallback = absl::AnyInvocable<void(absl::Status) &&>;

class Device {
 public:
  virtual ~Device() = default;

  // Size in bytes; a multiple of logical_block_size().
  virtual uint64_t size() const = 0;
  // 512 or 4096.
  virtual uint32_t logical_block_size() const = 0;
  // What the user named this device with, for messages.
  virtual std::string name() const = 0;
  // Whether kDiscard does anything; when false Discard completes OK at once.
  virtual bool supports_discard() const { return false; }
  // Whether discarded bytes then read back as zeroes (a hole punched in a
  // file does; a block device's or NBD server's discard need not).
  virtual bool discard_zeroes() const { return false; }

  // Starts req; done(status) runs exactly once when it has completed.
  // REQUIRES: req.buf stays valid until done runs.
  virtual void Submit(const IoRequest& req, IoCallback done) = 0;

  // Synchronous conveniences built on Submit().
  absl::Status Read(uint64_t offset, void* buf, uint64_t length);
  absl::Status Write(uint64_t offset, const void* buf, uint64_t length);
  absl::Status Flush();
  absl::Status Discard(uint64_t offset, uint64_t length);
};

// Checks req against the device's geometry: the shared part of every
// implementation's validation.
absl::Status ValidateRequest(const Device& dev, const IoRequest& req);

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_DEVICE_H_
