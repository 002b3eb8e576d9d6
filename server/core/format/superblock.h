// The superblock (block 0 of every cache device): identity and geometry of a
// cache set, and the set's membership. Layout in docs/FORMAT.md.
#ifndef WRITEBOOST_CORE_FORMAT_SUPERBLOCK_H_
#define WRITEBOOST_CORE_FORMAT_SUPERBLOCK_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/util/uuid.h"

namespace wb {

// Superblock field 64: how the devices of a cache set are combined.
inline constexpr uint32_t kLayoutSingle = 0;
inline constexpr uint32_t kLayoutStripe = 1;
inline constexpr uint32_t kLayoutMirror = 2;
// A cache set is formatted with kMinCacheSetDevices … kMaxCacheDevices
// members. Readers also accept a set of one: formats before this rule could
// write one, and it is a working set of its layout.
inline constexpr uint32_t kMinCacheSetDevices = 2;
inline constexpr uint32_t kMinReadableSetDevices = 1;
inline constexpr uint32_t kMaxCacheDevices = 16;

// The state field of a member slot.
inline constexpr uint32_t kMemberAbsent = 0;  // slot unused
inline constexpr uint32_t kMemberInSync = 1;  // holds every write
inline constexpr uint32_t kMemberFailed = 2;  // never read from again

// One 32-byte member slot (bytes 224 + 32 × index).
struct MemberSlot {
  Uuid uuid{};                  // the member's own uuid
  uint32_t state = kMemberAbsent;
  uint32_t changed_generation = 0;  // membership generation of the last change
};

struct Superblock {
  uint32_t version = 0;
  Uuid uuid{};  // cache-set uuid
  uint32_t segment_size = 0;
  uint64_t ring_blocks = 0;  // of the whole (logical) cache set
  uint64_t origin_size = 0;
  uint64_t format_time = 0;
  uint32_t layout = kLayoutSingle;
  uint32_t nr_devices = 1;
  uint32_t device_index = 0;       // this device's slot
  uint32_t device_generation = 1;  // membership generation
  Uuid member_uuid{};              // this device's uuid (zero when single)
  std::string origin_identity;
  std::array<MemberSlot, kMaxCacheDevices> slots{};

  // Writes the 4096-byte block into out (zero-filling the rest).
  void EncodeTo(char* out) const;
  // Parses and checks a 4096-byte block of a single-device cache: magic,
  // crc, version, block size, ring start, membership fields and reserved
  // bytes (docs/FORMAT.md, recovery rule 1). kFailedPrecondition for "not a
  // writeboost cache", version 0 or a newer one, a field this version does
  // not write, or a member of a multi-device set (which only a CacheSet may
  // open); kDataLoss for a checksum mismatch.
  static absl::StatusOr<Superblock> Decode(const char* block);
  // As Decode, but accepts every layout (for CacheSet), checking the
  // membership fields for consistency.
  static absl::StatusOr<Superblock> DecodeAnyLayout(const char* block);
};

// "single", "stripe", "mirror" (or "unknown").
const char* LayoutName(uint32_t layout);

}  // namespace wb

#endif  // WRITEBOOST_CORE_FORMAT_SUPERBLOCK_H_
