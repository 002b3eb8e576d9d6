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
// cache-set UUID, geometry, entry kinds, masks and origin range. Returns
// kDataLoss naming the first rule broken. Chain rules (expected id,
// generations) are the caller's (recovery).
absl::StatusOr<SegmentHeader> DecodeSegmentMeta(const char* meta,
                                                const Geometry& g,
                                                const Uuid& uuid);

// Reads just the id of a metadata block without validating anything, for
// messages about what a slot holds.
uint64_t PeekSegmentId(const char* meta);

}  // namespace wb

#endif  // WRITEBOOST_CORE_FORMAT_SEGMENT_H_
