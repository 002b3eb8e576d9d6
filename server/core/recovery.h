// Reading a cache set back: the superblock, the progress record and the
// chain of segments, by the recovery rules of docs/FORMAT.md. Used by
// Volume::Open and by the offline tools (wbctl check/dump/drain).
#ifndef WRITEBOOST_CORE_RECOVERY_H_
#define WRITEBOOST_CORE_RECOVERY_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "server/core/device/device.h"
#include "server/core/format/layout.h"
#include "server/core/format/progress.h"
#include "server/core/format/segment.h"
#include "server/core/format/superblock.h"

namespace wb {

struct CacheHead {
  Superblock sb;
  Geometry geo;
  ProgressRecord progress;
  int progress_copies_valid = 0;  // 1 or 2
};

// Reads and validates the superblock and the newer valid progress record.
absl::StatusOr<CacheHead> ReadCacheHead(Device& cache);

// Refuses an origin whose size or identity differs from the recorded one.
absl::Status CheckOrigin(const Superblock& sb, uint64_t origin_size,
                         const std::string& origin_identity);

struct ReplayOptions {
  // Check every data block's crc, not only those of segments that might not
  // have been durable (wbctl check).
  bool verify_all_data = false;
  // (segments done, segments total) during the data and visit passes.
  std::function<void(uint64_t, uint64_t)> progress;
};

struct ReplayReport {
  uint64_t first_id = 0;   // first accepted id (last_writeback_id + 1)
  uint64_t last_id = 0;    // last accepted id; == first_id - 1 when none
  uint64_t first_pos = 0;  // ring position of first_id
  uint64_t next_pos = 0;   // ring position for id last_id + 1
  uint64_t durable_bound = 0;         // D: ids <= D were certainly durable
  uint64_t segments_accepted = 0;
  uint64_t segments_data_checked = 0;
  uint64_t data_blocks = 0;           // data blocks in accepted segments
  uint64_t last_gen = 0;              // gen of the last accepted segment
  bool last_starts_epoch = false;
  // Why the walk stopped at id last_id + 1 ("end of log" when the slot
  // simply holds no continuation).
  std::string stop_reason;
  bool stopped_on_bad_data = false;   // a header was valid but data torn
};

// Walks the log of an already-read cache head and calls visit(pos, header)
// for each accepted segment in id order.
absl::StatusOr<ReplayReport> ReplayLog(
    Device& cache, const CacheHead& head, const ReplayOptions& options,
    const std::function<void(uint64_t pos, const SegmentHeader&)>& visit);

}  // namespace wb

#endif  // WRITEBOOST_CORE_RECOVERY_H_
