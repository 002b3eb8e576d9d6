#include "server/core/recovery.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_format.h"
#include "server/core/device/aligned_io.h"
#include "server/core/util/crc32c.h"

namespace wb {

namespace {
constexpr uint64_t kMaxSegmentId = uint64_t{1} << 62;
}  // namespace

absl::StatusOr<CacheHead> ReadCacheHead(Device& cache) {
  if (cache.size() < (kRingStartBlock + 1) * kBlockSize) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is too small to be a writeboost cache", cache.name()));
  }
  AlignedBuffer buf(3 * kBlockSize);
  if (absl::Status s = cache.Read(0, buf.data(), buf.size()); !s.ok()) {
    return s;
  }
  CacheHead head;
  absl::StatusOr<Superblock> sb = Superblock::Decode(buf.data());
  if (!sb.ok()) {
    return absl::Status(sb.status().code(),
                        absl::StrFormat("%s: %s", cache.name(),
                                        sb.status().message()));
  }
  head.sb = *sb;
  absl::StatusOr<Geometry> geo =
      Geometry::Make(sb->segment_size, cache.size(), sb->origin_size);
  if (!geo.ok()) return geo.status();
  if (geo->ring_blocks != sb->ring_blocks) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: cache device size changed since format (ring of %u blocks "
        "recorded, %u now); drain and format again",
        cache.name(), sb->ring_blocks, geo->ring_blocks));
  }
  head.geo = *geo;
  bool found = false;
  std::string why;
  for (int copy = 0; copy < 2; copy++) {
    auto rec = ProgressRecord::Decode(
        buf.data() + kProgressBlock[copy] * kBlockSize, sb->uuid);
    if (!rec.ok()) {
      // Only a torn or foreign copy (kDataLoss) may be passed over: a valid
      // checksum over bytes this reader does not understand is refused.
      if (rec.status().code() != absl::StatusCode::kDataLoss) {
        return absl::Status(rec.status().code(),
                            absl::StrFormat("%s: progress record copy %d: %s",
                                            cache.name(), copy,
                                            rec.status().message()));
      }
      why = std::string(rec.status().message());
      continue;
    }
    head.progress_copies_valid++;
    if (!found || rec->seq > head.progress.seq) head.progress = *rec;
    found = true;
  }
  if (!found) {
    return absl::DataLossError(absl::StrFormat(
        "%s: both progress records are corrupt (%s)", cache.name(), why));
  }
  const ProgressRecord& p = head.progress;
  // A segment never starts in the ring's tail that is shorter than a segment
  // (Geometry::NextPos wraps there).
  if (p.next_pos > geo->ring_blocks - geo->seg_blocks ||
      p.gen_start_id > p.last_writeback_id + 1 + geo->ring_blocks) {
    return absl::DataLossError(absl::StrFormat(
        "%s: progress record is inconsistent with the geometry", cache.name()));
  }
  // Ids and generations this large cannot come from a real log (2^62 segments
  // is centuries of writes); arithmetic on them would wrap.
  if (p.last_writeback_id >= kMaxSegmentId || p.gen >= kMaxSegmentId) {
    return absl::DataLossError(absl::StrFormat(
        "%s: progress record holds an impossible id or generation",
        cache.name()));
  }
  if (absl::Status s = ValidateTunables(p.tunables); !s.ok()) {
    return absl::DataLossError(absl::StrFormat(
        "%s: stored tunables are invalid: %s", cache.name(), s.message()));
  }
  return head;
}

absl::Status CheckOrigin(const Superblock& sb, uint64_t origin_size,
                         const std::string& origin_identity) {
  if (sb.origin_size != origin_size || sb.origin_identity != origin_identity) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "wrong origin: this cache belongs to origin \"%s\" of %u bytes, but "
        "the origin given is \"%s\" of %u bytes",
        sb.origin_identity, sb.origin_size, origin_identity, origin_size));
  }
  return absl::OkStatus();
}

namespace {

struct Summary {
  uint64_t pos;
  uint64_t id;
  uint32_t data_blocks;
};

// The generation rules of docs/FORMAT.md, recovery rule 3.
bool GenerationOk(const SegmentHeader& h, const ProgressRecord& p,
                  uint64_t prev_gen) {
  if (h.gen < prev_gen || h.gen > p.gen) return false;
  return h.id >= p.gen_start_id ? h.gen == p.gen : h.gen < p.gen;
}

// Checks every data block of the segment at pos against its entry's crc.
absl::StatusOr<bool> DataIntact(Device& cache, const Geometry& g, uint64_t pos,
                                const SegmentHeader& h) {
  uint64_t len = h.length(g);
  AlignedBuffer buf(len * kBlockSize);
  if (absl::Status s = cache.Read(Geometry::RingOffset(pos), buf.data(),
                                  buf.size());
      !s.ok()) {
    return s;
  }
  const char* data = buf.data() + uint64_t{g.meta_blocks} * kBlockSize;
  for (const SegmentEntry& e : h.entries) {
    if (!EntryKindHasData(e.kind)) continue;
    if (Crc32c(data, kBlockSize) != e.data_crc) return false;
    data += kBlockSize;
  }
  return true;
}

}  // namespace

absl::StatusOr<ReplayReport> ReplayLog(
    Device& cache, const CacheHead& head, const ReplayOptions& options,
    const std::function<void(uint64_t, const SegmentHeader&)>& visit) {
  const Geometry& g = head.geo;
  const ProgressRecord& p = head.progress;
  ReplayReport report;
  report.first_id = p.last_writeback_id + 1;
  report.first_pos = p.next_pos;
  report.durable_bound = p.last_writeback_id;
  AlignedBuffer meta(uint64_t{g.meta_blocks} * kBlockSize);

  // Pass 1: headers only, following the chain.
  std::vector<Summary> chain;
  uint64_t pos = p.next_pos;
  uint64_t expected = report.first_id;
  uint64_t prev_gen = 0;
  bool wrapped = false;
  report.stop_reason = "end of log";
  for (uint64_t n = 0; n <= g.ring_blocks / g.meta_blocks; n++) {
    if (absl::Status s = cache.Read(Geometry::RingOffset(pos), meta.data(),
                                    meta.size());
        !s.ok()) {
      return s;
    }
    absl::StatusOr<SegmentHeader> h = DecodeSegmentMeta(meta.data(), g, p.uuid);
    if (!h.ok()) {
      if (PeekSegmentId(meta.data()) == expected) {
        report.stop_reason = absl::StrFormat("segment %u at block %u: %s",
                                             expected, pos, h.status().message());
      }
      break;
    }
#ifdef WB_MUTANT_noncontiguous_ids
    // Mutant: accepts any later id, as dm-writeboost's replay did.
    if (h->id < expected) break;
    expected = h->id;
#else
    if (h->id != expected) break;
#endif
    if (!GenerationOk(*h, p, prev_gen)) {
      report.stop_reason = absl::StrFormat(
          "segment %u at block %u is from a stale generation (%u)", h->id, pos,
          h->gen);
      break;
    }
    if (pos + h->length(g) > g.ring_blocks) {
      report.stop_reason = absl::StrFormat(
          "segment %u at block %u runs past the ring's end", h->id, pos);
      break;
    }
    // Once wrapped, the log must end before its own start: the writer never
    // reuses the blocks of a live segment.
    if (wrapped && pos + h->length(g) > p.next_pos) {
      report.stop_reason = absl::StrFormat(
          "segment %u at block %u overlaps the start of the log", h->id, pos);
      break;
    }
    chain.push_back({pos, h->id, h->data_blocks});
    report.durable_bound = std::max(report.durable_bound, h->durable_through);
    prev_gen = h->gen;
    uint64_t next = g.NextPos(pos, h->length(g));
    wrapped |= next <= pos;
    pos = next;
    expected++;
  }

  // Pass 2: segments that might not have been durable must be whole.
  uint64_t total = chain.size();
  uint64_t done = 0;
  for (size_t i = 0; i < chain.size(); i++) {
    const Summary& s = chain[i];
    if (s.id <= report.durable_bound && !options.verify_all_data) continue;
    if (absl::Status st = cache.Read(Geometry::RingOffset(s.pos), meta.data(),
                                     meta.size());
        !st.ok()) {
      return st;
    }
    absl::StatusOr<SegmentHeader> h = DecodeSegmentMeta(meta.data(), g, p.uuid);
    if (!h.ok()) return h.status();
    absl::StatusOr<bool> intact = DataIntact(cache, g, s.pos, *h);
    if (!intact.ok()) return intact.status();
    report.segments_data_checked++;
    if (!*intact) {
      report.stop_reason = absl::StrFormat(
          "segment %u at block %u has a data block that does not match its "
          "checksum (torn write)",
          s.id, s.pos);
      report.stopped_on_bad_data = true;
      if (s.id <= report.durable_bound) {
        // A segment recorded as durable is damaged: real corruption.
        return absl::DataLossError(absl::StrFormat(
            "%s: durable segment %u is corrupt: %s", cache.name(), s.id,
            report.stop_reason));
      }
      chain.resize(i);
      break;
    }
    if (options.progress) options.progress(++done, total);
  }

  // Pass 3: hand the accepted segments to the caller in id order.
  for (const Summary& s : chain) {
    if (absl::Status st = cache.Read(Geometry::RingOffset(s.pos), meta.data(),
                                     meta.size());
        !st.ok()) {
      return st;
    }
    absl::StatusOr<SegmentHeader> h = DecodeSegmentMeta(meta.data(), g, p.uuid);
    if (!h.ok()) return h.status();
    report.segments_accepted++;
    report.data_blocks += h->data_blocks;
    report.last_gen = h->gen;
    report.last_starts_epoch = h->starts_epoch();
    if (visit) visit(s.pos, *h);
  }
  report.last_id = chain.empty() ? report.first_id - 1 : chain.back().id;
  report.next_pos = chain.empty()
                        ? p.next_pos
                        : g.NextPos(chain.back().pos,
                                    g.meta_blocks + chain.back().data_blocks);
  report.durable_bound = std::min(report.durable_bound, report.last_id);
  return report;
}

}  // namespace wb
