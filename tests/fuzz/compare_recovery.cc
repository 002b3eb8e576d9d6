#include "tests/fuzz/compare_recovery.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "client/wbctl/cache_info.h"
#include "client/wbctl/json_text.h"
#include "server/core/recovery.h"

namespace wb::fuzz {

namespace {

Outcome CompareHead(const absl::StatusOr<CacheHead>& head,
                    const RefReplay& ref) {
  FUZZ_EXPECT(head.ok() == ref.head_ok, "head",
              "ReadCacheHead says \"%s\"; the reference %s",
              head.ok() ? "ok" : head.status().ToString(),
              ref.head_ok ? "accepts the head" : "refuses: " + ref.refusal);
  if (!head.ok()) return std::nullopt;
  const Superblock& sb = head->sb;
  const Geometry& g = head->geo;
  const ProgressRecord& p = head->progress;
  FUZZ_EXPECT(std::equal(sb.uuid.begin(), sb.uuid.end(), ref.uuid.begin()) &&
                  sb.segment_size == ref.segment_size &&
                  sb.ring_blocks == ref.ring_blocks &&
                  sb.origin_size == ref.origin_size &&
                  sb.origin_identity == ref.origin_identity,
              "head", "superblock fields differ from the reference");
  FUZZ_EXPECT(g.seg_blocks == ref.seg_blocks &&
                  g.meta_blocks == ref.meta_blocks &&
                  g.max_entries == ref.max_entries &&
                  g.origin_blocks == ref.origin_blocks,
              "head", "geometry differs: meta_blocks %u/%u max_entries %u/%u",
              g.meta_blocks, ref.meta_blocks, g.max_entries, ref.max_entries);
  const RefProgress& q = ref.progress;
  FUZZ_EXPECT(p.seq == q.seq && p.last_writeback_id == q.last_writeback_id &&
                  p.next_pos == q.next_pos && p.gen == q.gen &&
                  p.gen_start_id == q.gen_start_id &&
                  head->progress_copies_valid == ref.copies_valid,
              "head",
              "progress record in use: core seq %u lwid %u next_pos %u gen %u "
              "start %u (%d valid), reference seq %u lwid %u next_pos %u gen "
              "%u start %u (%d valid)",
              p.seq, p.last_writeback_id, p.next_pos, p.gen, p.gen_start_id,
              head->progress_copies_valid, q.seq, q.last_writeback_id,
              q.next_pos, q.gen, q.gen_start_id, ref.copies_valid);
  return std::nullopt;
}

struct Visited {
  uint64_t pos;
  SegmentHeader h;
};

Outcome CompareSegment(const Visited& v, const RefSegment& s,
                       const char* what, const char* id) {
  FUZZ_EXPECT(v.pos == s.pos && v.h.id == s.id && v.h.gen == s.gen &&
                  v.h.durable_through == s.durable_through &&
                  v.h.flags == s.flags && v.h.data_blocks == s.data_blocks &&
                  v.h.entries.size() == s.entries.size(),
              id,
              "%s: segment at %u id %u gen %u, the reference has it at %u "
              "id %u gen %u",
              what, v.pos, v.h.id, v.h.gen, s.pos, s.id, s.gen);
  for (size_t i = 0; i < s.entries.size(); i++) {
    const SegmentEntry& e = v.h.entries[i];
    const RefEntry& x = s.entries[i];
    FUZZ_EXPECT(e.origin_block == x.block && e.mask == x.mask &&
                    static_cast<uint8_t>(e.kind) == x.kind &&
                    e.data_crc == x.crc,
                id, "%s: segment %u entry %u differs", what, s.id, i);
  }
  return std::nullopt;
}

Outcome CompareReplay(Device& cache, const CacheHead& head,
                      const RefReplay& ref) {
  std::vector<Visited> seen;
  absl::StatusOr<ReplayReport> rep = ReplayLog(
      cache, head, ReplayOptions{},
      [&](uint64_t pos, const SegmentHeader& h) { seen.push_back({pos, h}); });
  FUZZ_EXPECT(rep.ok(), "replay", "ReplayLog failed: %s",
              rep.status().ToString());
  // A walk the reference stopped for overlapping itself differs in more
  // than its length (D counts the overlapping header too).
  const char* id = ref.stopped_on_overlap ? "ring_overlap" : "replay";
  FUZZ_EXPECT(seen.size() == ref.accepted.size(), id,
              "ReplayLog accepted %u segments (stop: %s), the reference %u "
              "(%u walked, D %u)",
              seen.size(), rep->stop_reason, ref.accepted.size(),
              ref.walked.size(), ref.durable_bound);
  for (size_t i = 0; i < seen.size(); i++) {
    FUZZ_RETURN_IF_FINDING(CompareSegment(seen[i], ref.accepted[i], "replay", id));
  }
  uint64_t data_blocks = 0;
  for (const RefSegment& s : ref.accepted) data_blocks += s.data_blocks;
  const RefProgress& q = ref.progress;
  FUZZ_EXPECT(rep->first_id == q.last_writeback_id + 1 &&
                  rep->first_pos == q.next_pos && rep->last_id == ref.last_id &&
                  rep->next_pos == ref.next_pos &&
                  rep->segments_accepted == ref.accepted.size() &&
                  rep->data_blocks == data_blocks,
              id,
              "report: last_id %u next_pos %u; reference last_id %u "
              "next_pos %u",
              rep->last_id, rep->next_pos, ref.last_id, ref.next_pos);
  FUZZ_EXPECT(rep->durable_bound == std::min(ref.durable_bound, ref.last_id),
              id, "durable bound %u, reference D %u (last id %u)",
              rep->durable_bound, ref.durable_bound, ref.last_id);
  FUZZ_EXPECT(rep->stopped_on_bad_data == ref.cut_on_bad_data, id,
              "torn-data cut: core %d, reference %d (%s)",
              rep->stopped_on_bad_data, ref.cut_on_bad_data, rep->stop_reason);
  return std::nullopt;
}

// What `wbctl check` does (client/wbctl/inspect_commands.cc, RunCheck) on
// an opened cache device: both copies, a scan verifying every data block,
// and the report in both forms.
Outcome CompareCheck(Device& cache, const CacheHead& head,
                     const RefReplay& ref) {
  const char* id = ref.stopped_on_overlap ? "ring_overlap" : "check";
  auto copies = wbctl::ReadProgressCopies(cache, head.sb.uuid);
  FUZZ_EXPECT(copies.ok(), id, "ReadProgressCopies: %s",
              copies.status().ToString());
  for (int c = 0; c < 2; c++) {
    FUZZ_EXPECT((*copies)[c].valid == ref.copy_valid[c], id,
                "progress copy %d: check says %s, the reference %s", c,
                (*copies)[c].valid ? "valid" : (*copies)[c].error,
                ref.copy_valid[c] ? "valid" : "invalid");
  }
  absl::StatusOr<wbctl::LogScan> scan =
      wbctl::ScanLog(cache, head, true, true, nullptr);
  FUZZ_EXPECT(scan.ok() == ref.check_ok, id,
              "check says \"%s\", the reference %s",
              scan.ok() ? "consistent" : scan.status().ToString(),
              ref.check_ok ? "finds it consistent" : "finds a corrupt durable segment");
  if (!scan.ok()) return std::nullopt;
  // A consistent cache: check sees exactly what recovery will use.
  FUZZ_EXPECT(scan->segments.size() == ref.accepted.size() &&
                  scan->report.last_id == ref.last_id &&
                  scan->report.stopped_on_bad_data == ref.cut_on_bad_data,
              id, "check's log (%u segments, last %u) is not recovery's "
              "(%u, last %u)",
              scan->segments.size(), scan->report.last_id, ref.accepted.size(),
              ref.last_id);
  uint64_t dirty_entries = 0;
  absl::flat_hash_set<uint64_t> dirty;
  for (size_t i = 0; i < ref.accepted.size(); i++) {
    const RefSegment& s = ref.accepted[i];
    FUZZ_EXPECT(scan->segments[i].id == s.id && scan->segments[i].pos == s.pos,
                id, "check lists segment %u at %u, reference %u at %u",
                scan->segments[i].id, scan->segments[i].pos, s.id, s.pos);
    for (const RefEntry& e : s.entries) {
      // DATA entries and ZERO/TRIM runs are written back; CLEAN is not.
      if (e.kind == 1) {
        dirty_entries++;
        dirty.insert(e.block);
      } else if (e.kind == 3 || e.kind == 4) {
        dirty_entries++;
        for (uint64_t b = e.block; b < e.block + e.aux; b++) dirty.insert(b);
      }
    }
  }
  FUZZ_EXPECT(scan->dirty_entries == dirty_entries &&
                  scan->distinct_dirty_blocks == dirty.size(),
              id, "dirty counts %u/%u, reference %u/%u",
              scan->dirty_entries, scan->distinct_dirty_blocks, dirty_entries,
              dirty.size());

  // The verdict as check prints it; only that it can be printed matters.
  wbctl::Report r;
  wbctl::DescribeSuperblock(head.sb, head.geo, &r);
  wbctl::DescribeProgress(*copies, head.progress, true, &r);
  wbctl::DescribeLog(*scan, head.geo, &r);
  std::ostringstream text;
  r.Print(text);
  wbctl::Json out{{"superblock", wbctl::SuperblockJson(head.sb, head.geo)},
                  {"progress", wbctl::ProgressJson(*copies, head.progress)},
                  {"log", wbctl::LogJson(*scan, head.geo)}};
  try {
    (void)wbctl::JsonText(out);  // exactly what check --json prints
  } catch (const std::exception& e) {
    return Finding{"check_json",
                   absl::StrFormat("check --json cannot print: %s", e.what())};
  }
  return std::nullopt;
}

}  // namespace

Outcome CompareRecovery(Device& cache, const RefReplay& ref) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(cache);
  FUZZ_RETURN_IF_FINDING(CompareHead(head, ref));
  if (!head.ok()) return std::nullopt;
  FUZZ_RETURN_IF_FINDING(CompareReplay(cache, *head, ref));
  return CompareCheck(cache, *head, ref);
}

}  // namespace wb::fuzz
