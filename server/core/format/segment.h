// Segment metadata: the header and entries at the head of every segment in
// the log ring. Layout and validity rules in docs/FORMAT.md.
#ifndef WRITEBOOST_CORE_FORMAT_SEGMENT_H_
#define WRITEBOOST_CORE_FORMAT_SEGMENT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/core/format/layout.h"
#include "server/core/util/uuid.h"

namespace wb {

inline constexpr uint16_t kSegmentStartsEpoch = 1;
// With kSegmentStartsEpoch: the epoch was cut without a Flush (length cap,
// age, ring space, drain), so writeback may merge it with the one before.
// Images written before this bit existed never set it: every epoch start
// there counts as a Flush boundary.
inline constexpr uint16_t kSegmentInternalCut = 2;

struct SegmentEntry {
  uint64_t origin_block = 0;
  uint8_t mask = 0;  // bit i: sector i of the block is held
  EntryKind kind = EntryKind::kDirty;
  uint32_t data_crc = 0;
  uint32_t aux = 0;
};

struct SegmentHeader {
  uint64_t id = 0;
  Uuid uuid{};
  uint64_t durable_through = 0;
  uint64_t gen = 0;
  uint16_t flags = 0;
  uint32_t data_blocks = 0;  // derived from entries when encoding
  std::vector<SegmentEntry> entries;

  bool starts_epoch() const { return flags & kSegmentStartsEpoch; }
  // Starts an epoch at a Flush boundary: writeback flushes the origin
  // before it writes anything of this segment.
  bool flush_boundary() const {
    return starts_epoch() && !(flags & kSegmentInternalCut);
  }
  // Blocks the segment spans on the ring.
  uint64_t length(const Geometry& g) const { return g.meta_blocks + data_blocks; }
};

// Writes the meta_blocks * 4096 bytes of metadata for a segment holding
// `entries` into out. REQUIRES: entries.size() <= g.max_entries.
void EncodeSegmentMeta(uint64_t id, const Uuid& uuid, uint64_t durable_through,
                       uint64_t gen, uint16_t flags,
                       absl::Span<const SegmentEntry> entries,
                       const Geometry& g, char* out);

// Parses and validates meta_blocks * 4096 bytes of metadata: magic, crc,
// cache-set UUID, geometry, entry kinds (reserved ones refused), aux (a run
// inside the origin for ZERO/TRIM, zero otherwise), masks and origin range.
// Returns kDataLoss naming the first rule broken. Chain rules (expected id,
// generations) are the caller's (recovery).
absl::StatusOr<SegmentHeader> DecodeSegmentMeta(const char* meta,
                                                const Geometry& g,
                                                const Uuid& uuid);

// Reads just the id of a metadata block without validating anything, for
// messages about what a slot holds.
uint64_t PeekSegmentId(const char* meta);

}  // namespace wb

#endif  // WRITEBOOST_CORE_FORMAT_SEGMENT_H_
