// Helpers for I/O that does not meet the Device rules by itself: buffers
// that are not aligned to kIoAlignment, and ranges that are 512-aligned but
// not aligned to the device's logical block size (4 KiB-sector devices).
#ifndef WRITEBOOST_CORE_DEVICE_ALIGNED_IO_H_
#define WRITEBOOST_CORE_DEVICE_ALIGNED_IO_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "server/core/device/device.h"

namespace wb {

// An owned buffer aligned to kIoAlignment, zero-filled on construction.
// Movable, not copyable. A moved-from buffer is empty (data() == nullptr).
// Not thread-safe; share it only by the usual happens-before rules.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // Allocates size bytes (the allocation is rounded up to kIoAlignment, the
  // extra bytes are zero too). Allocation failure behaves as new does.
  explicit AlignedBuffer(size_t size);
  ~AlignedBuffer();

  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void Free();

  char* data_ = nullptr;
  size_t size_ = 0;
};

// Whether p is aligned to kIoAlignment.
inline bool IsIoAligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % kIoAlignment == 0;
}

// Reads [offset, offset + len) of dev into out, which may have any
// alignment. Rounds the range out to dev.logical_block_size() and bounces
// through an aligned buffer when needed (in chunks, so memory stays small).
// REQUIRES nothing of out beyond len writable bytes.
// Errors: kInvalidArgument if offset or len is not a multiple of 512;
// kOutOfRange past the end; otherwise the device's error.
absl::Status ReadAny(Device& dev, uint64_t offset, void* out, uint64_t len);

// Writes data[0, len) at offset. Direct when the range is aligned to the
// logical block size (bouncing only an unaligned buffer); otherwise the
// partial edge blocks are read, patched and rewritten (read-modify-write).
// REQUIRES: no concurrent write touches the same logical blocks: the edge
// read-modify-write is not atomic.
// Errors: as ReadAny. On error some blocks may have been written.
absl::Status WriteSectors(Device& dev, uint64_t offset, const void* data,
                          uint64_t len);

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_ALIGNED_IO_H_
