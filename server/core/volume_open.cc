// Opening (recovery), closing, status, tunables and messages.
#include <cstdlib>

#include "absl/strings/str_format.h"
#include "server/core/volume_impl.h"

namespace wb {

Volume::~Volume() = default;

absl::StatusOr<std::unique_ptr<Volume>> Volume::Open(
    std::unique_ptr<Device> cache, std::unique_ptr<Device> origin,
    const OpenOptions& options) {
  if (cache == nullptr || origin == nullptr) {
    return absl::InvalidArgumentError("a volume needs a cache and an origin");
  }
  absl::StatusOr<CacheHead> head = ReadCacheHead(*cache);
  if (!head.ok()) return head.status();
  if (absl::Status s = CheckOrigin(head->sb, origin->size(),
                                   options.origin_identity);
      !s.ok()) {
    return s;
  }
  if (head->geo.ring_blocks >= BlockIndex::kNone) {
    return absl::FailedPreconditionError("cache is larger than 16 TiB");
  }
  auto impl = std::make_unique<VolumeImpl>(std::move(cache), std::move(origin),
                                           options, *head);
  if (absl::Status s = impl->Recover(); !s.ok()) return s;
  return impl;
}

VolumeImpl::VolumeImpl(std::unique_ptr<Device> cache,
                       std::unique_ptr<Device> origin,
                       const OpenOptions& options, const CacheHead& head)
    : cache_(std::move(cache)),
      origin_(std::move(origin)),
      options_(options),
      sb_(head.sb),
      geo_(head.geo),
      index_([this](uint32_t cb) { return OriginOf(cb); }) {
  // Ring blocks, then virtual blocks (zero_trim.cc); untouched pages of
  // the calloc cost no memory.
  block_meta_ = static_cast<uint64_t*>(
      std::calloc(geo_.ring_blocks + MaxVirtual(), sizeof(uint64_t)));
  uint64_t n = std::max<uint64_t>(2, options.rambuf_size / geo_.segment_size);
  for (uint64_t i = 0; i < n; i++) {
    buffers_.push_back(std::make_unique<RamBuffer>(geo_.segment_size));
  }
  absl::MutexLock l(&mu_);
  for (auto& b : buffers_) free_buffers_.push_back(b.get());
  tunables_ = head.progress.tunables;
  next_virtual_ = static_cast<uint32_t>(geo_.ring_blocks);
  progress_seq_ = head.progress.seq;
  last_writeback_id_ = progress_recorded_id_ = head.progress.last_writeback_id;
  gen_ = head.progress.gen;
}

VolumeImpl::~VolumeImpl() {
  if (!closed_) Close().IgnoreError();
  std::free(block_meta_);
}

void VolumeImpl::AddReplayedSegment(uint64_t pos, const SegmentHeader& h) {
  auto seg = std::make_unique<Segment>();
  seg->id = h.id;
  seg->pos = pos;
  seg->starts_epoch = h.starts_epoch();
  seg->internal_cut = h.starts_epoch() && !h.flush_boundary();
  seg->state = Segment::State::kWritten;
  seg->created = absl::Now();
  for (const SegmentEntry& e : h.entries) {
    if (e.kind == EntryKind::kZero || e.kind == EntryKind::kTrim) {
      for (uint64_t b = e.origin_block; b < e.origin_block + std::max(1u, e.aux); b++) {
        uint32_t vcb = AllocVirtual(b, e.kind == EntryKind::kTrim);
        if (vcb == BlockIndex::kNone) {
          // The writer never has more live than there are ids.
          if (replay_error_.ok()) {
            replay_error_ = absl::DataLossError(absl::StrFormat(
                "segment %u holds more ZERO/TRIM blocks than the cache can index", h.id));
          }
          break;
        }
        seg->virtual_cbs.push_back(vcb);
        index_.Put(b, vcb);
        nr_dirty_blocks_++;
      }
      continue;
    }
    if (!EntryKindHasData(e.kind)) continue;
    uint32_t cb = DataBlock(*seg, seg->nr_data++);
    block_meta_[cb] = e.origin_block | (uint64_t{e.mask} << 48);
    // The read cache does not survive a restart (read_cache.cc): a clean
    // copy keeps its slot but is never indexed.
    if (e.kind == EntryKind::kClean) {
      block_meta_[cb] |= kCleanBit;
      continue;
    }
    nr_dirty_blocks_++;
    uint32_t cur = index_.Find(e.origin_block);
    if (cur != BlockIndex::kNone &&
        e.mask != geo_.ValidSectorMask(e.origin_block)) {
      older_[cb] = cur;
    }
    index_.Put(e.origin_block, cb);
  }
  by_pos_[pos] = seg.get();
  segments_[h.id] = std::move(seg);
}

absl::Status VolumeImpl::Recover() {
  absl::StatusOr<CacheHead> head = ReadCacheHead(*cache_);
  if (!head.ok()) return head.status();
  absl::StatusOr<ReplayReport> report = ReplayLog(
      *cache_, *head, ReplayOptions{},
      [this](uint64_t pos, const SegmentHeader& h) {
        absl::MutexLock l(&mu_);
        AddReplayedSegment(pos, h);
      });
  if (!report.ok()) return report.status();
  {
    absl::MutexLock l(&mu_);
    if (!replay_error_.ok()) return replay_error_;
  }
  mu_.Lock();
  next_id_ = report->last_id + 1;
  head_pos_ = report->next_pos;
  completed_through_ = durable_through_ = flush_wanted_through_ = report->last_id;
  next_starts_epoch_ = true;
  // A progress record lost to a torn write may have carried gen + 1 and have
  // segments of that generation behind it; skip past it so that none of them
  // can ever be accepted in the new generation (docs/FORMAT.md, rule 6).
  gen_ = head->progress.gen + (head->progress_copies_valid == 2 ? 1 : 2);
  gen_start_id_ = next_id_;
  mu_.Unlock();
  // The new generation must be durable before any segment of it is written
  // (docs/FORMAT.md, recovery rule 6).
  if (absl::Status s = WriteProgress(); !s.ok()) return s;
  flusher_ = std::thread([this] { FlusherLoop(); });
  if (options_.enable_writeback) {
    writeback_ = std::thread([this] { WritebackLoop(); });
  }
  return absl::OkStatus();
}

absl::Status VolumeImpl::Close() {
  if (closed_) return absl::OkStatus();
  absl::Status result;
  {
    absl::MutexLock l(&mu_);
    closing_ = true;
    state_cv_.SignalAll();
  }
  // Make everything acknowledged durable before stopping.
  result.Update(Flush());
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    flusher_cv_.SignalAll();
    wb_cv_.SignalAll();
    state_cv_.SignalAll();
  }
  if (flusher_.joinable()) flusher_.join();
  if (writeback_.joinable()) writeback_.join();
  bool failed;
  {
    absl::MutexLock l(&mu_);
    failed = !failed_.ok();
  }
  if (!failed) result.Update(WriteProgress());
  closed_ = true;
  return result;
}

uint64_t VolumeImpl::UsedBlocks() const {
  if (segments_.empty()) return 0;
  uint64_t tail = segments_.begin()->second->pos;
  uint64_t head = open_ ? open_->pos + geo_.seg_blocks : head_pos_;
  if (head > tail) return head - tail;
  return geo_.ring_blocks - tail + head;
}

VolumeStatus VolumeImpl::GetStatus() {
  absl::MutexLock l(&mu_);
  VolumeStatus st;
  st.cursor_pos = open_ ? open_->pos : head_pos_;
  st.nr_segments = geo_.ring_blocks / geo_.seg_blocks;
  st.nr_cache_blocks = st.nr_segments * geo_.max_data_blocks;
  st.current_id = next_id_ - 1;
  st.last_flushed_id = durable_through_;
  st.last_writeback_id = last_writeback_id_;
  st.nr_dirty_cache_blocks = nr_dirty_blocks_;
  st.nr_partial_flushed = nr_partial_flushed_;
  st.stat = stat_;
  st.size_bytes = geo_.origin_size;
  st.segment_size = geo_.segment_size;
  st.ring_blocks = geo_.ring_blocks;
  st.free_blocks = geo_.ring_blocks - UsedBlocks();
  st.dirty_segments = next_id_ - 1 - last_writeback_id_;
  st.writeback_bytes = writeback_bytes_;
  st.writeback_batches = writeback_batches_;
  st.origin_errors = origin_errors_;
  st.cache_errors = cache_errors_;
  st.checksum_errors = checksum_errors_;
  st.writers_waiting = writers_waiting_;
  st.log_full_waits = log_full_waits_;
  st.group_commits = group_commits_;
  st.index_bytes = index_.MemoryBytes() +
                   older_.capacity() * (sizeof(uint32_t) * 2 + 1) +
                   geo_.ring_blocks * sizeof(uint64_t);
  auto oldest = segments_.upper_bound(last_writeback_id_);
  // Segments holding only staged reads are nothing to recover.
  if (oldest != segments_.end() && nr_dirty_blocks_ > 0) {
    st.oldest_dirty_age_s =
        absl::ToDoubleSeconds(absl::Now() - oldest->second->created);
  }
  for (auto it = oldest; it != segments_.end(); ++it) {
    st.dirty_epochs += it == oldest || it->second->starts_epoch;
  }
  st.internal_epoch_cuts = internal_epoch_cuts_;
  st.read_cache_staged = read_cache_staged_;
  st.read_cache_hits = read_cache_hits_;
  st.clean_blocks = clean_blocks_;
  st.zero_blocks = zero_blocks_;
  st.trim_blocks = trim_blocks_;
  st.discarded_blocks = discarded_blocks_;
  st.writeback_rate_bps = writeback_rate_bps_;
  st.origin_read_latency_ms = origin_read_latency_ms_;
  st.origin_util_percent = origin_util_percent_;
  st.failed = !failed_.ok();
  st.failure = std::string(failed_.message());
  st.last_origin_error = last_origin_error_;
  st.tunables = tunables_;
  st.gen = gen_;
  return st;
}

absl::Status VolumeImpl::SetTunable(absl::string_view name, uint64_t value) {
  bool to_write_around;
  {
    absl::MutexLock l(&mu_);
    Tunables t = tunables_;
    if (absl::Status s = wb::SetTunable(&t, name, value); !s.ok()) return s;
    to_write_around = t.write_around_mode != 0 && tunables_.write_around_mode == 0;
    tunables_ = t;
    flusher_cv_.SignalAll();
    wb_cv_.SignalAll();
  }
  if (absl::Status s = WriteProgress(); !s.ok()) return s;
  // Write-around takes effect once nothing is dirty: drain now, so that it
  // has when this returns.
  if (to_write_around) return DropCaches(nullptr);
  return absl::OkStatus();
}

absl::Status VolumeImpl::SendMessage(absl::string_view message) {
  if (message == "clear_stat") {
    absl::MutexLock l(&mu_);
    stat_.fill(0);
    return absl::OkStatus();
  }
  if (message == "drop_caches") return DropCaches(nullptr);
  return absl::InvalidArgumentError(absl::StrFormat(
      "unknown message \"%s\"; known: drop_caches, clear_stat", message));
}

absl::Status VolumeImpl::DropCaches(std::function<void(uint64_t)> progress) {
  // Seal and flush first: unlike the seed, drop_caches needs no suspend.
  if (absl::Status s = Flush(); !s.ok()) return s;
  absl::MutexLock l(&mu_);
  drop_requests_++;
  wb_cv_.SignalAll();
  absl::Status result;
  while (true) {
    if (!failed_.ok()) {
      result = failed_;
      break;
    }
    if (stop_) {
      result = absl::UnavailableError("volume is closing");
      break;
    }
    bool drained = open_ == nullptr && last_writeback_id_ == next_id_ - 1 &&
                   progress_recorded_id_ == last_writeback_id_;
    if (drained) break;
    if (open_ != nullptr && !SegmentEmpty(*open_)) {
      Seal(open_);
      CutEpoch();
    }
    if (progress) {
      uint64_t left = nr_dirty_blocks_;
      mu_.Unlock();
      progress(left);
      mu_.Lock();
    }
    state_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(200));
  }
  drop_requests_--;
  if (result.ok() && progress) {
    mu_.Unlock();
    progress(0);
    mu_.Lock();
  }
  return result;
}

}  // namespace wb
