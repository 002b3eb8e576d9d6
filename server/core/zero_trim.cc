// WriteZeroes and Trim: whole blocks are recorded as ZERO and TRIM entries,
// which take an entry in a segment's metadata but no data block, so zeroing
// or trimming a large range costs the log a few bytes per block.
//
// In memory each such block gets a virtual cache block (an id past the ring)
// in the index, like a data copy: reads see zeroes, later writes supersede
// it, and writeback applies it in its epoch. A segment lists its virtual
// blocks after its data entries, so a write to a block that a virtual entry
// of the open segment zeroed goes to the next segment (write_path.cc).
//
// At writeback a ZERO block is written as zeroes; a TRIM block is passed to
// the origin as a discard when the origin supports it and nothing older of
// the block is in the same batch (the discard may leave the origin's old
// data in place, which must then be the value from just before the trim);
// otherwise it is written as zeroes too, or, on an origin without discard,
// left alone. The block contract allows all three: a trimmed sector reads
// back as zeroes or as the value it held just before the trim.
//
// Virtual ids are bounded (one per ring block); past that, WriteZeroes
// writes zero blocks through the log and Trim leaves the rest in place.
#include <algorithm>
#include <vector>

#include "server/core/volume_impl.h"

namespace wb {

uint32_t VolumeImpl::AllocVirtual(uint64_t block, bool trim) {
  uint32_t cb;
  if (!free_virtual_.empty()) {
    cb = free_virtual_.back();
    free_virtual_.pop_back();
  } else if (next_virtual_ < geo_.ring_blocks + MaxVirtual()) {
    cb = next_virtual_++;
  } else {
    return BlockIndex::kNone;
  }
  block_meta_[cb] = block | (uint64_t{geo_.ValidSectorMask(block)} << 48) |
                    (trim ? kTrimBit : 0);
  return cb;
}

void VolumeImpl::FreeVirtual(Segment* s) {
  for (uint32_t cb : s->virtual_cbs) {
    block_meta_[cb] = 0;
    free_virtual_.push_back(cb);
  }
  s->virtual_cbs.clear();
}

absl::StatusOr<uint64_t> VolumeImpl::RecordZeroBlocks(uint64_t first, uint64_t count,
                                                      bool trim, uint64_t* last_id) {
  uint64_t done = 0;
  while (done < count) {
    absl::MutexLock l(&mu_);
    absl::StatusOr<Segment*> acquired = AcquireOpenSegment();
    if (!acquired.ok()) return acquired.status();
    Segment* seg = *acquired;
    bool out_of_ids = false;
    while (done < count && !SegmentFull(*seg, /*virtual_entry=*/true)) {
      const uint64_t block = first + done;
      uint32_t vcb = AllocVirtual(block, trim);
      if (vcb == BlockIndex::kNone) {
        out_of_ids = true;
        break;
      }
      VoidFill(block);
      // A data copy of the block in this buffer is older now: a later write
      // must not overwrite it in place.
      seg->buf->slot_of.erase(block);
      uint32_t cur = index_.Find(block);
      if (cur != BlockIndex::kNone && IsClean(cur)) clean_blocks_--;
      index_.Put(block, vcb);
      seg->virtual_cbs.push_back(vcb);
      nr_dirty_blocks_++;
      (trim ? trim_blocks_ : zero_blocks_)++;
      stat_[StatIndex(true, cur != BlockIndex::kNone, false, true)]++;
      done++;
    }
    if (SegmentEmpty(*seg)) {
      // Out of ids in a segment opened for this call (at a segment
      // boundary): give it back, as nothing would ever seal it.
      AbandonOpenSegment();
      break;
    }
    *last_id = seg->id;
    if (SegmentFull(*seg, /*virtual_entry=*/true)) Seal(seg);
    if (out_of_ids) break;
  }
  return done;
}

absl::Status VolumeImpl::WriteZeroes(uint64_t offset, uint64_t length, bool fua) {
  if (absl::Status s = CheckRange(offset, length); !s.ok()) return s;
  static const std::vector<char> kZeros(1 << 20, 0);
  // Zero data through the normal write path, for partial blocks and for
  // whatever the virtual blocks could not take.
  auto write_zeros = [this](uint64_t off, uint64_t len) {
    for (uint64_t done = 0; done < len;) {
      uint64_t n = std::min<uint64_t>(kZeros.size(), len - done);
      if (absl::Status s = Write(off + done, {kZeros.data(), n}, false); !s.ok()) {
        return s;
      }
      done += n;
    }
    return absl::OkStatus();
  };
  const uint64_t end = offset + length;
  const uint64_t first = (offset + kBlockSize - 1) / kBlockSize;
  const uint64_t last = end / kBlockSize;  // exclusive
  bool around;
  {
    absl::MutexLock l(&mu_);
    around = tunables_.write_around_mode != 0;
  }
  // In write-around mode zeroes go to the origin like any other write.
  if (around || first >= last) {
    if (absl::Status s = write_zeros(offset, length); !s.ok()) return s;
    return fua ? Flush() : absl::OkStatus();
  }
  if (absl::Status s = write_zeros(offset, first * kBlockSize - offset); !s.ok()) return s;
  uint64_t last_id = 0;
  absl::StatusOr<uint64_t> recorded = RecordZeroBlocks(first, last - first, false, &last_id);
  if (!recorded.ok()) return recorded.status();
  uint64_t rest = first + *recorded;
  if (absl::Status s = write_zeros(rest * kBlockSize, end - rest * kBlockSize); !s.ok()) {
    return s;
  }
  return fua ? Flush() : absl::OkStatus();
}

absl::Status VolumeImpl::Trim(uint64_t offset, uint64_t length) {
  if (absl::Status s = CheckRange(offset, length); !s.ok()) return s;
  // Partial blocks keep their data: the contract allows a trimmed sector to
  // hold its value from just before the trim.
  const uint64_t first = (offset + kBlockSize - 1) / kBlockSize;
  const uint64_t last = (offset + length) / kBlockSize;
  if (first >= last) return absl::OkStatus();
  uint64_t last_id = 0;
  absl::StatusOr<uint64_t> recorded = RecordZeroBlocks(first, last - first, true, &last_id);
  return recorded.ok() ? absl::OkStatus() : recorded.status();
}

}  // namespace wb
