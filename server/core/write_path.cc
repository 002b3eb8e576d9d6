// The write path: copy into the open RAM buffer and return; FUA and Flush
// wait for group commit (flusher.cc).
#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "server/core/volume_impl.h"

namespace wb {

absl::Status VolumeImpl::CheckRange(uint64_t offset, uint64_t length) const {
  if (offset % kSectorSize != 0 || length % kSectorSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "offset %u and length %u must be multiples of %u", offset, length,
        kSectorSize));
  }
  if (offset > geo_.origin_size || length > geo_.origin_size - offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "range [%u, %u) is beyond the volume's %u bytes", offset,
        offset + length, geo_.origin_size));
  }
  return absl::OkStatus();
}

bool VolumeImpl::RingHasRoom() const {
  // The live segments occupy [tail, head) on the ring, cyclically.
  if (segments_.empty()) return true;
  uint64_t tail = segments_.begin()->second->pos;
  if (head_pos_ > tail) return true;  // NextPos() left room before the end
  if (head_pos_ < tail) return tail - head_pos_ >= geo_.seg_blocks;
  return false;
}

absl::StatusOr<Segment*> VolumeImpl::AcquireOpenSegment() {
  absl::Time deadline = absl::Now() + options_.io_timeout;
  uint64_t seen_progress = space_progress_;
  bool waiting = false;
  absl::Status result;
  while (true) {
    if (!failed_.ok()) {
      result = failed_;
      break;
    }
    if (closing_) {
      result = absl::UnavailableError("volume is closing");
      break;
    }
    if (open_ != nullptr && !SegmentFull(*open_)) break;
    if (open_ == nullptr && TryOpenSegment() != nullptr) break;
    // The log or the RAM buffers are full: wait for the flusher or for
    // writeback, failing only when nothing has moved for io_timeout.
    if (!waiting) {
      waiting = true;
      writers_waiting_++;
      if (open_ == nullptr && !RingHasRoom()) log_full_waits_++;
      wb_cv_.SignalAll();
    }
    if (space_progress_ != seen_progress) {
      seen_progress = space_progress_;
      deadline = absl::Now() + options_.io_timeout;
    }
    if (state_cv_.WaitWithDeadline(&mu_, deadline) &&
        space_progress_ == seen_progress) {
      result = absl::UnavailableError(absl::StrFormat(
          "cache log is full and writeback made no progress for %s%s",
          absl::FormatDuration(options_.io_timeout),
          last_origin_error_.empty()
              ? ""
              : "; last origin error: " + last_origin_error_));
      break;
    }
  }
  if (waiting) writers_waiting_--;
  if (!result.ok()) return result;
  return open_;
}

Segment* VolumeImpl::TryOpenSegment() {
  if (open_ != nullptr || free_buffers_.empty() || !RingHasRoom() ||
      !EvictRetained(head_pos_, geo_.seg_blocks)) {
    return nullptr;
  }
  auto seg = std::make_unique<Segment>();
  seg->id = next_id_++;
  seg->pos = head_pos_;
  seg->buf = free_buffers_.back();
  free_buffers_.pop_back();
  seg->created = absl::Now();
  if (next_starts_epoch_ || epoch_len_ >= tunables_.nr_max_batched_writeback) {
    if (!next_starts_epoch_) CutEpoch();
    seg->starts_epoch = true;
    seg->internal_cut = next_cut_internal_;
    epoch_len_ = 0;
    next_starts_epoch_ = false;
  }
  epoch_len_++;
  open_ = seg.get();
  by_pos_[seg->pos] = seg.get();
  segments_[seg->id] = std::move(seg);
  return open_;
}

void VolumeImpl::AbandonOpenSegment() {
  Segment* seg = open_;
  open_ = nullptr;
  // The newest id: the next segment takes it, so ids stay contiguous.
  next_id_ = seg->id;
  // The next segment starts the epoch this one would have started.
  if (seg->starts_epoch) {
    next_starts_epoch_ = true;
    next_cut_internal_ = seg->internal_cut;
  } else {
    epoch_len_--;
  }
  seg->buf->slot_of.clear();
  free_buffers_.push_back(seg->buf);
  by_pos_.erase(seg->pos);
  segments_.erase(seg->id);
  space_progress_++;
  state_cv_.SignalAll();
}

absl::Status VolumeImpl::Write(uint64_t offset, absl::Span<const char> data,
                               bool fua) {
  if (absl::Status s = CheckRange(offset, data.size()); !s.ok()) return s;
  if (data.empty()) return fua ? Flush() : absl::OkStatus();
  if (absl::Status around; TryWriteAround(offset, data, fua, &around)) return around;

  struct Piece {
    uint32_t slot;
    uint32_t cb;
    uint32_t sector;   // first sector within the block
    uint32_t sectors;  // how many
    const char* src;
  };
  std::vector<Piece> pieces;
  uint64_t pos = offset;
  const uint64_t end = offset + data.size();
  uint64_t last_id = 0;
  while (pos < end) {
    pieces.clear();
    Segment* seg;
    // The next block was zeroed by a virtual entry of this segment, which
    // must stay newer than every data entry of it here: seal and go on in
    // the next segment.
    bool seal_first = false;
    int inplace = 0;  // pieces overwriting a slot in place
    {
      absl::MutexLock l(&mu_);
      absl::StatusOr<Segment*> acquired = AcquireOpenSegment();
      if (!acquired.ok()) return acquired.status();
      seg = *acquired;
      // Reserve as many blocks of this write as the open buffer takes.
      while (pos < end) {
        uint64_t block = pos / kBlockSize;
        uint32_t sector = (pos % kBlockSize) / kSectorSize;
        uint32_t sectors = static_cast<uint32_t>(
            std::min<uint64_t>(kSectorsPerBlock - sector, (end - pos) / kSectorSize));
        uint8_t mask = static_cast<uint8_t>(((1u << sectors) - 1) << sector);
        bool full = mask == geo_.ValidSectorMask(block);
        auto it = seg->buf->slot_of.find(block);
        const bool on_buffer = it != seg->buf->slot_of.end();
        uint32_t slot;
        // Reads and writes copy RAM outside mu_: while a read may, or
        // another write is copying into this slot, a rewrite takes a new
        // slot (a newer entry of the block) instead of tearing the sectors.
        if (on_buffer && ram_readers_ == 0 &&
            seg->buf->in_place.insert(it->second).second) {
          slot = it->second;  // overwrite in place inside the open buffer
          uint32_t cb = DataBlock(*seg, slot);
          if (IsClean(cb)) {  // a staged read becomes this write's copy
            block_meta_[cb] &= ~kCleanBit;
            clean_blocks_--;
            nr_dirty_blocks_++;
          }
          inplace++;
          stat_[StatIndex(true, true, true, full)]++;
        } else {
          if (SegmentFull(*seg)) break;
          uint32_t cur = index_.Find(block);
          if (cur != BlockIndex::kNone && IsVirtual(cur) &&
              std::find(seg->virtual_cbs.begin(), seg->virtual_cbs.end(), cur) !=
                  seg->virtual_cbs.end()) {
            seal_first = true;
            break;
          }
          slot = seg->nr_data++;
          seg->buf->slot_of[block] = slot;
          seg->buf->in_place.insert(slot);  // copied into with mu_ released
          uint32_t cb = DataBlock(*seg, slot);
          block_meta_[cb] = block;  // mask published after the copy
          // Sectors outside a block's mask are zero on disk (and covered
          // by its checksum); a recycled slot still holds older bytes. The
          // last block of an odd-sized origin is "full" without all eight
          // sectors, so the test is against the whole slot.
#ifdef WB_MUTANT_tail_garbage
          // Mutant: a write covering the tail block's valid sectors leaves
          // the rest of the recycled slot in place.
          if (!full) std::memset(SlotData(*seg, slot), 0, kBlockSize);
#else
          if (mask != kFullSectorMask) std::memset(SlotData(*seg, slot), 0, kBlockSize);
#endif
          if (cur != BlockIndex::kNone) older_[cb] = cur;
          if (cur != BlockIndex::kNone && IsClean(cur)) clean_blocks_--;
          VoidFill(block);
          index_.Put(block, cb);
          nr_dirty_blocks_++;
          stat_[StatIndex(true, cur != BlockIndex::kNone, on_buffer, full)]++;
        }
        pieces.push_back({slot, DataBlock(*seg, slot), sector, sectors,
                          data.data() + (pos - offset)});
        pos += uint64_t{sectors} * kSectorSize;
      }
      seg->writers++;
      inplace_copies_ += inplace;
    }
    for (const Piece& p : pieces) {
      std::memcpy(SlotData(*seg, p.slot) + p.sector * kSectorSize, p.src,
                  p.sectors * kSectorSize);
    }
    auto publish = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const Piece& p : pieces) {
        uint8_t mask = static_cast<uint8_t>(((1u << p.sectors) - 1) << p.sector);
        block_meta_[p.cb] |= uint64_t{mask} << 48;
        uint64_t block = OriginOf(p.cb);
        // A full block hides every older copy, so reads need no chain.
        if (MaskOf(p.cb) == geo_.ValidSectorMask(block)) older_.erase(p.cb);
      }
    };
#ifdef WB_MUTANT_unlocked_publish
    // Mutant: the masks are published without mu_.
    publish();
    absl::MutexLock l(&mu_);
#else
    absl::MutexLock l(&mu_);
    publish();
#endif
    inplace_copies_ -= inplace;
    for (const Piece& p : pieces) seg->buf->in_place.erase(p.slot);
    seg->writers--;
    if (seg->state == Segment::State::kOpen && (SegmentFull(*seg) || seal_first)) {
      Seal(seg);
    } else if (seg->writers == 0 && seg->state == Segment::State::kSealed) {
      flusher_cv_.Signal();
    }
    last_id = seg->id;
  }
  if (fua) return WaitDurable(last_id, true);
  return absl::OkStatus();
}

absl::Status VolumeImpl::WaitDurable(uint64_t id, bool fua) {
  absl::MutexLock l(&mu_);
  if (!failed_.ok()) return failed_;
  Segment* lead = nullptr;
  if (open_ != nullptr && open_->id <= id) {
    // A Flush seals at once; a FUA write seals at once too when the flusher
    // is idle, and otherwise joins the open buffer until the running
    // device flush ends or barrier_deadline_ms passes (group commit).
    if (!fua || !flush_in_flight_) {
      Segment* s = open_;
      Seal(s);
      // With no writer still copying, this thread leads: it submits the
      // segment itself instead of waking the flusher.
      if (s->writers == 0) {
        s->state = Segment::State::kWriting;
        lead = s;
      }
    } else {
      fua_seal_deadline_ = std::min(
          fua_seal_deadline_,
          absl::Now() + absl::Milliseconds(tunables_.barrier_deadline_ms));
    }
  }
  // Each group commit ends an epoch (writeback flushes the origin there).
  EndEpochAtFlush();
  flush_wanted_through_ = std::max(flush_wanted_through_, id);
  flusher_cv_.Signal();
  if (lead != nullptr) {
    mu_.Unlock();
    SubmitSegmentWrite(lead);
    mu_.Lock();
  }
  while (failed_.ok()) {
#ifdef WB_MUTANT_ack_before_flush
    // Mutant: acknowledges once the segment is written, before the flush.
    if (completed_through_ >= id) return absl::OkStatus();
#else
    if (durable_through_ >= id) return absl::OkStatus();
#endif
    state_cv_.Wait(&mu_);
  }
  return failed_;
}

absl::Status VolumeImpl::Flush() {
  uint64_t target;
  bool log_durable;
  {
    absl::MutexLock l(&mu_);
    if (!failed_.ok()) return failed_;
    target = next_id_ - 1;
    if (open_ != nullptr && SegmentEmpty(*open_)) target = open_->id - 1;
    log_durable = target <= durable_through_;
    // Nothing to wait for, but writes after this Flush must still not share
    // an epoch with those before it.
    if (log_durable) EndEpochAtFlush();
  }
  if (!log_durable) {
    if (absl::Status s = WaitDurable(target, false); !s.ok()) return s;
  }
  return FlushWrittenAround();
}

}  // namespace wb
