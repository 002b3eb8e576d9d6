#include "client/wbctl/cache_info.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "server/core/device/aligned_io.h"
#include "server/core/tunables.h"

namespace wbctl {

absl::StatusOr<std::array<ProgressCopy, 2>> ReadProgressCopies(
    wb::Device& cache, const wb::Uuid& uuid) {
  wb::AlignedBuffer buf(2 * wb::kBlockSize);
  if (absl::Status s = cache.Read(wb::kProgressBlock[0] * wb::kBlockSize,
                                  buf.data(), buf.size());
      !s.ok()) {
    return s;
  }
  std::array<ProgressCopy, 2> copies;
  for (int i = 0; i < 2; i++) {
    auto rec =
        wb::ProgressRecord::Decode(buf.data() + i * wb::kBlockSize, uuid);
    if (rec.ok()) {
      copies[i].valid = true;
      copies[i].record = *rec;
    } else {
      copies[i].error = std::string(rec.status().message());
    }
  }
  return copies;
}

absl::StatusOr<LogScan> ScanLog(
    wb::Device& cache, const wb::CacheHead& head, bool verify_all_data,
    bool keep_segments, std::function<void(uint64_t, uint64_t)> progress) {
  LogScan scan;
  absl::flat_hash_set<uint64_t> dirty;
  wb::ReplayOptions options;
  options.verify_all_data = verify_all_data;
  options.progress = std::move(progress);
  auto report = wb::ReplayLog(
      cache, head, options, [&](uint64_t pos, const wb::SegmentHeader& h) {
        for (const wb::SegmentEntry& e : h.entries) {
          // ZERO and TRIM runs are written back too; CLEAN copies are not.
          if (e.kind == wb::EntryKind::kZero || e.kind == wb::EntryKind::kTrim) {
            scan.dirty_entries++;
            for (uint64_t b = e.origin_block; b < e.origin_block + e.aux; b++) {
              dirty.insert(b);
            }
            continue;
          }
          if (e.kind != wb::EntryKind::kDirty) continue;
          scan.dirty_entries++;
          dirty.insert(e.origin_block);
        }
        if (keep_segments) {
          scan.segments.push_back(
              {h.id, pos, h.gen, h.durable_through, h.starts_epoch(),
               static_cast<uint32_t>(h.entries.size()), h.data_blocks});
        }
      });
  if (!report.ok()) return report.status();
  scan.report = *report;
  scan.distinct_dirty_blocks = dirty.size();
  return scan;
}

void DescribeSuperblock(const wb::Superblock& sb, const wb::Geometry& geo,
                        Report* r) {
  r->Section("superblock");
  r->Add("version", absl::StrFormat("%u", sb.version));
  r->Add("cache set uuid", wb::UuidToString(sb.uuid));
  r->Add("formatted", FormatTime(sb.format_time));
  r->Add("segment size",
         absl::StrFormat("%s (%u metadata + %u data blocks, up to %u entries)",
                         FormatSize(sb.segment_size), geo.meta_blocks,
                         geo.max_data_blocks, geo.max_entries));
  r->Add("log ring",
         absl::StrFormat("%u blocks (%s), %u full segments", sb.ring_blocks,
                         FormatSize(sb.ring_blocks * wb::kBlockSize),
                         sb.ring_blocks / geo.seg_blocks));
  r->Add("origin size",
         absl::StrFormat("%s (%u bytes)", FormatSize(sb.origin_size),
                         sb.origin_size));
  r->Add("origin identity", sb.origin_identity);
}

Json SuperblockJson(const wb::Superblock& sb, const wb::Geometry& geo) {
  return Json{{"version", sb.version},
              {"uuid", wb::UuidToString(sb.uuid)},
              {"format_time", sb.format_time},
              {"segment_size", sb.segment_size},
              {"meta_blocks", geo.meta_blocks},
              {"max_data_blocks", geo.max_data_blocks},
              {"max_entries", geo.max_entries},
              {"ring_blocks", sb.ring_blocks},
              {"origin_size", sb.origin_size},
              {"origin_identity", sb.origin_identity},
              {"layout", sb.layout},
              {"nr_devices", sb.nr_devices},
              {"device_index", sb.device_index},
              {"device_generation", sb.device_generation}};
}

namespace {

std::string CopyLine(const ProgressCopy& c) {
  if (!c.valid) return "INVALID (" + c.error + ")";
  return absl::StrFormat("valid, seq %u", c.record.seq);
}

Json RecordJson(const wb::ProgressRecord& p) {
  Json tunables = Json::object();
  for (const wb::TunableInfo& t : wb::AllTunables()) {
    tunables[t.name] = p.tunables.*(t.field);
  }
  return Json{{"seq", p.seq},
              {"last_writeback_id", p.last_writeback_id},
              {"next_pos", p.next_pos},
              {"gen", p.gen},
              {"gen_start_id", p.gen_start_id},
              {"tunables", tunables}};
}

// Blocks from the log's first segment to where the next one would go,
// counting the gap a wrap leaves at the ring's end.
uint64_t RingBlocksInUse(const wb::ReplayReport& rep, const wb::Geometry& geo) {
  if (rep.segments_accepted == 0) return 0;
  if (rep.next_pos > rep.first_pos) return rep.next_pos - rep.first_pos;
  return geo.ring_blocks - rep.first_pos + rep.next_pos;
}

}  // namespace

void DescribeProgress(const std::array<ProgressCopy, 2>& copies,
                      const wb::ProgressRecord& current, bool with_tunables,
                      Report* r) {
  r->Section("progress record");
  r->Add("copy 0 (block 1)", CopyLine(copies[0]));
  r->Add("copy 1 (block 2)", CopyLine(copies[1]));
  r->Add("in use",
         absl::StrFormat("copy %d, seq %u", current.copy(), current.seq));
  r->Add("written back through",
         current.last_writeback_id == 0
             ? std::string("nothing yet (segment 0)")
             : absl::StrFormat("segment %u", current.last_writeback_id));
  r->Add("log starts at", absl::StrFormat("ring block %u", current.next_pos));
  r->Add("generation", absl::StrFormat("%u (writes segments from %u on)",
                                       current.gen, current.gen_start_id));
  if (!with_tunables) return;
  for (const wb::TunableInfo& t : wb::AllTunables()) {
    r->Add(t.name,
           absl::StrFormat("%u %s", current.tunables.*(t.field), t.unit));
  }
}

Json ProgressJson(const std::array<ProgressCopy, 2>& copies,
                  const wb::ProgressRecord& current) {
  Json out;
  out["in_use"] = current.copy();
  Json list = Json::array();
  for (int i = 0; i < 2; i++) {
    Json c{{"copy", i},
           {"block", wb::kProgressBlock[i]},
           {"valid", copies[i].valid}};
    if (copies[i].valid) {
      c["record"] = RecordJson(copies[i].record);
    } else {
      c["error"] = copies[i].error;
    }
    list.push_back(c);
  }
  out["copies"] = list;
  return out;
}

void DescribeLog(const LogScan& scan, const wb::Geometry& geo, Report* r) {
  const wb::ReplayReport& rep = scan.report;
  r->Section("log");
  if (rep.segments_accepted == 0) {
    r->Add("segments", "none (the cache holds no dirty data)");
  } else {
    r->Add("segments",
           absl::StrFormat("%u (ids %u to %u, ring blocks %u to %u)",
                           rep.segments_accepted, rep.first_id, rep.last_id,
                           rep.first_pos, rep.next_pos));
  }
  r->Add("data blocks",
         absl::StrFormat("%u (%s), %u verified segments", rep.data_blocks,
                         FormatSize(rep.data_blocks * wb::kBlockSize),
                         rep.segments_data_checked));
  r->Add("dirty origin blocks",
         absl::StrFormat("%u distinct (%u dirty entries)",
                         scan.distinct_dirty_blocks, scan.dirty_entries));
  uint64_t used = RingBlocksInUse(rep, geo);
  r->Add("ring in use",
         absl::StrFormat("%u of %u blocks (%.1f%%)", used, geo.ring_blocks,
                         100.0 * static_cast<double>(used) /
                             static_cast<double>(geo.ring_blocks)));
  r->Add("durable through", absl::StrFormat("segment %u", rep.durable_bound));
  r->Add("log ends", rep.stop_reason);
  if (rep.stopped_on_bad_data) {
    r->Add("torn tail",
           "yes (never acknowledged durable; dropped at the next open)");
  }
}

Json LogJson(const LogScan& scan, const wb::Geometry& geo) {
  const wb::ReplayReport& rep = scan.report;
  Json out{{"first_id", rep.first_id},
           {"last_id", rep.last_id},
           {"first_pos", rep.first_pos},
           {"next_pos", rep.next_pos},
           {"segments", rep.segments_accepted},
           {"segments_data_checked", rep.segments_data_checked},
           {"data_blocks", rep.data_blocks},
           {"dirty_entries", scan.dirty_entries},
           {"distinct_dirty_blocks", scan.distinct_dirty_blocks},
           {"durable_bound", rep.durable_bound},
           {"last_gen", rep.last_gen},
           {"stop_reason", rep.stop_reason},
           {"torn_tail", rep.stopped_on_bad_data},
           {"ring_blocks_in_use", RingBlocksInUse(rep, geo)}};
  return out;
}

Json SegmentSummaryJson(const SegmentSummary& s) {
  return Json{{"id", s.id},
              {"pos", s.pos},
              {"gen", s.gen},
              {"durable_through", s.durable_through},
              {"starts_epoch", s.starts_epoch},
              {"entries", s.entries},
              {"data_blocks", s.data_blocks}};
}

}  // namespace wbctl
