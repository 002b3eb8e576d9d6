// Constants and geometry of the on-disk format. docs/FORMAT.md is the
// specification; every number here must match it.
#ifndef WRITEBOOST_CORE_FORMAT_LAYOUT_H_
#define WRITEBOOST_CORE_FORMAT_LAYOUT_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace wb {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint32_t kBlockSize = 4096;
inline constexpr uint32_t kSectorsPerBlock = 8;
inline constexpr uint8_t kFullSectorMask = 0xFF;
inline constexpr uint64_t kSuperblockBlock = 0;
inline constexpr uint64_t kProgressBlock[2] = {1, 2};
inline constexpr uint64_t kRingStartBlock = 256;

inline constexpr uint32_t kSuperblockMagic = 0x42534257;  // "WBSB"
inline constexpr uint32_t kProgressMagic = 0x52504257;    // "WBPR"
inline constexpr uint32_t kSegmentMagic = 0x47534257;     // "WBSG"

inline constexpr uint32_t kSegmentHeaderSize = 64;
inline constexpr uint32_t kEntrySize = 16;
inline constexpr uint32_t kMinSegmentSize = 64 * 1024;
inline constexpr uint32_t kMaxSegmentSize = 4 * 1024 * 1024;
inline constexpr uint32_t kDefaultSegmentSize = 512 * 1024;
inline constexpr uint64_t kMaxOriginBlock = (uint64_t{1} << 48) - 1;
inline constexpr size_t kOriginIdentityMax = 128;

enum class EntryKind : uint8_t {
  kDirty = 1,
  kClean = 2,   // read cache: a clean copy, never written back
  kTrim = 3,    // a run of trimmed blocks (aux = length)
  kZero = 4,    // a run of zeroed blocks (aux = length)
  kLayout = 5,  // reserved: multi-device membership
};

inline bool EntryKindKnown(uint8_t k) { return k >= 1 && k <= 5; }
inline bool EntryKindHasData(EntryKind k) {
  return k == EntryKind::kDirty || k == EntryKind::kClean;
}

// Derived sizes of a formatted cache.
struct Geometry {
  uint32_t segment_size = kDefaultSegmentSize;  // bytes
  uint32_t seg_blocks = 0;       // segment_size / kBlockSize
  uint32_t meta_blocks = 0;      // metadata blocks at the head of a segment
  uint32_t max_data_blocks = 0;  // seg_blocks - meta_blocks
  uint32_t max_entries = 0;      // entries that fit in meta_blocks
  uint64_t ring_blocks = 0;      // blocks in the log ring
  uint64_t origin_size = 0;      // bytes
  uint64_t origin_blocks = 0;    // ceil(origin_size / kBlockSize)

  // Validates segment_size and sizes, and derives the rest.
  static absl::StatusOr<Geometry> Make(uint32_t segment_size,
                                       uint64_t cache_size,
                                       uint64_t origin_size);

  // Ring position of the segment after one at pos spanning len blocks.
  uint64_t NextPos(uint64_t pos, uint64_t len) const {
    uint64_t next = pos + len;
    return ring_blocks - next < seg_blocks ? 0 : next;
  }
  // Byte offset on the cache device of ring position pos.
  static uint64_t RingOffset(uint64_t pos) {
    return (kRingStartBlock + pos) * kBlockSize;
  }
  // Sectors of origin block b that exist (the last block may be partial).
  uint8_t ValidSectorMask(uint64_t block) const;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_FORMAT_LAYOUT_H_
