// The read path: each sector comes from its newest copy: a RAM buffer (open
// or sealed), then the cache device (checksum verified), then the origin.
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "server/core/util/crc32c.h"
#include "server/core/volume_impl.h"

namespace wb {

Segment* VolumeImpl::SegmentOf(uint32_t cb) {
  auto it = by_pos_.upper_bound(cb);
  return std::prev(it)->second;
}

uint32_t VolumeImpl::OlderOf(uint32_t cb) const {
  auto it = older_.find(cb);
  return it == older_.end() ? BlockIndex::kNone : it->second;
}

namespace {

// Where one run of sectors of a block comes from.
struct Source {
  uint64_t block;   // origin block
  uint32_t sector;  // first sector within the block
  uint32_t sectors;
  Segment* seg;     // null: the origin, or zeroes
  uint32_t cb;
  bool ram;
  bool zero = false;  // a ZERO or TRIM entry: reads as zeroes
};

}  // namespace

absl::Status VolumeImpl::Read(uint64_t offset, absl::Span<char> out) {
  if (absl::Status s = CheckRange(offset, out.size()); !s.ok()) return s;
  if (out.empty()) return absl::OkStatus();
  const uint64_t end = offset + out.size();
  std::vector<Source> sources;
  std::vector<Segment*> pinned;
  // Blocks this read fetches wholly from the origin, to stage (read_cache.cc).
  std::vector<uint64_t> fills;
  AroundMark around_seen;
  // Counted in ram_readers_: a write to the open buffer must not overwrite
  // a slot in place while this read may copy from it (write_path.cc).
  bool ram_reader = false;

  {
    absl::MutexLock l(&mu_);
    // Counted before waiting, so that no new in-place copy starts meanwhile.
    ram_readers_++;
    mu_.Await(absl::Condition(+[](int* n) { return *n == 0; }, &inplace_copies_));
    const bool cacheable = !ReadRunTooLong(offset, out.size()) &&
                           tunables_.read_cache_threshold != 0;
    around_seen = MarkAround();
    for (uint64_t pos = offset; pos < end;) {
      uint64_t block = pos / kBlockSize;
      uint32_t first = (pos % kBlockSize) / kSectorSize;
      uint32_t count = static_cast<uint32_t>(
          std::min<uint64_t>(kSectorsPerBlock - first, (end - pos) / kSectorSize));
      uint8_t need = static_cast<uint8_t>(((1u << count) - 1) << first);
      const uint8_t wanted = need;
      bool on_buffer = false;
      uint32_t cb = index_.Find(block);
      bool hit = cb != BlockIndex::kNone;
      // The last block of an odd-sized origin is never staged: it is not a
      // whole block in the caller's buffer.
      if (!hit && cacheable && need == kFullSectorMask &&
          geo_.ValidSectorMask(block) == kFullSectorMask) {
        RegisterFill(block);
        fills.push_back(block);
      }
      for (; cb != BlockIndex::kNone && need != 0; cb = OlderOf(cb)) {
        uint8_t have = MaskOf(cb) & need;
        if (have == 0) continue;
        if (IsVirtual(cb)) {  // no data anywhere: zeroes
          for (uint32_t i = 0; i < kSectorsPerBlock; i++) {
            if (!(have & (1u << i))) continue;
            uint32_t j = i;
            while (j + 1 < kSectorsPerBlock && (have & (1u << (j + 1)))) j++;
            sources.push_back({block, i, j - i + 1, nullptr, cb, false, true});
            i = j;
          }
          need &= ~have;
          continue;
        }
        if (IsClean(cb)) read_cache_hits_++;
        Segment* seg = SegmentOf(cb);
        if (pinned.empty() || pinned.back() != seg) {
          seg->pins++;
          pinned.push_back(seg);
        }
        bool ram = seg->buf != nullptr;
        on_buffer |= ram;
        for (uint32_t i = 0; i < kSectorsPerBlock; i++) {
          if (!(have & (1u << i))) continue;
          uint32_t j = i;
          while (j + 1 < kSectorsPerBlock && (have & (1u << (j + 1)))) j++;
          sources.push_back({block, i, j - i + 1, seg, cb, ram});
          i = j;
        }
        need &= ~have;
      }
      for (uint32_t i = 0; i < kSectorsPerBlock; i++) {
        if (!(need & (1u << i))) continue;
        uint32_t j = i;
        while (j + 1 < kSectorsPerBlock && (need & (1u << (j + 1)))) j++;
        sources.push_back({block, i, j - i + 1, nullptr, 0, false, false});
        i = j;
      }
      stat_[StatIndex(false, hit, on_buffer,
                      wanted == geo_.ValidSectorMask(block))]++;
      pos += uint64_t{count} * kSectorSize;
    }
    // Only the open buffer takes in-place copies from now on.
    for (const Source& src : sources) ram_reader |= src.ram && src.seg == open_;
    if (!ram_reader) ram_readers_--;
  }

  // RAM copies first, so that a read which also does I/O lets writes
  // overwrite in place again before its I/O rather than after.
  bool io = false;
  for (const Source& src : sources) {
    if (src.ram) {
      uint32_t slot = src.cb - src.seg->pos - geo_.meta_blocks;
      std::memcpy(out.data() + (src.block * kBlockSize +
                                src.sector * kSectorSize - offset),
                  SlotData(*src.seg, slot) + src.sector * kSectorSize,
                  uint64_t{src.sectors} * kSectorSize);
    } else if (!src.zero) {
      io = true;
    }
  }
  if (ram_reader && io) {
    absl::MutexLock l(&mu_);
    ram_readers_--;
    ram_reader = false;
  }

  absl::Status result;
  absl::flat_hash_map<uint64_t, SegmentHeader> metas;  // by segment id
  AlignedBuffer block_buf(kBlockSize);
  uint32_t loaded_cb = BlockIndex::kNone;
  for (size_t i = 0; i < sources.size() && result.ok(); i++) {
    const Source& src = sources[i];
    char* dst = out.data() + (src.block * kBlockSize +
                              src.sector * kSectorSize - offset);
    uint64_t bytes = uint64_t{src.sectors} * kSectorSize;
    if (src.zero) {
      std::memset(dst, 0, bytes);
      continue;
    }
    if (src.seg == nullptr) {
      // Merge neighbouring origin runs into one read.
      size_t j = i;
      auto addr = [](const Source& x) {
        return x.block * kBlockSize + x.sector * kSectorSize;
      };
      while (j + 1 < sources.size() && sources[j + 1].seg == nullptr &&
             !sources[j + 1].zero &&
             addr(sources[j + 1]) == addr(src) + bytes) {
        bytes += uint64_t{sources[j + 1].sectors} * kSectorSize;
        j++;
      }
      absl::Time start = absl::Now();
      result = ReadAny(*origin_, src.block * kBlockSize + src.sector * kSectorSize,
                       dst, bytes);
      origin_busy_ns_ += absl::ToInt64Nanoseconds(absl::Now() - start);
      origin_reads_++;
      i = j;
      continue;
    }
    if (src.ram) continue;  // copied above
    if (loaded_cb != src.cb) {
      auto it = metas.find(src.seg->id);
      if (it == metas.end()) {
        AlignedBuffer meta(uint64_t{geo_.meta_blocks} * kBlockSize);
        result = cache_->Read(Geometry::RingOffset(src.seg->pos), meta.data(),
                              meta.size());
        if (!result.ok()) {
          CountCacheReadError();
          break;
        }
        absl::StatusOr<SegmentHeader> h =
            DecodeSegmentMeta(meta.data(), geo_, sb_.uuid);
        if (!h.ok()) {
          result = h.status();
          break;
        }
        // Data slots follow the data-carrying entries only (a TRIM entry,
        // say, has no block), so index the crcs the same way.
        std::erase_if(h->entries, [](const SegmentEntry& e) {
          return !EntryKindHasData(e.kind);
        });
        it = metas.emplace(src.seg->id, std::move(*h)).first;
      }
      result = cache_->Read(uint64_t{kRingStartBlock + src.cb} * kBlockSize,
                            block_buf.data(), kBlockSize);
      if (!result.ok()) {
        CountCacheReadError();
        break;
      }
      uint32_t slot = src.cb - src.seg->pos - geo_.meta_blocks;
      if (slot >= it->second.entries.size() ||
          Crc32c(block_buf.data(), kBlockSize) != it->second.entries[slot].data_crc) {
        absl::MutexLock l(&mu_);
        checksum_errors_++;
        result = absl::DataLossError(absl::StrFormat(
            "cache block %u (segment %u) does not match its checksum", src.cb,
            src.seg->id));
        break;
      }
      loaded_cb = src.cb;
    }
    std::memcpy(dst, block_buf.data() + src.sector * kSectorSize, bytes);
  }
  Unpin(pinned, ram_reader);
  std::vector<const char*> fill_data;
  if (result.ok()) {
    for (uint64_t block : fills) {
      fill_data.push_back(out.data() + (block * kBlockSize - offset));
    }
  }
  StageFills(fills, fill_data, around_seen);
  return result;
}

void VolumeImpl::Unpin(const std::vector<Segment*>& segs, bool ram_reader) {
  if (segs.empty() && !ram_reader) return;
  absl::MutexLock l(&mu_);
  if (ram_reader) ram_readers_--;
  bool free_space = false;
  for (Segment* s : segs) {
    s->pins--;
    MaybeReleaseBuffer(s);
    // A writer may be waiting to reuse a retained segment's ring blocks.
    if (s->pins == 0 && s->state == Segment::State::kRetained) {
      space_progress_++;
      state_cv_.SignalAll();
    }
    free_space |= s->pins == 0 && s->id <= progress_recorded_id_;
  }
  if (free_space) FreeWrittenBack();
}

}  // namespace wb
