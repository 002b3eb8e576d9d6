#include "server/core/format/superblock.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "server/core/format/layout.h"
#include "server/core/util/coding.h"
#include "server/core/util/crc32c.h"

namespace wb {

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
  std::memcpy(out + 96, origin_identity.data(),
              std::min(origin_identity.size(), kOriginIdentityMax - 1));
  PutFixed32(out + 4, Crc32c(out + 8, kBlockSize - 8));
}

absl::StatusOr<Superblock> Superblock::Decode(const char* block) {
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
  sb.origin_identity.assign(block + 96, strnlen(block + 96, kOriginIdentityMax));
  if (sb.layout != 0 || sb.nr_devices != 1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cache layout %u with %u devices is not supported by this version",
        sb.layout, sb.nr_devices));
  }
  return sb;
}

}  // namespace wb
