#include "server/core/format/layout.h"

#include <bit>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace wb {

absl::StatusOr<Geometry> Geometry::Make(uint32_t segment_size,
                                        uint64_t cache_size,
                                        uint64_t origin_size) {
  if (segment_size < kMinSegmentSize || segment_size > kMaxSegmentSize ||
      !std::has_single_bit(segment_size)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "segment size %u is invalid: it must be a power of two from %u to %u "
        "bytes",
        segment_size, kMinSegmentSize, kMaxSegmentSize));
  }
  if (origin_size == 0 || origin_size % 512 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "origin size %u is invalid: it must be a non-zero multiple of 512",
        origin_size));
  }
  Geometry g;
  g.segment_size = segment_size;
  g.seg_blocks = segment_size / kBlockSize;
  uint32_t m = 1;
  while (kSegmentHeaderSize + uint64_t{g.seg_blocks - m} * kEntrySize >
         uint64_t{m} * kBlockSize) {
    m++;
  }
  g.meta_blocks = m;
  g.max_data_blocks = g.seg_blocks - m;
  g.max_entries = (m * kBlockSize - kSegmentHeaderSize) / kEntrySize;
  uint64_t cache_blocks = cache_size / kBlockSize;
  // Room for at least four full segments, so that writeback always has a
  // segment to free while new ones are written.
  uint64_t min_blocks = kRingStartBlock + 4 * uint64_t{g.seg_blocks};
  if (cache_blocks < min_blocks) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cache of %u bytes is too small: segments of %u bytes need at least "
        "%u bytes",
        cache_size, segment_size, min_blocks * kBlockSize));
  }
  g.ring_blocks = cache_blocks - kRingStartBlock;
  g.origin_size = origin_size;
  g.origin_blocks = (origin_size + kBlockSize - 1) / kBlockSize;
  if (g.origin_blocks - 1 > kMaxOriginBlock) {
    return absl::InvalidArgumentError("origin is larger than 2^48 blocks");
  }
  return g;
}

uint8_t Geometry::ValidSectorMask(uint64_t block) const {
  if (block + 1 < origin_blocks) return 0xff;
  uint64_t tail_sectors = (origin_size % kBlockSize) / 512;
  if (tail_sectors == 0) return 0xff;
  return static_cast<uint8_t>((1u << tail_sectors) - 1);
}

}  // namespace wb
