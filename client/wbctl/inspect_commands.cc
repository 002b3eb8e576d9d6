// wbctl check and wbctl dump: read-only inspection of a cache by the
// recovery rules of docs/FORMAT.md. check locks the cache (its verdict is
// only meaningful while nothing writes); dump does not, so that it can look
// at a live cache, at the price of a possibly inconsistent snapshot.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/wbctl/json_text.h"
#include "client/wbctl/cache_info.h"
#include "client/wbctl/offline_cache.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/output.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/file_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/util/crc32c.h"

namespace wbctl {
namespace {

struct CheckArgs {
  std::vector<std::string> caches;
  std::string origin;
  bool json = false;
};

struct DumpArgs {
  std::string cache;
  uint64_t segment = 0;
  bool has_segment = false;
  bool list = false;
  bool json = false;
};

absl::StatusOr<std::unique_ptr<wb::FileDevice>> OpenForReading(
    const std::string& path, bool exclusive) {
  wb::FileDeviceOptions o;
  o.direct = true;
  o.exclusive = exclusive;
  return wb::FileDevice::Open(path, o);
}

// Refuses an origin that is not the cache's (check --origin).
absl::Status CheckOriginMatches(const std::string& path,
                                const wb::Superblock& sb) {
  auto origin = OpenForReading(path, true);
  if (!origin.ok()) return origin.status();
  absl::StatusOr<std::string> identity = wb::OriginIdentity(path, false);
  if (absl::IsNotFound(identity.status())) identity = std::string("(none)");
  if (!identity.ok()) return identity.status();
  return wb::CheckOrigin(sb, (*origin)->size(), *identity);
}

int RunCheck(const CheckArgs& args) {
  const std::string label = CacheLabel(args.caches);
  Json out{{"cache", label}};
  auto fail = [&](absl::string_view message) {
    if (args.json) {
      out["consistent"] = false;
      out["error"] = std::string(message);
      std::cout << JsonText(out) << "\n";
    }
    return Fail(message);
  };
  // A set is opened as the node would, without the assembly's writes:
  // check reports what recovery will find on the member reads use.
  auto cache = OpenOfflineCache(args.caches, OfflineCacheOptions{});
  if (!cache.ok()) return fail(cache.status().message());
  absl::StatusOr<wb::CacheHead> head = wb::ReadCacheHead(**cache);
  if (!head.ok()) return fail(head.status().message());
  out["superblock"] = SuperblockJson(head->sb, head->geo);
  auto copies = ReadProgressCopies(**cache, head->sb.uuid);
  if (!copies.ok()) return fail(copies.status().message());
  out["progress"] = ProgressJson(*copies, head->progress);
  if (!args.origin.empty()) {
    if (absl::Status s = CheckOriginMatches(args.origin, head->sb); !s.ok()) {
      return fail(s.message());
    }
    out["origin"] = args.origin;
  }

  absl::StatusOr<LogScan> scan;
  {
    Progress progress("verifying " + label, false, "segments");
    scan = ScanLog(
        **cache, *head, true, false,
        [&](uint64_t done, uint64_t total) { progress.Update(done, total); });
  }
  if (!scan.ok()) return fail(scan.status().message());
  out["log"] = LogJson(*scan, head->geo);

  std::vector<std::string> notes;
  if (head->progress_copies_valid == 1) {
    notes.push_back(
        "one progress copy is invalid (a progress write was torn by "
        "a crash); the other copy is used");
  }
  if (scan->report.stopped_on_bad_data) {
    notes.push_back(absl::StrFormat(
        "torn tail: segment %u was never acknowledged durable and will be "
        "dropped at the next open",
        scan->report.last_id + 1));
  }
  out["consistent"] = true;
  out["notes"] = notes;
  if (args.json) {
    std::cout << JsonText(out) << "\n";
    return kExitOk;
  }
  Report r;
  r.Add("cache", label);
  DescribeSuperblock(head->sb, head->geo, &r);
  DescribeProgress(*copies, head->progress, false, &r);
  DescribeLog(*scan, head->geo, &r);
  r.Print(std::cout);
  for (const std::string& n : notes) std::cout << "note: " << n << "\n";
  std::cout << "result: consistent\n";
  return kExitOk;
}

const char* KindName(wb::EntryKind k) {
  static const char* const kNames[] = {"?",    "DIRTY", "CLEAN",
                                       "TRIM", "ZERO",  "LAYOUT"};
  auto i = static_cast<size_t>(k);
  return i < std::size(kNames) ? kNames[i] : "?";
}

// dump --segment: the header and entries of one segment, accepted or the
// one slot after the accepted log (where a torn segment would be).
int DumpSegment(wb::Device& cache, const wb::CacheHead& head,
                const LogScan& scan, const DumpArgs& args) {
  const wb::ReplayReport& rep = scan.report;
  const wb::Geometry& g = head.geo;
  uint64_t pos = rep.next_pos;
  bool accepted = false;
  for (const SegmentSummary& s : scan.segments) {
    if (s.id == args.segment) {
      pos = s.pos;
      accepted = true;
    }
  }
  std::string held =
      rep.segments_accepted == 0
          ? "the log is empty"
          : absl::StrFormat("it holds ids %u to %u", rep.first_id, rep.last_id);
  if (args.segment == 0) return Fail("segment ids start at 1", kExitUsage);
  if (!accepted && args.segment < rep.first_id) {
    return Fail(absl::StrFormat("segment %u was written back already (%s)",
                                args.segment, held));
  }
  if (!accepted && args.segment != rep.last_id + 1) {
    return Fail(absl::StrFormat("segment %u is not in the log (%s)",
                                args.segment, held));
  }
  wb::AlignedBuffer meta(uint64_t{g.meta_blocks} * wb::kBlockSize);
  if (absl::Status s =
          cache.Read(wb::Geometry::RingOffset(pos), meta.data(), meta.size());
      !s.ok()) {
    return Fail(s);
  }
  auto h = wb::DecodeSegmentMeta(meta.data(), g, head.sb.uuid);
  if (!h.ok() || h->id != args.segment) {
    return Fail(absl::StrFormat(
        "segment %u is not in the log (%s); ring block %u, where it would be, "
        "holds %s; the walk stopped at: %s",
        args.segment, held, pos,
        h.ok() ? absl::StrFormat("segment %u", h->id)
               : std::string(h.status().message()),
        rep.stop_reason));
  }
  // The data blocks, to compare with each entry's crc.
  std::vector<int> data_ok(h->entries.size(), -1);  // -1 unknown / no data
  if (pos + h->length(g) <= g.ring_blocks) {
    wb::AlignedBuffer data(uint64_t{h->data_blocks} * wb::kBlockSize);
    uint64_t off = wb::Geometry::RingOffset(pos + g.meta_blocks);
    if (absl::Status s = cache.Read(off, data.data(), data.size()); !s.ok())
      return Fail(s);
    const char* p = data.data();
    for (size_t i = 0; i < h->entries.size(); i++) {
      if (!wb::EntryKindHasData(h->entries[i].kind)) continue;
      data_ok[i] = wb::Crc32c(p, wb::kBlockSize) == h->entries[i].data_crc;
      p += wb::kBlockSize;
    }
  }
  std::string status =
      accepted ? "accepted" : "not accepted: " + rep.stop_reason;
  if (args.json) {
    Json entries = Json::array();
    for (size_t i = 0; i < h->entries.size(); i++) {
      const wb::SegmentEntry& e = h->entries[i];
      Json j{{"origin_block", e.origin_block},
             {"mask", e.mask},
             {"kind", KindName(e.kind)},
             {"crc", e.data_crc},
             {"aux", e.aux}};
      if (data_ok[i] >= 0) j["data_ok"] = data_ok[i] == 1;
      entries.push_back(j);
    }
    Json out{{"cache", args.cache},
             {"id", h->id},
             {"pos", pos},
             {"accepted", accepted},
             {"status", status},
             {"gen", h->gen},
             {"durable_through", h->durable_through},
             {"starts_epoch", h->starts_epoch()},
             {"meta_blocks", g.meta_blocks},
             {"data_blocks", h->data_blocks},
             {"entries", entries}};
    std::cout << JsonText(out) << "\n";
    return kExitOk;
  }
  Report r;
  r.Section(absl::StrFormat("segment %u", h->id));
  r.Add("status", status);
  r.Add("ring block", absl::StrFormat("%u (cache byte offset %u)", pos,
                                      wb::Geometry::RingOffset(pos)));
  r.Add("generation", absl::StrFormat("%u", h->gen));
  r.Add("durable through", absl::StrFormat("segment %u", h->durable_through));
  r.Add("starts epoch", h->starts_epoch() ? "yes" : "no");
  r.Add("blocks", absl::StrFormat("%u metadata + %u data", g.meta_blocks,
                                  h->data_blocks));
  r.Add("entries", absl::StrFormat("%u", h->entries.size()));
  r.Print(std::cout);
  std::cout << absl::StrFormat("%6s  %14s  %4s  %-6s  %-10s  %s\n", "#",
                               "origin block", "mask", "kind", "crc", "data");
  for (size_t i = 0; i < h->entries.size(); i++) {
    const wb::SegmentEntry& e = h->entries[i];
    std::cout << absl::StrFormat(
        "%6u  %14u  0x%02x  %-6s  %-10s  %s\n", i, e.origin_block, e.mask,
        KindName(e.kind), Hex32(e.data_crc),
        data_ok[i] < 0 ? "-" : (data_ok[i] ? "ok" : "CRC MISMATCH"));
  }
  return kExitOk;
}

int RunDump(const DumpArgs& args) {
  auto cache = OpenForReading(args.cache, false);
  if (!cache.ok()) return Fail(cache.status());
  absl::StatusOr<wb::CacheHead> head = wb::ReadCacheHead(**cache);
  if (!head.ok()) return Fail(head.status());
  auto copies = ReadProgressCopies(**cache, head->sb.uuid);
  if (!copies.ok()) return Fail(copies.status());
  absl::StatusOr<LogScan> scan =
      ScanLog(**cache, *head, false, args.list || args.has_segment, nullptr);
  if (!scan.ok()) return Fail(scan.status());
  if (args.has_segment) return DumpSegment(**cache, *head, *scan, args);

  if (args.json) {
    Json out{{"cache", args.cache},
             {"superblock", SuperblockJson(head->sb, head->geo)},
             {"progress", ProgressJson(*copies, head->progress)},
             {"log", LogJson(*scan, head->geo)}};
    if (args.list) {
      Json segs = Json::array();
      for (const SegmentSummary& s : scan->segments)
        segs.push_back(SegmentSummaryJson(s));
      out["segments"] = segs;
    }
    std::cout << JsonText(out) << "\n";
    return kExitOk;
  }
  Report r;
  r.Add("cache", args.cache);
  DescribeSuperblock(head->sb, head->geo, &r);
  DescribeProgress(*copies, head->progress, true, &r);
  DescribeLog(*scan, head->geo, &r);
  r.Print(std::cout);
  if (args.list) {
    std::cout << "segments:\n"
              << absl::StrFormat("  %10s  %10s  %6s  %10s  %7s  %5s  %s\n",
                                 "id", "ring block", "gen", "durable",
                                 "entries", "data", "epoch");
    for (const SegmentSummary& s : scan->segments) {
      std::cout << absl::StrFormat("  %10u  %10u  %6u  %10u  %7u  %5u  %s\n",
                                   s.id, s.pos, s.gen, s.durable_through,
                                   s.entries, s.data_blocks,
                                   s.starts_epoch ? "starts" : "");
    }
  }
  return kExitOk;
}

}  // namespace

void AddInspectCommands(CLI::App& app) {
  auto ca = std::make_shared<CheckArgs>();
  CLI::App* check = app.add_subcommand("check",
                                       "Verify a cache: superblock, progress "
                                       "record and every log segment's data");
  check
      ->add_option("--cache", ca->caches,
                   "Cache device or file; every member of a cache set, each "
                   "with its own --cache")
      ->type_name("PATH")
      ->required();
  check
      ->add_option("--origin", ca->origin,
                   "Also verify that this is the cache's origin")
      ->type_name("PATH");
  check->add_flag("--json", ca->json, "Print the result as JSON");
  SetAction(check, [ca] { return RunCheck(*ca); });

  auto da = std::make_shared<DumpArgs>();
  CLI::App* dump = app.add_subcommand(
      "dump",
      "Print a cache's superblock, progress record and log, or one segment");
  dump->add_option("--cache", da->cache, "Cache device or file")
      ->type_name("PATH")
      ->required();
  CLI::Option* seg = dump->add_option("--segment", da->segment,
                                      "Print this segment's header and entries")
                         ->type_name("ID");
  dump->add_flag("--list", da->list, "List every segment of the log");
  dump->add_flag("--json", da->json, "Print as JSON");
  SetAction(dump, [da, seg] {
    da->has_segment = seg->count() > 0;
    return RunDump(*da);
  });
}

}  // namespace wbctl
