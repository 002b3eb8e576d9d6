// Read caching: clean copies of origin blocks in the log.
//
// Two kinds of clean copy serve reads:
// - staged: a block a read fetched wholly from the origin (read_cache_
//   threshold on, the read not part of a long sequential run) is appended
//   to the open segment as a CLEAN entry;
// - retained: once a batch is written back, the newest full copy of each of
//   its blocks stays indexed, marked clean, and its segment is kept
//   (kRetained) after its ring space is freed.
// Both live until the head of the log reaches their ring blocks
// (EvictRetained), a write replaces them, or a write goes around the cache
// (DropCleanCopy). Neither is ever written back.
//
// No stale read: a block is registered as a fill under mu_ before its origin
// read, only if the cache has no copy; every write that changes the block
// afterwards marks the fill stale, and a write going around the cache at any
// moment of the fill's life voids it: one in flight at registration (its
// origin write may land after the read) or one started since (MarkAround).
// A fill is staged only if it is still fresh and the block still has no
// copy, all under mu_, so a newer value always wins.
//
// Replay ignores CLEAN entries (recovery): a crash forgets the read cache,
// so a clean copy can never outlive a write that reached the origin around
// the cache.
#include <cstring>

#include "server/core/volume_impl.h"

namespace wb {

bool VolumeImpl::ReadRunTooLong(uint64_t offset, uint64_t length) {
  read_run_bytes_ = offset == read_run_end_ ? read_run_bytes_ + length : length;
  read_run_end_ = offset + length;
  return read_run_bytes_ >
         uint64_t{tunables_.read_cache_threshold} * kBlockSize;
}

void VolumeImpl::RegisterFill(uint64_t block) { read_fills_[block].readers++; }

void VolumeImpl::StageFills(const std::vector<uint64_t>& blocks,
                            const std::vector<const char*>& data,
                            AroundMark around_seen) {
  if (blocks.empty()) return;
  absl::MutexLock l(&mu_);
  // data is empty when the read failed: only unregister.
  // A write going around the cache while the fill lived may have reached
  // the origin before or after the read: trust none of what it read. One
  // in flight at registration counts even if it has completed since.
#if defined(WB_MUTANT_stale_staging)
  // Mutant: write-arounds never void a fill.
  const bool around_quiet = true;
#elif defined(WB_MUTANT_around_overlap)
  // Mutant: only a write-around started after registration voids a fill.
  const bool around_quiet = around_started_ == around_seen.started && around_in_flight_ == 0;
#else
  const bool around_quiet = !around_seen.busy && around_started_ == around_seen.started;
#endif
  for (size_t i = 0; i < blocks.size(); i++) {
    const uint64_t block = blocks[i];
    auto it = read_fills_.find(block);
#ifdef WB_MUTANT_stale_staging
    // Mutant: a write since registration does not void the fill.
    bool fresh = true;
#else
    bool fresh = !it->second.stale;
#endif
    if (--it->second.readers == 0) read_fills_.erase(it);
    if (!fresh || !around_quiet || data.empty() || index_.Find(block) != BlockIndex::kNone ||
        !failed_.ok() || closing_ || LowOnSpace()) {
      continue;
    }
    Segment* seg = open_;
    if (seg == nullptr || SegmentFull(*seg)) {
      seg = TryOpenSegment();
      if (seg == nullptr) continue;  // the log is busy: unregister the rest
    }
    uint32_t slot = seg->nr_data++;
    seg->buf->slot_of[block] = slot;
    uint32_t cb = DataBlock(*seg, slot);
    // Copied under mu_: a write to the block may overwrite the slot in place
    // as soon as mu_ is released.
    std::memcpy(SlotData(*seg, slot), data[i], kBlockSize);
    block_meta_[cb] =
        block | (uint64_t{geo_.ValidSectorMask(block)} << 48) | kCleanBit;
    index_.Put(block, cb);
    clean_blocks_++;
    read_cache_staged_++;
    if (SegmentFull(*seg)) Seal(seg);
  }
}

void VolumeImpl::DropCleanCopy(uint64_t block) {
  uint32_t cb = index_.Find(block);
  if (cb == BlockIndex::kNone || !IsClean(cb)) return;
  ForgetCopy(cb);
  clean_blocks_--;
  // A clean copy in the open buffer must not take a later write in place.
  Segment* seg = SegmentOf(cb);
  if (seg == open_) seg->buf->slot_of.erase(block);
}

void VolumeImpl::RetireWrittenBack(uint32_t cb) {
  const uint64_t block = OriginOf(cb);
  const bool newest = index_.Find(block) == cb;
  if (newest && MaskOf(cb) == geo_.ValidSectorMask(block)) {
    if (!IsClean(cb)) {
      block_meta_[cb] |= kCleanBit;
      clean_blocks_++;
    }
    return;
  }
  if (newest && IsClean(cb)) clean_blocks_--;
  ForgetCopy(cb);
}

bool VolumeImpl::EvictRetained(uint64_t pos, uint64_t blocks) {
  for (auto it = retained_.lower_bound(pos);
       it != retained_.end() && it->first < pos + blocks;) {
    Segment* s = it->second.get();
#ifdef WB_MUTANT_evict_pinned
    // Mutant: a reader's pin does not hold the head back; the segment is
    // leaked so that its Unpin stays defined, but its ring blocks are reused
    // under the reader.
    const bool leak = s->pins > 0;
#else
    if (s->pins > 0) return false;
#endif
    for (uint32_t i = 0; i < s->nr_data; i++) {
      uint32_t cb = DataBlock(*s, i);
      if (index_.Find(OriginOf(cb)) == cb && IsClean(cb)) clean_blocks_--;
      ForgetCopy(cb);
    }
    by_pos_.erase(s->pos);
#ifdef WB_MUTANT_evict_pinned
    if (leak) static_cast<void>(it->second.release());
#endif
    it = retained_.erase(it);
  }
  return true;
}

}  // namespace wb
