#include "tests/fuzz/fuzz_image.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "server/core/util/coding.h"
#include "server/core/util/crc32c.h"

namespace wb::fuzz {

namespace {

constexpr size_t kBlock = 4096;

// Image offset of encoded block b (0-2: head blocks; 3 on: the ring).
uint64_t BlockOffset(uint64_t b) {
  return (b < 3 ? b : kRingStart + (b - 3)) * kBlock;
}

// Metadata blocks of a segment, by the superblock's segment size when it
// is a valid one (FORMAT.md, "Segments"), else 1.
uint32_t MetaBlocks(const std::string& image) {
  uint32_t size = GetFixed32(image.data() + 32);
  if (size < (64u << 10) || size > (4u << 20) || !std::has_single_bit(size)) {
    return 1;
  }
  uint32_t seg_blocks = size / kBlock;
  uint32_t m = 1;
  while (64 + uint64_t{seg_blocks - m} * 16 > uint64_t{m} * kBlock) m++;
  return m;
}

void FixBlockCrc(char* block) {
  PutFixed32(block + 4, Crc32c(block + 8, kBlock - 8));
}

// Rewrites the checksums of every ring block that carries the segment
// magic, as if it were the header of a segment.
void FixSegments(std::string* image, bool data) {
  const uint32_t meta = MetaBlocks(*image);
  const uint32_t max_entries = (meta * kBlock - 64) / 16;
  char* ring = image->data() + kRingStart * kBlock;
  for (uint64_t r = 0; r + meta <= kRingBlocks; r++) {
    char* h = ring + r * kBlock;
    if (GetFixed32(h) != 0x47534257) continue;
    uint32_t count = GetFixed32(h + 48);
    if (count > max_entries) continue;
    if (data) {
      uint64_t next_data = r + meta;
      for (uint32_t i = 0; i < count; i++) {
        char* e = h + 64 + uint64_t{i} * 16;
        uint8_t kind = static_cast<uint8_t>(e[7]);
        if (kind != 1 && kind != 2) continue;  // kinds without data
        if (next_data < kRingBlocks) {
          PutFixed32(e + 8, Crc32c(ring + next_data * kBlock, kBlock));
        }
        next_data++;
      }
    }
    PutFixed32(h + 4, Crc32c(h + 8, 56 + uint64_t{count} * 16));
  }
}

}  // namespace

uint8_t InputFlags(const uint8_t* data, size_t size) {
  return size == 0 ? 0 : data[0];
}

void DecodeImage(const uint8_t* data, size_t size, std::string* image) {
  image->resize(kCacheSize);
  std::memset(image->data(), 0, kCacheSize);
  const uint8_t flags = InputFlags(data, size);
  size_t at = size == 0 ? 0 : 1;
  while (at + 4 <= size) {
    uint64_t b = (data[at] | (data[at + 1] << 8)) % kImageBlocks;
    uint16_t word = static_cast<uint16_t>(data[at + 2] | (data[at + 3] << 8));
    at += 4;
    size_t len = std::min<size_t>({word & 0x1fffu, kBlock, size - at});
    char* dst = image->data() + BlockOffset(b);
    std::memset(dst, 0, kBlock);
    if ((word & kRepeat) && len > 0) {
      for (size_t i = 0; i < kBlock; i += len) {
        std::memcpy(dst + i, data + at, std::min(len, kBlock - i));
      }
    } else {
      std::memcpy(dst, data + at, len);
    }
    at += len;
  }
  if (flags & kFixSuperblockCrc) FixBlockCrc(image->data());
  if (flags & kFixProgressCrc) {
    FixBlockCrc(image->data() + kBlock);
    FixBlockCrc(image->data() + 2 * kBlock);
  }
  if (flags & (kFixSegmentCrc | kFixDataCrc)) {
    FixSegments(image, (flags & kFixDataCrc) != 0);
  }
}

std::string EncodeImage(const std::string& image, uint8_t flags) {
  std::string out(1, static_cast<char>(flags));
  for (uint64_t b = 0; b < kImageBlocks; b++) {
    const char* p = image.data() + BlockOffset(b);
    size_t last = kBlock;
    while (last > 0 && p[last - 1] == 0) last--;
    if (last == 0) continue;
    // The shortest period the block repeats with, if any.
    size_t period = 1;
    for (; period < kBlock; period *= 2) {
      bool repeats = true;
      for (size_t i = period; i < kBlock && repeats; i += period) {
        repeats = std::memcmp(p, p + i, period) == 0;
      }
      if (repeats) break;
    }
    bool repeat = period < last;
    uint16_t len = static_cast<uint16_t>(repeat ? period : last);
    uint16_t word = len | (repeat ? kRepeat : 0);
    out.push_back(static_cast<char>(b & 0xff));
    out.push_back(static_cast<char>(b >> 8));
    out.push_back(static_cast<char>(word & 0xff));
    out.push_back(static_cast<char>(word >> 8));
    out.append(p, len);
  }
  return out;
}

std::string OriginImage() {
  std::string origin(kOriginSize, '\0');
  for (uint64_t s = 0; s < kOriginSize / 512; s++) {
    for (uint64_t w = 0; w < 512 / 8; w++) {
      PutFixed64(origin.data() + s * 512 + w * 8,
                 0x6f72000000000000ull | (s << 8) | w);
    }
  }
  return origin;
}

}  // namespace wb::fuzz
