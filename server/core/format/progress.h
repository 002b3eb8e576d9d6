// The progress record (blocks 1 and 2): how far writeback has got, the open
// generation, and the persisted tunables. Layout in docs/FORMAT.md.
#ifndef WRITEBOOST_CORE_FORMAT_PROGRESS_H_
#define WRITEBOOST_CORE_FORMAT_PROGRESS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "server/core/tunables.h"
#include "server/core/util/uuid.h"

namespace wb {

struct ProgressRecord {
  uint64_t seq = 0;
  Uuid uuid{};
  uint64_t last_writeback_id = 0;
  uint64_t next_pos = 0;
  uint64_t gen = 0;
  uint64_t gen_start_id = 1;
  Tunables tunables;

  // The copy (0 or 1) this record is written to.
  int copy() const { return static_cast<int>(seq % 2); }

  void EncodeTo(char* out) const;
  // kDataLoss on a bad magic, checksum or cache-set UUID (a torn or foreign
  // copy: the other copy may stand in); kFailedPrecondition for non-zero
  // reserved bytes under a valid checksum (a writer this reader does not
  // understand: nothing may stand in).
  static absl::StatusOr<ProgressRecord> Decode(const char* block,
                                               const Uuid& uuid);
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_FORMAT_PROGRESS_H_
