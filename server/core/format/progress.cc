#include "server/core/format/progress.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "server/core/format/layout.h"
#include "server/core/util/coding.h"
#include "server/core/util/crc32c.h"

namespace wb {

namespace {
constexpr size_t kReservedOffset = 104;  // reserved tunables, then zero
}  // namespace

void ProgressRecord::EncodeTo(char* out) const {
  std::memset(out, 0, kBlockSize);
  PutFixed32(out + 0, kProgressMagic);
  PutFixed64(out + 8, seq);
  std::memcpy(out + 16, uuid.data(), 16);
  PutFixed64(out + 32, last_writeback_id);
  PutFixed64(out + 40, next_pos);
  PutFixed64(out + 48, gen);
  PutFixed64(out + 56, gen_start_id);
  PutFixed32(out + 64, tunables.writeback_threshold);
  PutFixed32(out + 68, tunables.nr_max_batched_writeback);
  PutFixed32(out + 72, tunables.update_sb_record_interval);
  PutFixed32(out + 76, tunables.sync_data_interval);
  PutFixed32(out + 80, tunables.read_cache_threshold);
  PutFixed32(out + 84, tunables.write_around_mode);
  PutFixed32(out + 88, tunables.barrier_deadline_ms);
  PutFixed32(out + 92, tunables.writeback_mode);
  PutFixed32(out + 96, tunables.read_latency_target_ms);
  PutFixed32(out + 100, tunables.sequential_cutoff);
  PutFixed32(out + 4, Crc32c(out + 8, kBlockSize - 8));
}

absl::StatusOr<ProgressRecord> ProgressRecord::Decode(const char* block,
                                                      const Uuid& uuid) {
  if (GetFixed32(block) != kProgressMagic) {
    return absl::DataLossError("progress record has no magic");
  }
  if (GetFixed32(block + 4) != Crc32c(block + 8, kBlockSize - 8)) {
    return absl::DataLossError("progress record checksum mismatch");
  }
  if (std::memcmp(block + 16, uuid.data(), 16) != 0) {
    return absl::DataLossError("progress record belongs to another cache set");
  }
  // Every writer since version 1 zeroed them; the crc covers them, so
  // non-zero ones come from a writer this reader does not understand.
  for (size_t i = kReservedOffset; i < kBlockSize; i++) {
    if (block[i] != 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "progress record byte %u is not zero (reserved)", i));
    }
  }
  ProgressRecord r;
  r.seq = GetFixed64(block + 8);
  r.uuid = uuid;
  r.last_writeback_id = GetFixed64(block + 32);
  r.next_pos = GetFixed64(block + 40);
  r.gen = GetFixed64(block + 48);
  r.gen_start_id = GetFixed64(block + 56);
  r.tunables.writeback_threshold = GetFixed32(block + 64);
  r.tunables.nr_max_batched_writeback = GetFixed32(block + 68);
  r.tunables.update_sb_record_interval = GetFixed32(block + 72);
  r.tunables.sync_data_interval = GetFixed32(block + 76);
  r.tunables.read_cache_threshold = GetFixed32(block + 80);
  r.tunables.write_around_mode = GetFixed32(block + 84);
  r.tunables.barrier_deadline_ms = GetFixed32(block + 88);
  r.tunables.writeback_mode = GetFixed32(block + 92);
  r.tunables.read_latency_target_ms = GetFixed32(block + 96);
  r.tunables.sequential_cutoff = GetFixed32(block + 100);
  return r;
}

}  // namespace wb
