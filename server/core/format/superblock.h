// The superblock (block 0 of the cache device): identity and geometry of a
// cache set. Layout in docs/FORMAT.md.
#ifndef WRITEBOOST_CORE_FORMAT_SUPERBLOCK_H_
#define WRITEBOOST_CORE_FORMAT_SUPERBLOCK_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/util/uuid.h"

namespace wb {

struct Superblock {
  uint32_t version = 0;
  Uuid uuid{};
  uint32_t segment_size = 0;
  uint64_t ring_blocks = 0;
  uint64_t origin_size = 0;
  uint64_t format_time = 0;
  uint32_t layout = 0;
  uint32_t nr_devices = 1;
  uint32_t device_index = 0;
  uint32_t device_generation = 1;
  std::string origin_identity;

  // Writes the 4096-byte block into out (zero-filling the rest).
  void EncodeTo(char* out) const;
  // Parses and checks a 4096-byte block: magic, crc, version, block size.
  // kFailedPrecondition for "not a writeboost cache" or a newer version;
  // kDataLoss for a checksum mismatch.
  static absl::StatusOr<Superblock> Decode(const char* block);
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_FORMAT_SUPERBLOCK_H_
