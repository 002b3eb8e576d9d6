#include "server/core/format/superblock.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "server/core/format/layout.h"
#include "server/core/util/coding.h"
#include "server/core/util/crc32c.h"

namespace wb {

namespace {
// Member slots: 16 of 32 bytes from byte 224 (docs/FORMAT.md).
constexpr size_t kSlotOffset = 224;
constexpr size_t kSlotSize = 32;
constexpr size_t kSlotReserved = 24;  // bytes 24 … 31 of a slot
constexpr size_t kIdentityOffset = 96;
constexpr size_t kTailOffset = kSlotOffset + kMaxCacheDevices * kSlotSize;

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Every writer since version 1 zeroed these bytes, so a non-zero one means
// a writer this reader does not understand, never a torn write (the crc
// covers them).
absl::Status CheckReservedZero(const char* block, uint32_t nr_devices) {
  const char* id = block + kIdentityOffset;
  const size_t id_len = strnlen(id, kOriginIdentityMax);
  if (id_len == kOriginIdentityMax ||
      !AllZero(id + id_len, kOriginIdentityMax - id_len)) {
    return absl::FailedPreconditionError(
        "superblock origin identity is not NUL-padded");
  }
  for (uint32_t i = 0; i < kMaxCacheDevices; i++) {
    const char* slot = block + kSlotOffset + i * kSlotSize;
    const bool unused = i >= nr_devices;
    if (!AllZero(slot + kSlotReserved, kSlotSize - kSlotReserved) ||
        (unused && !AllZero(slot, kSlotSize))) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "superblock member slot %u has non-zero reserved bytes", i));
    }
  }
  if (!AllZero(block + kTailOffset, kBlockSize - kTailOffset)) {
    return absl::FailedPreconditionError(
        "superblock bytes 736 … 4095 are not zero");
  }
  return absl::OkStatus();
}
}  // namespace

void Superblock::EncodeTo(char* out) const {
  std::memset(out, 0, kBlockSize);
  PutFixed32(out + 0, kSuperblockMagic);
  PutFixed32(out + 8, version);
  PutFixed32(out + 12, kBlockSize);
  std::memcpy(out + 16, uuid.data(), 16);
  PutFixed32(out + 32, segment_size);
  PutFixed32(out + 36, kRingStartBlock);
  PutFixed64(out + 40, ring_blocks);
  PutFixed64(out + 48, origin_size);
  PutFixed64(out + 56, format_time);
  PutFixed32(out + 64, layout);
  PutFixed32(out + 68, nr_devices);
  PutFixed32(out + 72, device_index);
  PutFixed32(out + 76, device_generation);
  std::memcpy(out + 80, member_uuid.data(), 16);
  std::memcpy(out + kIdentityOffset, origin_identity.data(),
              std::min(origin_identity.size(), kOriginIdentityMax - 1));
  // Slots past the set's members stay zero, and a single device has none.
  const uint32_t used_slots =
      layout == kLayoutSingle ? 0 : std::min(nr_devices, kMaxCacheDevices);
  for (uint32_t i = 0; i < used_slots; i++) {
    char* slot = out + kSlotOffset + i * kSlotSize;
    std::memcpy(slot, slots[i].uuid.data(), 16);
    PutFixed32(slot + 16, slots[i].state);
    PutFixed32(slot + 20, slots[i].changed_generation);
  }
  PutFixed32(out + 4, Crc32c(out + 8, kBlockSize - 8));
}

absl::StatusOr<Superblock> Superblock::DecodeAnyLayout(const char* block) {
  if (GetFixed32(block) != kSuperblockMagic) {
    return absl::FailedPreconditionError(
        "not a writeboost cache (no superblock magic); format it first");
  }
  if (GetFixed32(block + 4) != Crc32c(block + 8, kBlockSize - 8)) {
    return absl::DataLossError("superblock checksum mismatch");
  }
  Superblock sb;
  sb.version = GetFixed32(block + 8);
  if (sb.version > kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cache format version %u is newer than this writeboost supports (%u); "
        "upgrade writeboost",
        sb.version, kFormatVersion));
  }
  if (sb.version == 0) {
    return absl::FailedPreconditionError("cache format version 0 is invalid");
  }
  if (GetFixed32(block + 12) != kBlockSize ||
      GetFixed32(block + 36) != kRingStartBlock) {
    return absl::FailedPreconditionError(
        "superblock geometry (block size or ring start) is not supported");
  }
  std::memcpy(sb.uuid.data(), block + 16, 16);
  sb.segment_size = GetFixed32(block + 32);
  sb.ring_blocks = GetFixed64(block + 40);
  sb.origin_size = GetFixed64(block + 48);
  sb.format_time = GetFixed64(block + 56);
  sb.layout = GetFixed32(block + 64);
  sb.nr_devices = GetFixed32(block + 68);
  sb.device_index = GetFixed32(block + 72);
  sb.device_generation = GetFixed32(block + 76);
  std::memcpy(sb.member_uuid.data(), block + 80, 16);
  sb.origin_identity.assign(block + kIdentityOffset,
                           strnlen(block + kIdentityOffset, kOriginIdentityMax));
  for (uint32_t i = 0; i < kMaxCacheDevices; i++) {
    const char* slot = block + kSlotOffset + i * kSlotSize;
    std::memcpy(sb.slots[i].uuid.data(), slot, 16);
    sb.slots[i].state = GetFixed32(slot + 16);
    sb.slots[i].changed_generation = GetFixed32(slot + 20);
  }
  const bool layout_ok =
      sb.layout == kLayoutSingle
          ? sb.nr_devices == 1
          : (sb.layout == kLayoutStripe || sb.layout == kLayoutMirror) &&
                sb.nr_devices >= kMinReadableSetDevices &&
                sb.nr_devices <= kMaxCacheDevices;
  if (!layout_ok || sb.device_index >= sb.nr_devices) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cache layout %u with %u devices (this one index %u) is not supported "
        "by this version",
        sb.layout, sb.nr_devices, sb.device_index));
  }
  if (sb.layout != kLayoutSingle) {
    for (uint32_t i = 0; i < kMaxCacheDevices; i++) {
      const uint32_t st = sb.slots[i].state;
      const bool want_used = i < sb.nr_devices;
      if ((st == kMemberAbsent) == want_used || st > kMemberFailed) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "superblock member slot %u has state %u, inconsistent with a set "
            "of %u devices",
            i, st, sb.nr_devices));
      }
    }
  } else if (sb.device_generation != 1 || sb.member_uuid != Uuid{} ||
             !AllZero(block + kSlotOffset, kMaxCacheDevices * kSlotSize)) {
    // Membership fields of a single device are fixed (docs/FORMAT.md).
    return absl::FailedPreconditionError(
        "single-device superblock has membership fields set (generation, "
        "member uuid or member slots)");
  }
  if (absl::Status s = CheckReservedZero(block, sb.nr_devices); !s.ok()) {
    return s;
  }
  return sb;
}

absl::StatusOr<Superblock> Superblock::Decode(const char* block) {
  absl::StatusOr<Superblock> sb = DecodeAnyLayout(block);
  if (!sb.ok()) return sb.status();
  if (sb->layout != kLayoutSingle) {
    // Opening one member alone would read a stripe's ring as if it were
    // whole, or a mirror member that the set may have declared stale.
    return absl::FailedPreconditionError(absl::StrFormat(
        "this device is member %u of a %u-device %s cache set; open it "
        "together with the other members (every member as a cache device)",
        sb->device_index, sb->nr_devices, LayoutName(sb->layout)));
  }
  return sb;
}

const char* LayoutName(uint32_t layout) {
  switch (layout) {
    case kLayoutSingle:
      return "single";
    case kLayoutStripe:
      return "stripe";
    case kLayoutMirror:
      return "mirror";
  }
  return "unknown";
}

}  // namespace wb
