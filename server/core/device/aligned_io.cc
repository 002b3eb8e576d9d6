// Bounce buffers and read-modify-write for I/O that Device cannot take
// as it is.
#include "server/core/device/aligned_io.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_format.h"

namespace wb {
namespace {

// Bounce buffers never exceed this, however large the request; a multiple of
// every logical block size we support.
constexpr uint64_t kBounceChunk = 1 << 20;

uint64_t RoundDown(uint64_t x, uint64_t a) { return x - x % a; }
uint64_t RoundUp(uint64_t x, uint64_t a) { return RoundDown(x + a - 1, a); }

absl::Status CheckRange(const Device& dev, const char* what, uint64_t offset,
                        uint64_t len) {
  if (offset % kSectorSize != 0 || len % kSectorSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %s at offset %d length %d is not a multiple of %d bytes",
        dev.name(), what, offset, len, kSectorSize));
  }
  const uint64_t size = dev.size();
  if (offset > size || len > size - offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s: %s at offset %d length %d is beyond the device size %d",
        dev.name(), what, offset, len, size));
  }
  return absl::OkStatus();
}

// Rewrites the one logical block at block_off with data[0, n) placed at
// byte skip inside it.
absl::Status PatchBlock(Device& dev, AlignedBuffer& bounce, uint64_t block_off,
                        uint64_t skip, const char* data, uint64_t n) {
  const uint64_t lbs = dev.logical_block_size();
  absl::Status s = dev.Read(block_off, bounce.data(), lbs);
  if (!s.ok()) return s;
  std::memcpy(bounce.data() + skip, data, n);
  return dev.Write(block_off, bounce.data(), lbs);
}

}  // namespace

AlignedBuffer::AlignedBuffer(size_t size) : size_(size) {
  if (size == 0) return;
  // aligned_alloc wants the size to be a multiple of the alignment.
  const size_t alloc = RoundUp(size, kIoAlignment);
  data_ = static_cast<char*>(
      ::operator new (alloc, std::align_val_t{kIoAlignment}));
  std::memset(data_, 0, alloc);
}

void AlignedBuffer::Free() {
  if (data_ != nullptr)
    ::operator delete (data_, std::align_val_t{kIoAlignment});
  data_ = nullptr;
  size_ = 0;
}

AlignedBuffer::~AlignedBuffer() { Free(); }

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    Free();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

absl::Status ReadAny(Device& dev, uint64_t offset, void* out, uint64_t len) {
  absl::Status s = CheckRange(dev, "read", offset, len);
  if (!s.ok() || len == 0) return s;
  const uint64_t lbs = dev.logical_block_size();
  if (offset % lbs == 0 && len % lbs == 0 && IsIoAligned(out)) {
    return dev.Read(offset, out, len);
  }
  // The rounded range stays inside the device: its size is a multiple of lbs.
  const uint64_t start = RoundDown(offset, lbs);
  const uint64_t end = RoundUp(offset + len, lbs);
  AlignedBuffer bounce(std::min(end - start, kBounceChunk));
  char* dst = static_cast<char*>(out);
  for (uint64_t pos = start; pos < end;) {
    const uint64_t n = std::min(kBounceChunk, end - pos);
    s = dev.Read(pos, bounce.data(), n);
    if (!s.ok()) return s;
    // Copy the part of [pos, pos + n) that the caller asked for.
    const uint64_t from = std::max(pos, offset);
    const uint64_t to = std::min(pos + n, offset + len);
    std::memcpy(dst + (from - offset), bounce.data() + (from - pos), to - from);
    pos += n;
  }
  return absl::OkStatus();
}

absl::Status WriteSectors(Device& dev, uint64_t offset, const void* data,
                          uint64_t len) {
  absl::Status s = CheckRange(dev, "write", offset, len);
  if (!s.ok() || len == 0) return s;
  const uint64_t lbs = dev.logical_block_size();
  const char* src = static_cast<const char*>(data);
  const uint64_t end = offset + len;
  uint64_t pos = offset;
  AlignedBuffer bounce;

  // A head that starts inside a logical block (it may also end inside it).
  if (pos % lbs != 0) {
    const uint64_t block = RoundDown(pos, lbs);
    const uint64_t n = std::min(end, block + lbs) - pos;
    bounce = AlignedBuffer(lbs);
    s = PatchBlock(dev, bounce, block, pos - block, src, n);
    if (!s.ok()) return s;
    pos += n;
    src += n;
  }

  // Whole logical blocks.
  const uint64_t body_end = std::max(pos, RoundDown(end, lbs));
  if (body_end > pos && IsIoAligned(src)) {
    s = dev.Write(pos, src, body_end - pos);
    if (!s.ok()) return s;
    src += body_end - pos;
    pos = body_end;
  }
  if (body_end > pos) {
    bounce = AlignedBuffer(std::min(body_end - pos, kBounceChunk));
    while (pos < body_end) {
      const uint64_t n = std::min(kBounceChunk, body_end - pos);
      std::memcpy(bounce.data(), src, n);
      s = dev.Write(pos, bounce.data(), n);
      if (!s.ok()) return s;
      pos += n;
      src += n;
    }
  }

  // A tail that ends inside a logical block.
  if (pos < end) {
    if (bounce.size() < lbs) bounce = AlignedBuffer(lbs);
    s = PatchBlock(dev, bounce, pos, 0, src, end - pos);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace wb
