// Writeback ("migration"): epoch by epoch, oldest first. A batch is whole
// epochs, up to nr_max_batched_writeback segments' worth of blocks. It is
// applied one Flush epoch at a time: within one (epochs cut without a Flush
// merge freely) each sector is written once with its last value, sorted by
// origin address and merged into large writes, and the origin is flushed at
// each Flush boundary before anything after it is written. So the origin
// only ever holds what a disk with a volatile write cache may hold after a
// power cut (docs/CORE.md). Ring space is reused only after the progress
// record is durable. While a batch's origin writes are in flight the next
// batch is read from the cache (only read: nothing of it reaches the origin
// before this batch is done).
#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "server/core/util/crc32c.h"
#include "server/core/volume_impl.h"

namespace wb {

struct VolumeImpl::Batch {
  struct Seg {
    uint64_t id;
    uint64_t pos;
    uint32_t nr_data;
    uint64_t nr_virtual;  // ZERO/TRIM blocks replay or the writer indexed
    bool flush_boundary;  // starts an epoch at a Flush
  };
  std::vector<Seg> segs;
  // The segments as read from the cache (ReadBatch), one per entry of segs.
  std::vector<AlignedBuffer> bufs;
  uint32_t mode = kWritebackOrdered;  // the writeback_mode it was planned in
  uint64_t bytes = 0;
  uint64_t discarded_blocks = 0;
  bool cache_error = false;  // ReadBatch could not read it from the cache
};

namespace {

// Reading the cache is retried this often before the volume gives up on it.
constexpr int kCacheReadRetries = 3;

}  // namespace

void VolumeImpl::EndEpochAtFlush() {
  next_cut_internal_ = false;
  // An open segment that holds nothing yet can start the epoch itself.
  if (open_ != nullptr && SegmentEmpty(*open_) && open_->writers == 0) {
    if (!open_->starts_epoch) epoch_len_ = 1;
    open_->starts_epoch = true;
    open_->internal_cut = false;
    return;
  }
  next_starts_epoch_ = true;
}

void VolumeImpl::CutEpoch() {
  if (!next_starts_epoch_) {
    internal_epoch_cuts_++;
    next_cut_internal_ = true;
  }
  next_starts_epoch_ = true;
}

void VolumeImpl::ForgetCopy(uint32_t cb) {
  uint64_t block = OriginOf(cb);
  older_.erase(cb);  // anything older is written back already
  if (index_.EraseIf(block, cb)) return;
  // A newer copy exists; unlink cb from the chain beneath it.
  for (uint32_t x = index_.Find(block); x != BlockIndex::kNone;) {
    auto it = older_.find(x);
    if (it == older_.end()) break;
    if (it->second == cb) {
      older_.erase(it);
      break;
    }
    x = it->second;
  }
}

bool VolumeImpl::LowOnSpace() {
  // Hysteresis: urgent from 75% of the ring used until back under 50%, so
  // that writeback runs in long full-speed stretches, not on and off.
  const uint64_t used = UsedBlocks();
  if (used * 4 > geo_.ring_blocks * 3) low_on_space_ = true;
  if (used * 2 < geo_.ring_blocks) low_on_space_ = false;
  return low_on_space_;
}

bool VolumeImpl::WritebackAllowed() {
  // Never beside a write going around the cache (write_around.cc).
  if (around_in_flight_ > 0) return false;
  // In write-around mode dirty data keeps every write on the log: drain it.
  bool urgent = writers_waiting_ > 0 || LowOnSpace() ||
                (tunables_.write_around_mode != 0 && nr_dirty_blocks_ > 0);
  return drop_requests_ > 0 || urgent || stop_ ||
         (tunables_.writeback_threshold > 0 &&
          origin_util_percent_ < tunables_.writeback_threshold &&
          (tunables_.read_latency_target_ms == 0 ||
           origin_read_latency_ms_ < tunables_.read_latency_target_ms));
}

bool VolumeImpl::PlanBatch(uint64_t after, bool may_cut, Batch* batch) {
  batch->segs.clear();
  batch->bufs.clear();
  batch->mode = tunables_.writeback_mode;
  // The cap is in data blocks (nr_max_batched_writeback full segments' worth)
  // so that the small segments of flush-heavy writers still make large,
  // well-sorted batches.
  const uint64_t limit =
      uint64_t{tunables_.nr_max_batched_writeback} * geo_.max_data_blocks;
  uint64_t blocks = 0;
  auto seg_of = [](const Segment& s) -> Batch::Seg {
    return {s.id, s.pos, s.nr_data, s.virtual_cbs.size(),
            s.starts_epoch && !s.internal_cut};
  };
  auto it = segments_.upper_bound(after);
  if (tunables_.writeback_mode == kWritebackSorted) {
    // Any run of written segments, epochs ignored (dm-writeboost's way): a
    // lost cache can leave the origin in a state no Flush ever showed.
    for (; it != segments_.end(); ++it) {
      Segment* s = it->second.get();
      if (s->state != Segment::State::kWritten) break;
      uint64_t n = s->nr_data + s->virtual_cbs.size();
      if (!batch->segs.empty() && blocks + n > limit) break;
      batch->segs.push_back(seg_of(*s));
      blocks += n;
    }
    return !batch->segs.empty();
  }
  while (it != segments_.end()) {
    std::vector<Segment*> epoch{it->second.get()};
    auto jt = std::next(it);
    for (; jt != segments_.end() && !jt->second->starts_epoch; ++jt) {
      epoch.push_back(jt->second.get());
    }
    bool closed = jt != segments_.end() ||
                  (next_starts_epoch_ && epoch.back() != open_);
    if (!closed) {
      // The oldest epoch is still being written: cut it when waiting
      // would hurt (space, drain) or its data has aged.
      bool urgent = writers_waiting_ > 0 || drop_requests_ > 0 ||
                    LowOnSpace();
      // sync_data_interval=0 promises no timed seals of a partial buffer.
      bool aged = tunables_.sync_data_interval != 0 &&
                  absl::Now() - epoch.front()->created > absl::Seconds(1);
      if (may_cut && batch->segs.empty() && (urgent || aged)) {
        if (open_ != nullptr && epoch.back() == open_) Seal(open_);
        CutEpoch();
      }
      break;
    }
    uint64_t epoch_blocks = 0;
    // ZERO/TRIM entries count too: each stages a block at writeback.
    for (Segment* s : epoch) epoch_blocks += s->nr_data + s->virtual_cbs.size();
    if (!batch->segs.empty() && blocks + epoch_blocks > limit) break;
    bool ready = true;
    for (Segment* s : epoch) ready &= s->state == Segment::State::kWritten;
    if (!ready) break;
    for (Segment* s : epoch) batch->segs.push_back(seg_of(*s));
    blocks += epoch_blocks;
    it = jt;
  }
  return !batch->segs.empty();
}

namespace {

// A block's last version within a group of epochs.
struct Staged {
  static constexpr uint32_t kZeroes = UINT32_MAX;  // slot of a block of zeroes
  uint64_t block;
  uint8_t mask;
  uint32_t slot;  // index into the staging buffer, or kZeroes
  bool discard;   // a trim: discard on the origin rather than write zeroes
};

constexpr uint64_t kMaxRun = 1 << 20;

// Zeroed blocks are written from here, so that a ZERO or TRIM run costs no
// staging memory however long it is.
const char* ZeroRun() {
  static const AlignedBuffer* zeroes = [] {
    auto* b = new AlignedBuffer(kMaxRun);
    std::memset(b->data(), 0, kMaxRun);
    return b;
  }();
  return zeroes->data();
}

}  // namespace

absl::Status VolumeImpl::ReadBatch(Batch* batch) {
  // They lie in ring order, so the cache sees a sequential stream.
  std::vector<AlignedBuffer>& seg_bufs = batch->bufs;
  seg_bufs.clear();
  seg_bufs.reserve(batch->segs.size());
  batch->cache_error = false;
  for (const auto& s : batch->segs) {
    seg_bufs.emplace_back((uint64_t{geo_.meta_blocks} + s.nr_data) * kBlockSize);
  }
  std::vector<absl::Status> read_status(batch->segs.size());
  {
    absl::Mutex read_mu;
    int in_flight = 0;
    auto below_depth = [&] { return in_flight < options_.writeback_depth; };
    auto idle = [&] { return in_flight == 0; };
    for (size_t i = 0; i < batch->segs.size(); i++) {
      {
        absl::MutexLock l(&read_mu);
        read_mu.Await(absl::Condition(&below_depth));
        in_flight++;
      }
      cache_->Submit({IoOp::kRead, Geometry::RingOffset(batch->segs[i].pos),
                      seg_bufs[i].size(), seg_bufs[i].data()},
                     [&, i](absl::Status st) {
                       absl::MutexLock l(&read_mu);
                       read_status[i] = std::move(st);
                       in_flight--;
                     });
    }
    absl::MutexLock l(&read_mu);
    read_mu.Await(absl::Condition(&idle));
  }
  for (size_t i = 0; i < batch->segs.size(); i++) {
#ifdef WB_MUTANT_cache_error_as_origin
    // Mutant: a cache read error is neither counted nor retried, and the
    // caller takes it for an origin error (retried forever).
    const int retries = 0;
#else
    const int retries = kCacheReadRetries;
#endif
    // Every failed read is a cache error; a mirror has already tried its
    // other members (server/core/device/cache_set.cc).
    for (int attempt = 0; !read_status[i].ok(); attempt++) {
#ifndef WB_MUTANT_cache_error_as_origin
      {
        absl::MutexLock l(&mu_);
        cache_errors_++;
      }
      batch->cache_error = attempt == retries;
#endif
      if (attempt == retries) {
        return absl::UnavailableError(absl::StrFormat(
            "reading segment %u from the cache failed %d times: %s",
            batch->segs[i].id, attempt + 1, read_status[i].message()));
      }
      read_status[i] = cache_->Read(Geometry::RingOffset(batch->segs[i].pos),
                                    seg_bufs[i].data(), seg_bufs[i].size());
    }
  }
  return absl::OkStatus();
}

absl::Status VolumeImpl::RunBatch(Batch* batch, absl::FunctionRef<void()> while_writing) {
  // 1. Verify every header and checksum before anything reaches the origin.
  //    The ZERO/TRIM blocks must be those the index holds: that bounds what
  //    writeback stages by what replay accepted, whatever the cache says now.
  const std::vector<AlignedBuffer>& seg_bufs = batch->bufs;
  std::vector<SegmentHeader> headers;
  for (size_t si = 0; si < batch->segs.size(); si++) {
    const auto& s = batch->segs[si];
    absl::StatusOr<SegmentHeader> h = DecodeSegmentMeta(seg_bufs[si].data(), geo_, sb_.uuid);
    uint64_t zero_blocks = 0;
    if (h.ok()) {
      for (const SegmentEntry& e : h->entries) {
        if (e.kind == EntryKind::kZero || e.kind == EntryKind::kTrim) zero_blocks += e.aux;
      }
    }
#ifdef WB_MUTANT_unbounded_aux
    // Mutant: the old check, which trusts the runs' lengths on the cache.
    zero_blocks = s.nr_virtual;
#endif
    if (!h.ok() || h->id != s.id || h->data_blocks != s.nr_data ||
        zero_blocks != s.nr_virtual) {
      return absl::DataLossError(absl::StrFormat(
          "segment %u on the cache is corrupt: %s", s.id,
          h.ok() ? "not the segment that was replayed or written" : h.status().message()));
    }
    const char* data = seg_bufs[si].data() + uint64_t{geo_.meta_blocks} * kBlockSize;
    for (const SegmentEntry& e : h->entries) {
      if (!EntryKindHasData(e.kind)) continue;
      // CLEAN copies are equal to the origin already: never written back.
      if (e.kind == EntryKind::kDirty && Crc32c(data, kBlockSize) != e.data_crc) {
        return absl::DataLossError(absl::StrFormat(
            "segment %u: data of origin block %u does not match its checksum",
            h->id, e.origin_block));
      }
      data += kBlockSize;
    }
    headers.push_back(std::move(*h));
  }
#ifdef WB_MUTANT_unbounded_aux
  {
    // Mutant: sizes a staging buffer by the entries' aux, as the old code did.
    uint64_t most_staged = 0;
    for (const SegmentHeader& h : headers) {
      for (const SegmentEntry& e : h.entries) {
        most_staged += EntryKindHasData(e.kind) ? 1 : e.aux;
      }
    }
    AlignedBuffer staging(std::max<uint64_t>(1, most_staged) * kBlockSize);
  }
#endif

  // 2. Flush epoch by Flush epoch: the origin is flushed at each Flush
  //    boundary before anything after it is written. Sorted mode (and a
  //    batch that is one Flush epoch) is one group.
  const size_t n = batch->segs.size();
  uint64_t bytes = 0, discarded = 0;
  for (size_t begin = 0; begin < n;) {
    size_t end = begin + 1;
    while (end < n && (batch->mode != kWritebackOrdered ||
                       !batch->segs[end].flush_boundary)) {
      end++;
    }
#ifdef WB_MUTANT_merge_epochs
    // Mutant: one sort over the whole batch, Flush boundaries ignored.
    end = n;
#endif
    if (absl::Status st = WriteGroup(*batch, headers, begin, end, while_writing,
                                     /*call_while_writing=*/begin == 0, &bytes,
                                     &discarded);
        !st.ok()) {
      return absl::UnavailableError(
          absl::StrFormat("writing back to the origin: %s", st.message()));
    }
#ifdef WB_MUTANT_no_origin_flush
    // Mutant: progress may be recorded before the origin holds the batch.
    if (end == n) break;
#endif
    // The origin must hold this epoch durably before the next one, and the
    // whole batch before progress is recorded.
    if (absl::Status st = origin_->Flush(); !st.ok()) {
      return absl::UnavailableError(
          absl::StrFormat("flushing the origin: %s", st.message()));
    }
    begin = end;
  }
  batch->bytes = bytes;
  batch->discarded_blocks = discarded;
  return absl::OkStatus();
}

absl::Status VolumeImpl::WriteGroup(const Batch& batch,
                                    const std::vector<SegmentHeader>& headers,
                                    size_t begin, size_t end,
                                    absl::FunctionRef<void()> while_writing,
                                    bool call_while_writing, uint64_t* bytes,
                                    uint64_t* discarded) {
  // 1. Stage the last version of each block. A data entry gets a staging
  //    slot (at most one each, so the buffer is bounded by the segments'
  //    data blocks); ZERO and TRIM blocks need none.
  uint64_t data_entries = 0;
  for (size_t si = begin; si < end; si++) data_entries += batch.segs[si].nr_data;
  AlignedBuffer staging(std::max<uint64_t>(1, data_entries) * kBlockSize);
  uint32_t slots_used = 0;
  absl::flat_hash_map<uint64_t, uint32_t> staged_of;
  std::vector<Staged> staged;
  auto stage = [&](uint64_t block) -> std::pair<Staged&, bool> {
    auto [it, fresh] = staged_of.try_emplace(block, static_cast<uint32_t>(staged.size()));
    if (fresh) staged.push_back({block, 0, Staged::kZeroes, false});
    return {staged[it->second], fresh};
  };
  for (size_t si = begin; si < end; si++) {
    const SegmentHeader& h = headers[si];
    const char* data = batch.bufs[si].data() + uint64_t{geo_.meta_blocks} * kBlockSize;
    for (const SegmentEntry& e : h.entries) {
      if (e.kind == EntryKind::kZero || e.kind == EntryKind::kTrim) {
        for (uint64_t b = e.origin_block; b < e.origin_block + e.aux; b++) {
          auto [st, fresh] = stage(b);
          st.slot = Staged::kZeroes;
          st.mask = geo_.ValidSectorMask(b);
          // A discard may leave the origin's old data: only right when
          // nothing newer than that is in this group (zero_trim.cc).
          st.discard = e.kind == EntryKind::kTrim && fresh;
        }
        continue;
      }
      if (!EntryKindHasData(e.kind)) continue;
      if (e.kind == EntryKind::kClean) {  // equal to the origin already
        data += kBlockSize;
        continue;
      }
      // The last version of each sector within the group wins.
      Staged& st = stage(e.origin_block).first;
      if (st.slot == Staged::kZeroes) {
        st.slot = slots_used++;
        std::memset(staging.data() + uint64_t{st.slot} * kBlockSize, 0, kBlockSize);
      }
      char* dst = staging.data() + uint64_t{st.slot} * kBlockSize;
      for (uint32_t i = 0; i < kSectorsPerBlock; i++) {
        if (e.mask & (1u << i)) {
          std::memcpy(dst + i * kSectorSize, data + i * kSectorSize, kSectorSize);
        }
      }
      st.mask |= e.mask;
      st.discard = false;
      data += kBlockSize;
    }
  }

  // 2. Sort by origin address; lay full data blocks out contiguously so
  //    that neighbours merge into large writes (zeroes too, from ZeroRun).
  std::sort(staged.begin(), staged.end(),
            [](const Staged& a, const Staged& b) { return a.block < b.block; });
  AlignedBuffer sorted(std::max<uint64_t>(1, slots_used) * kBlockSize);
  uint64_t sorted_used = 0;
  struct Run {
    uint64_t offset;
    uint64_t length;
    const char* data;
    bool zero;
  };
  std::vector<Run> runs;
  std::vector<Run> discards;  // data unused
  std::vector<const Staged*> partial;
  uint64_t discard_blocks = 0;
  uint64_t unwritten = 0;  // trimmed blocks: discarded or left alone
  for (const Staged& st : staged) {
    const uint64_t off = st.block * kBlockSize;
    const uint64_t len = std::min<uint64_t>(kBlockSize, geo_.origin_size - off);
    // A discard that might leave old data would let the volume's content
    // change under a reader after writeback: those trims write zeroes.
    if (st.discard && origin_->supports_discard() && origin_->discard_zeroes()) {
      unwritten++;
      if (!discards.empty() && discards.back().offset + discards.back().length == off) {
        discards.back().length += len;
      } else {
        discards.push_back({off, len, nullptr, true});
      }
      discard_blocks++;
      continue;
    }
    if (st.mask != geo_.ValidSectorMask(st.block)) {
      partial.push_back(&st);  // only data entries leave a block partial
      continue;
    }
    const bool zero = st.slot == Staged::kZeroes;
    const char* src = ZeroRun();
    if (!zero) {
      char* dst = sorted.data() + sorted_used++ * kBlockSize;
      std::memcpy(dst, staging.data() + uint64_t{st.slot} * kBlockSize, kBlockSize);
      src = dst;
    }
    if (!runs.empty() && runs.back().offset + runs.back().length == off &&
        runs.back().zero == zero &&
        (zero || runs.back().data + runs.back().length == src) &&
        runs.back().length + len <= kMaxRun && len == kBlockSize) {
      runs.back().length += len;
    } else {
      runs.push_back({off, len, src, zero});
    }
  }

  // 3. Write at depth; partial blocks go sector run by sector run.
  absl::Mutex io_mu;
  int in_flight = 0;
  absl::Status io_status;
  for (const Run& r : runs) {
    {
      absl::MutexLock l(&io_mu);
      auto room = [&] { return in_flight < options_.writeback_depth; };
      io_mu.Await(absl::Condition(&room));
      in_flight++;
    }
    bool aligned = r.length % origin_->logical_block_size() == 0;
    if (!aligned) {
      absl::Status st = WriteSectors(*origin_, r.offset, r.data, r.length);
      absl::MutexLock l(&io_mu);
      io_status.Update(st);
      in_flight--;
      continue;
    }
    origin_->Submit({IoOp::kWrite, r.offset, r.length, const_cast<char*>(r.data)},
                    [&](absl::Status st) {
                      absl::MutexLock l(&io_mu);
                      io_status.Update(st);
                      in_flight--;
                    });
  }
  // The origin is busy with this batch: read the next one from the cache
  // meanwhile.
  if (call_while_writing) while_writing();
  {
    absl::MutexLock l(&io_mu);
    auto idle = [&] { return in_flight == 0; };
    io_mu.Await(absl::Condition(&idle));
  }
  for (const Staged* st : partial) {
    const char* src = staging.data() + uint64_t{st->slot} * kBlockSize;
    const uint8_t mask = st->mask;
    for (uint32_t s = 0; s < kSectorsPerBlock; s++) {
      if (!(mask & (1u << s))) continue;
      uint32_t e = s;
      while (e + 1 < kSectorsPerBlock && (mask & (1u << (e + 1)))) e++;
      io_status.Update(WriteSectors(*origin_,
                                    st->block * kBlockSize + s * kSectorSize,
                                    src + s * kSectorSize,
                                    uint64_t{e - s + 1} * kSectorSize));
      s = e;
    }
  }
  for (const Run& d : discards) io_status.Update(origin_->Discard(d.offset, d.length));
  if (!io_status.ok()) return io_status;
  *bytes += (staged.size() - unwritten) * kBlockSize;
  *discarded += discard_blocks;
  return absl::OkStatus();
}

absl::Status VolumeImpl::WriteProgress() {
  absl::MutexLock pl(&progress_mu_);
  ProgressRecord rec;
  {
    absl::MutexLock l(&mu_);
    rec.seq = ++progress_seq_;
    rec.uuid = sb_.uuid;
    rec.last_writeback_id = last_writeback_id_;
    auto it = segments_.find(last_writeback_id_ + 1);
    rec.next_pos = it != segments_.end() ? it->second->pos : head_pos_;
    rec.gen = gen_;
    rec.gen_start_id = gen_start_id_;
    rec.tunables = tunables_;
  }
  AlignedBuffer block(kBlockSize);
  rec.EncodeTo(block.data());
  absl::Status st = cache_->Write(kProgressBlock[rec.copy()] * kBlockSize,
                                  block.data(), kBlockSize);
  if (st.ok()) st = cache_->Flush();
  absl::MutexLock l(&mu_);
  if (!st.ok()) {
    cache_errors_++;
    Fail(st);
    return failed_;
  }
  progress_recorded_id_ = std::max(progress_recorded_id_, rec.last_writeback_id);
  last_progress_write_ = absl::Now();
  FreeWrittenBack();
  return absl::OkStatus();
}

void VolumeImpl::FreeWrittenBack() {
#ifdef WB_MUTANT_reuse_before_progress
  // Mutant: reuses ring space before the progress record is durable.
  const uint64_t limit = last_writeback_id_;
#else
  const uint64_t limit = progress_recorded_id_;
#endif
  bool freed = false;
  while (!segments_.empty()) {
    Segment* s = segments_.begin()->second.get();
    if (s->id > limit || s->pins > 0 || s->buf != nullptr) break;
    // Its ring space is free now; its clean blocks serve reads until the
    // head reaches them (read_cache.cc).
    FreeVirtual(s);
    s->state = Segment::State::kRetained;
    retained_[s->pos] = std::move(segments_.begin()->second);
    segments_.erase(segments_.begin());
    freed = true;
  }
  if (freed) {
    space_progress_++;
    state_cv_.SignalAll();
  }
}

void VolumeImpl::WritebackLoop() {
  absl::MutexLock l(&mu_);
  absl::Time last_sample = absl::Now();
  uint64_t last_busy = origin_busy_ns_.load();
  uint64_t last_reads = origin_reads_.load();
  uint64_t last_wb_bytes = writeback_bytes_;
  absl::Duration backoff = absl::Milliseconds(100);
  Batch ahead;  // the next batch, read from the cache during the last one
  absl::Status ahead_status;
  while (!stop_) {
    absl::Time now = absl::Now();
    if (now - last_sample >= absl::Milliseconds(500)) {
      uint64_t busy = origin_busy_ns_.load();
      double window = absl::ToDoubleNanoseconds(now - last_sample);
      origin_util_percent_ = static_cast<uint32_t>(
          std::min(100.0, 100.0 * static_cast<double>(busy - last_busy) / window));
      // No foreground reads in the window: nothing to protect.
      uint64_t reads = origin_reads_.load();
      origin_read_latency_ms_ =
          reads == last_reads
              ? 0
              : static_cast<double>(busy - last_busy) / 1e6 /
                    static_cast<double>(reads - last_reads);
      last_reads = reads;
      last_busy = busy;
      // Exponential smoothing over ~10 samples of 0.5 s.
      double rate = static_cast<double>(writeback_bytes_ - last_wb_bytes) * 1e9 / window;
      writeback_rate_bps_ += 0.1 * (rate - writeback_rate_bps_);
      last_wb_bytes = writeback_bytes_;
      last_sample = now;
    }
    if (!failed_.ok()) {
      if (!stop_) wb_cv_.WaitWithTimeout(&mu_, absl::Seconds(1));
      continue;
    }
    bool urgent = writers_waiting_ > 0 || drop_requests_ > 0 ||
                  LowOnSpace();
    if (last_writeback_id_ > progress_recorded_id_ &&
        (urgent || progress_wanted_ || now - last_progress_write_ >=
                       absl::Seconds(tunables_.update_sb_record_interval))) {
      progress_wanted_ = false;
      mu_.Unlock();
      WriteProgress().IgnoreError();  // failure is recorded in failed_
      mu_.Lock();
      continue;
    }
    if (!WritebackAllowed()) {
      if (!stop_) wb_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(100));
      continue;
    }
    // The batch read ahead while the previous one was written is still the
    // one to write if that one succeeded (its segments are whole closed
    // epochs, written to the cache, and nothing frees them before they are
    // written back).
    Batch batch;
    absl::Status st;
    if (!ahead.segs.empty() && ahead.segs.front().id == last_writeback_id_ + 1 &&
        ahead.mode == tunables_.writeback_mode) {
      batch = std::move(ahead);
      st = ahead_status;
    } else {
      if (!PlanBatch(last_writeback_id_, /*may_cut=*/true, &batch)) {
        if (!stop_) wb_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(100));
        continue;
      }
      mu_.Unlock();
      st = ReadBatch(&batch);
      mu_.Lock();
    }
    ahead = Batch();
    mu_.Unlock();
    if (st.ok()) {
      st = RunBatch(&batch, [&] {
        bool planned;
        {
          absl::MutexLock l(&mu_);
          planned = !stop_ &&
                    PlanBatch(batch.segs.back().id, /*may_cut=*/false, &ahead);
        }
        if (planned) ahead_status = ReadBatch(&ahead);
      });
    }
    mu_.Lock();
    if (!st.ok()) {
      if (absl::IsDataLoss(st)) {
        checksum_errors_++;
        Fail(st);
        continue;
      }
      if (batch.cache_error) {
        // Counted and retried in ReadBatch: the cache cannot give back
        // dirty data. Writes stop; what is durable stays and reads of
        // everything the cache can still serve keep working.
        Fail(st);
        continue;
      }
      // Origin trouble: the data stays dirty; retry with backoff.
      origin_errors_++;
      last_origin_error_ = std::string(st.message());
      // Close may have signalled while the batch ran unlocked.
      if (!stop_) wb_cv_.WaitWithTimeout(&mu_, backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    backoff = absl::Milliseconds(100);
    for (const auto& s : batch.segs) {
      Segment* seg = segments_.at(s.id).get();
      for (uint32_t i = 0; i < s.nr_data; i++) {
        uint32_t cb = DataBlock(*seg, i);
        if (!IsClean(cb)) nr_dirty_blocks_--;
        RetireWrittenBack(cb);
      }
      for (uint32_t vcb : seg->virtual_cbs) {  // freed with the segment
        nr_dirty_blocks_--;
        ForgetCopy(vcb);
      }
    }
    last_writeback_id_ = batch.segs.back().id;
    writeback_bytes_ += batch.bytes;
    discarded_blocks_ += batch.discarded_blocks;
    writeback_batches_++;
#ifdef WB_MUTANT_reuse_before_progress
    FreeWrittenBack();
#endif
    state_cv_.SignalAll();
  }
}

}  // namespace wb
