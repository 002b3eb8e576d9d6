// FormatCache: the ordering that makes a crash during format harmless
// (docs/FORMAT.md, "Durability rules"): zero everything, flush, write the
// progress records, flush, and only then the superblock, flushed.
#include <ctime>

#include "absl/strings/str_format.h"
#include "server/core/device/aligned_io.h"
#include "server/core/format/progress.h"
#include "server/core/format/superblock.h"
#include "server/core/volume.h"

namespace wb {

absl::Status FormatCache(Device& cache, const Device& origin,
                         const FormatOptions& options) {
  absl::StatusOr<Geometry> geo =
      Geometry::Make(options.segment_size, cache.size(), origin.size());
  if (!geo.ok()) return geo.status();
  if (absl::Status s = ValidateTunables(options.tunables); !s.ok()) return s;
  if (options.origin_identity.size() >= kOriginIdentityMax) {
    return absl::InvalidArgumentError("origin identity is too long");
  }

  // Writing the whole device once preallocates it: an unwritten extent of a
  // cache file would turn every later fdatasync into a journal commit.
  const uint64_t total = (kRingStartBlock + geo->ring_blocks) * kBlockSize;
  constexpr uint64_t kChunk = 4ull << 20;
  AlignedBuffer zeros(kChunk);
  for (uint64_t off = 0; off < total; off += kChunk) {
    uint64_t n = std::min(kChunk, total - off);
    if (absl::Status s = cache.Write(off, zeros.data(), n); !s.ok()) return s;
    if (options.progress) options.progress(off + n, total);
  }
  if (absl::Status s = cache.Flush(); !s.ok()) return s;

  Superblock sb;
  sb.version = kFormatVersion;
  sb.uuid = NewUuid();
  sb.segment_size = options.segment_size;
  sb.ring_blocks = geo->ring_blocks;
  sb.origin_size = origin.size();
  sb.format_time = static_cast<uint64_t>(std::time(nullptr));
  sb.origin_identity = options.origin_identity;

  AlignedBuffer block(kBlockSize);
  for (uint64_t seq = 0; seq < 2; seq++) {
    ProgressRecord rec;
    rec.seq = seq;
    rec.uuid = sb.uuid;
    rec.tunables = options.tunables;
    rec.EncodeTo(block.data());
    if (absl::Status s = cache.Write(kProgressBlock[rec.copy()] * kBlockSize,
                                     block.data(), kBlockSize);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = cache.Flush(); !s.ok()) return s;
  sb.EncodeTo(block.data());
  if (absl::Status s = cache.Write(0, block.data(), kBlockSize); !s.ok()) {
    return s;
  }
  return cache.Flush();
}

}  // namespace wb
