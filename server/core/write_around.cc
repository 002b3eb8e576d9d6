// Write-around (write_around_mode=1): writes go to the origin, not the log;
// reads still hit whatever the cache holds.
//
// A write goes around only when nothing is dirty. Then no writeback can later
// land an older copy of its blocks on top of it, and the origin alone holds
// the image, so ordered writeback's promise (the origin is at a Flush
// boundary whatever happens to the cache) still holds. Writes that find dirty
// data, and writes not aligned to the origin's logical block size (the
// origin's read-modify-write is not atomic against a concurrent write of the
// other sectors), take the log as in write-back mode; writeback drains them
// at once (WritebackAllowed). Switching the mode on drains first
// (SetTunable), so that it takes effect at once.
//
// sequential_cutoff sends writes around the same way, in either mode, once
// they continue a sequential run (each write starting where the previous one
// ended) longer than the cutoff, as bcache does; the same "nothing dirty"
// rule keeps ordered writeback's promise, so it needs no drain of its own.
//
// While a write is going around, writeback waits: a batch planned meanwhile
// could otherwise reach the origin before the write and be overwritten by it
// after its copy left the index (write_around_mode switched off mid-write).
#include <algorithm>

#include "absl/strings/str_format.h"
#include "server/core/volume_impl.h"

namespace wb {

bool VolumeImpl::TryWriteAround(uint64_t offset, absl::Span<const char> data,
                                bool fua, absl::Status* status) {
  const uint32_t lbs = origin_->logical_block_size();
  {
    absl::MutexLock l(&mu_);
    run_bytes_ = offset == run_end_ ? run_bytes_ + data.size() : data.size();
    run_end_ = offset + data.size();
    bool sequential = tunables_.sequential_cutoff != 0 &&
                      run_bytes_ > tunables_.sequential_cutoff;
    if (tunables_.write_around_mode == 0 && !sequential) return false;
    if (offset % lbs != 0 || data.size() % lbs != 0) return false;
    if (nr_dirty_blocks_ != 0 || !failed_.ok()) return false;
    // Written-back segments replay as dirty until the progress record says
    // otherwise; a crash before then would land them on top of this write.
    if (last_writeback_id_ > progress_recorded_id_) {
      progress_wanted_ = true;
      wb_cv_.Signal();
      return false;
    }
    around_in_flight_++;
    around_started_++;
    for (uint64_t pos = offset; pos < offset + data.size();) {
      uint64_t block = pos / kBlockSize;
      VoidFill(block);
      DropCleanCopy(block);
      uint64_t next = std::min<uint64_t>((block + 1) * kBlockSize, offset + data.size());
      bool full = pos % kBlockSize == 0 && next - pos == kBlockSize;
      stat_[StatIndex(true, false, false, full)]++;
      pos = next;
    }
  }
  absl::Status st = WriteSectors(*origin_, offset, data.data(), data.size());
  // No FUA in the Device API: a flush after the write makes it durable.
  if (st.ok() && fua) st = origin_->Flush();
  absl::MutexLock l(&mu_);
  around_in_flight_--;
  if (st.ok()) {
    around_done_++;
  } else {
    origin_errors_++;
    last_origin_error_ = std::string(st.message());
  }
  wb_cv_.SignalAll();
  *status = st.ok() ? absl::OkStatus()
                    : absl::UnavailableError(absl::StrFormat(
                          "writing around the cache to the origin: %s", st.message()));
  return true;
}

absl::Status VolumeImpl::FlushWrittenAround() {
  uint64_t covers;
  {
    absl::MutexLock l(&mu_);
    if (around_done_ == around_flushed_) return absl::OkStatus();
    covers = around_done_;  // the writes completed before this flush
  }
  if (absl::Status st = origin_->Flush(); !st.ok()) {
    absl::MutexLock l(&mu_);
    origin_errors_++;
    last_origin_error_ = std::string(st.message());
    return absl::UnavailableError(
        absl::StrFormat("flushing the origin after write-around: %s", st.message()));
  }
  absl::MutexLock l(&mu_);
  around_flushed_ = std::max(around_flushed_, covers);
  return absl::OkStatus();
}

}  // namespace wb
