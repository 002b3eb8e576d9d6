// The flusher: seals RAM buffers into segments, writes them with several in
// flight, and issues the device flushes that acknowledge FUA writes and
// Flush requests (group commit: one flush serves every waiter queued).
#include <cstring>

#include "absl/strings/str_format.h"
#include "server/core/util/crc32c.h"
#include "server/core/volume_impl.h"

namespace wb {

// Segments completed without a covering flush before the flusher flushes
// the device on its own.
constexpr uint64_t kBackgroundFlushSegments = 4;

void VolumeImpl::Seal(Segment* s) {
  // REQUIRES: s == open_. Writers still copying are waited for by the
  // flusher (writers == 0) before the segment is written.
  s->state = Segment::State::kSealed;
  open_ = nullptr;
  head_pos_ = geo_.NextPos(s->pos, uint64_t{geo_.meta_blocks} + s->nr_data);
  if (s->nr_data < geo_.max_data_blocks) nr_partial_flushed_++;
  fua_seal_deadline_ = absl::InfiniteFuture();
  flusher_cv_.Signal();
}

void VolumeImpl::Fail(const absl::Status& st) {
  if (!failed_.ok()) return;
  // Whether the failed write or flush reached the media is unknown, so no
  // later success may be reported on top of it (the fsync lesson).
  failed_ = absl::FailedPreconditionError(
      absl::StrFormat("volume failed: %s", st.message()));
  state_cv_.SignalAll();
  flusher_cv_.SignalAll();
  wb_cv_.SignalAll();
}

void VolumeImpl::FlusherLoop() {
  absl::MutexLock l(&mu_);
  absl::Time last_sync = absl::Now();
  while (true) {
    absl::Time now = absl::Now();
    // A FUA write waiting behind a busy flusher: seal when the flush in
    // flight ends or when its deadline passes.
    if (open_ != nullptr && fua_seal_deadline_ != absl::InfiniteFuture() &&
        (!flush_in_flight_ || now >= fua_seal_deadline_)) {
      Seal(open_);
      continue;
    }
    // sync_data_interval: make a partial buffer durable periodically.
    if (tunables_.sync_data_interval > 0 &&
        now - last_sync >= absl::Seconds(tunables_.sync_data_interval)) {
      last_sync = now;
      if (open_ != nullptr && !SegmentEmpty(*open_)) {
        uint64_t id = open_->id;
        Seal(open_);
        flush_wanted_through_ = std::max(flush_wanted_through_, id);
        continue;
      }
    }
    // Collected after the seals above, which loop back to here.
    std::vector<Segment*> to_write;
    for (auto it = segments_.upper_bound(completed_through_);
         it != segments_.end(); ++it) {
      Segment* s = it->second.get();
      if (s->state == Segment::State::kSealed && s->writers == 0) {
        s->state = Segment::State::kWriting;
        to_write.push_back(s);
      }
    }
    uint64_t covers = 0;
    bool issue_flush = TakeFlush(&covers);

    if (to_write.empty() && !issue_flush) {
      // Close has made everything acknowledged durable. An open segment
      // that holds nothing is never sealed (Flush skips it), and one left
      // on a failed volume can never be made durable (Flush fails at
      // once): neither may keep the flusher from stopping.
      const bool open_idle =
          open_ == nullptr ||
          (open_->writers == 0 && (SegmentEmpty(*open_) || !failed_.ok()));
      const uint64_t last_sealed = open_ != nullptr ? open_->id - 1 : next_id_ - 1;
      if (stop_ && open_idle && !flush_in_flight_ &&
          completed_through_ == last_sealed) {
        break;
      }
      absl::Time wake = std::min(fua_seal_deadline_, now + absl::Seconds(1));
      flusher_cv_.WaitWithDeadline(&mu_, wake);
      continue;
    }
    mu_.Unlock();
    for (Segment* s : to_write) SubmitSegmentWrite(s);
    if (issue_flush) SubmitFlush(covers);
    mu_.Lock();
  }
}

bool VolumeImpl::TakeFlush(uint64_t* covers) {
  if (flush_in_flight_ || !failed_.ok()) return false;
  bool take = false;
#ifdef WB_MUTANT_flush_before_complete
  // Mutant: flushes without waiting for earlier segment writes.
  if (flush_wanted_through_ > durable_through_) {
    take = true;
    *covers = flush_wanted_through_;
  }
#else
  // A flush covers only writes completed before it is issued (an io_uring
  // fsync does not wait for writes in flight), so it starts only once
  // every segment up to the wanted id has completed.
  if (flush_wanted_through_ > durable_through_ &&
      completed_through_ >= flush_wanted_through_) {
    take = true;
    *covers = completed_through_;
  }
#endif
  // Without waiters, flush anyway every few segments: the durable_through
  // id written into later headers is what bounds restart (recovery reads
  // full data only for segments above it).
  if (!take && completed_through_ >= durable_through_ + kBackgroundFlushSegments) {
    take = true;
    *covers = completed_through_;
  }
  if (take) flush_in_flight_ = true;
  return take;
}

void VolumeImpl::SubmitFlush(uint64_t covers) {
  cache_->Submit({IoOp::kFlush, 0, 0, nullptr}, [this, covers](absl::Status st) {
    absl::MutexLock l(&mu_);
    flush_in_flight_ = false;
    if (!st.ok()) {
      cache_errors_++;
      Fail(st);
    } else {
      durable_through_ = std::max(durable_through_, covers);
      group_commits_++;
    }
    state_cv_.SignalAll();
    flusher_cv_.Signal();
  });
}

void VolumeImpl::SubmitSegmentWrite(Segment* s) {
  // The segment is kWriting with no writers: its buffer is stable.
  std::vector<SegmentEntry> entries;
  uint64_t durable;
  uint16_t flags;
  {
    absl::MutexLock l(&mu_);
    entries.resize(s->nr_data + s->virtual_cbs.size());
    for (uint32_t i = 0; i < s->nr_data; i++) {
      uint32_t cb = DataBlock(*s, i);
      entries[i].origin_block = OriginOf(cb);
      entries[i].mask = MaskOf(cb);
      entries[i].kind = IsClean(cb) ? EntryKind::kClean : EntryKind::kDirty;
    }
    // ZERO and TRIM entries after the data ones: each is newer than any data
    // entry of its block in this segment (zero_trim.cc).
    for (size_t i = 0; i < s->virtual_cbs.size(); i++) {
      uint32_t cb = s->virtual_cbs[i];
      SegmentEntry& e = entries[s->nr_data + i];
      e.origin_block = OriginOf(cb);
      e.mask = MaskOf(cb);
      e.kind = (block_meta_[cb] & kTrimBit) ? EntryKind::kTrim : EntryKind::kZero;
      e.aux = 1;  // a run of one block
    }
    durable = durable_through_;
    flags = s->starts_epoch ? kSegmentStartsEpoch : 0;
    if (s->starts_epoch && s->internal_cut) flags |= kSegmentInternalCut;
  }
  for (uint32_t i = 0; i < s->nr_data; i++) {
    entries[i].data_crc = Crc32c(SlotData(*s, i), kBlockSize);
  }
  EncodeSegmentMeta(s->id, sb_.uuid, std::min(durable, s->id - 1), gen_, flags,
                    entries, geo_, s->buf->mem.data());
  uint64_t len = (uint64_t{geo_.meta_blocks} + s->nr_data) * kBlockSize;
  cache_->Submit({IoOp::kWrite, Geometry::RingOffset(s->pos), len,
                  s->buf->mem.data()},
                 [this, s](absl::Status st) { OnSegmentWritten(s, st); });
}

void VolumeImpl::OnSegmentWritten(Segment* s, absl::Status st) {
  mu_.Lock();
  if (!st.ok()) {
    cache_errors_++;
    s->write_failed = true;
    Fail(st);
  }
  s->state = Segment::State::kWritten;
  while (true) {
    auto it = segments_.find(completed_through_ + 1);
    if (it == segments_.end() ||
        it->second->state != Segment::State::kWritten) {
      break;
    }
    completed_through_++;
  }
  MaybeReleaseBuffer(s);
  state_cv_.SignalAll();
  flusher_cv_.Signal();
  wb_cv_.Signal();
  // Start a waited-for flush from here rather than waking the flusher:
  // one thread hand-off less per group commit.
  uint64_t covers = 0;
  bool flush = TakeFlush(&covers);
  mu_.Unlock();
  if (flush) SubmitFlush(covers);
}

void VolumeImpl::MaybeReleaseBuffer(Segment* s) {
  if (s->buf == nullptr || s->pins > 0 || s->write_failed ||
      s->state != Segment::State::kWritten) {
    return;
  }
  RamBuffer* buf = s->buf;
  s->buf = nullptr;
  buf->slot_of.clear();
  free_buffers_.push_back(buf);
  space_progress_++;
  state_cv_.SignalAll();
}

}  // namespace wb
