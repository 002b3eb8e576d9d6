#include "server/core/format/segment.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "server/core/util/coding.h"
#include "server/core/util/crc32c.h"

namespace wb {

static void EncodeEntry(const SegmentEntry& e, char* p) {
  uint64_t word = e.origin_block | (uint64_t{e.mask} << 48) |
                  (uint64_t{static_cast<uint8_t>(e.kind)} << 56);
  PutFixed64(p, word);
  PutFixed32(p + 8, e.data_crc);
  PutFixed32(p + 12, e.aux);
}

void EncodeSegmentMeta(uint64_t id, const Uuid& uuid, uint64_t durable_through,
                       uint64_t gen, uint16_t flags,
                       absl::Span<const SegmentEntry> entries,
                       const Geometry& g, char* out) {
  std::memset(out, 0, size_t{g.meta_blocks} * kBlockSize);
  uint32_t data_blocks = 0;
  for (const auto& e : entries) data_blocks += EntryKindHasData(e.kind);
  PutFixed32(out + 0, kSegmentMagic);
  PutFixed64(out + 8, id);
  std::memcpy(out + 16, uuid.data(), 16);
  PutFixed64(out + 32, durable_through);
  PutFixed64(out + 40, gen);
  PutFixed32(out + 48, static_cast<uint32_t>(entries.size()));
  PutFixed16(out + 52, flags);
  PutFixed16(out + 54, static_cast<uint16_t>(g.meta_blocks));
  PutFixed32(out + 56, data_blocks);
  char* p = out + kSegmentHeaderSize;
  for (const auto& e : entries) {
    EncodeEntry(e, p);
    p += kEntrySize;
  }
  size_t covered = kSegmentHeaderSize - 8 + entries.size() * kEntrySize;
  PutFixed32(out + 4, Crc32c(out + 8, covered));
}

uint64_t PeekSegmentId(const char* meta) { return GetFixed64(meta + 8); }

absl::StatusOr<SegmentHeader> DecodeSegmentMeta(const char* meta,
                                                const Geometry& g,
                                                const Uuid& uuid) {
  if (GetFixed32(meta) != kSegmentMagic) {
    return absl::DataLossError("no segment magic");
  }
  uint32_t count = GetFixed32(meta + 48);
  if (count > g.max_entries) {
    return absl::DataLossError(absl::StrFormat(
        "entry count %u exceeds the maximum %u", count, g.max_entries));
  }
  size_t covered = kSegmentHeaderSize - 8 + size_t{count} * kEntrySize;
  if (GetFixed32(meta + 4) != Crc32c(meta + 8, covered)) {
    return absl::DataLossError("segment metadata checksum mismatch");
  }
  if (std::memcmp(meta + 16, uuid.data(), 16) != 0) {
    return absl::DataLossError("segment belongs to another cache set");
  }
  if (GetFixed16(meta + 54) != g.meta_blocks) {
    return absl::DataLossError("segment meta_blocks does not match geometry");
  }
  // Every writer zeroed these and the checksum covers them: anything else
  // was not written by this format.
  if (GetFixed32(meta + 60) != 0) {
    return absl::DataLossError("segment header bytes 60-63 are reserved and not zero");
  }
  SegmentHeader h;
  h.id = GetFixed64(meta + 8);
  h.uuid = uuid;
  h.durable_through = GetFixed64(meta + 32);
  h.gen = GetFixed64(meta + 40);
  h.flags = GetFixed16(meta + 52);
  h.data_blocks = GetFixed32(meta + 56);
  if (h.durable_through >= h.id) {
    return absl::DataLossError("segment durable_through is not below its id");
  }
  h.entries.resize(count);
  uint32_t data_blocks = 0;
  const char* p = meta + kSegmentHeaderSize;
  for (uint32_t i = 0; i < count; i++, p += kEntrySize) {
    uint64_t word = GetFixed64(p);
    SegmentEntry& e = h.entries[i];
    e.origin_block = word & kMaxOriginBlock;
    e.mask = static_cast<uint8_t>(word >> 48);
    uint8_t kind = static_cast<uint8_t>(word >> 56);
    e.data_crc = GetFixed32(p + 8);
    e.aux = GetFixed32(p + 12);
    if (!EntryKindKnown(kind)) {
      return absl::DataLossError(
          absl::StrFormat("entry %u has unknown kind %u", i, kind));
    }
    e.kind = static_cast<EntryKind>(kind);
    // LAYOUT is reserved: no writer emits it, and nothing may act on it.
    if (e.kind == EntryKind::kLayout) {
      return absl::DataLossError(
          absl::StrFormat("entry %u has the reserved kind %u", i, kind));
    }
    if (e.origin_block >= g.origin_blocks) {
      return absl::DataLossError(absl::StrFormat(
          "entry %u addresses block %u beyond the origin's %u blocks", i,
          e.origin_block, g.origin_blocks));
    }
    if ((e.kind == EntryKind::kZero || e.kind == EntryKind::kTrim) &&
        (e.aux == 0 || e.aux > g.origin_blocks - e.origin_block)) {
      return absl::DataLossError(absl::StrFormat(
          "entry %u: a run of %u blocks from block %u does not fit the origin", i,
          e.aux, e.origin_block));
    }
    if (e.kind != EntryKind::kZero && e.kind != EntryKind::kTrim && e.aux != 0) {
      return absl::DataLossError(absl::StrFormat(
          "entry %u of kind %u has a non-zero aux %u", i, kind, e.aux));
    }
    if (e.mask == 0 || (e.mask & ~g.ValidSectorMask(e.origin_block)) != 0) {
      return absl::DataLossError(
          absl::StrFormat("entry %u has an invalid sector mask 0x%02x", i, e.mask));
    }
    data_blocks += EntryKindHasData(e.kind);
  }
  if (data_blocks != h.data_blocks || data_blocks > g.max_data_blocks) {
    return absl::DataLossError("segment data_blocks does not match its entries");
  }
  return h;
}

}  // namespace wb
