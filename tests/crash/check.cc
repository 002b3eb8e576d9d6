#include "tests/crash/check.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/device_ref.h"
#include "server/core/recovery.h"
#include "server/core/util/crc32c.h"
#include "tests/crash/buffer_device.h"
#include "tests/crash/stale_plant.h"

namespace wb::crash {
namespace {

// Takes a snapshot of the recovering machine at its n-th write/flush point.
class NestedCutter : public CutListener {
 public:
  NestedCutter(Rig* rig, int n, uint64_t seed, RecoveryResult* out)
      : rig_(rig), n_(n), seed_(seed), out_(out) {}
  void OnPoint(const CutPoint& p) override {
    if (++seen_ != n_) return;
    rig_->TakeSnapshot(seed_, &out_->nested);
    out_->nested_taken = true;
    out_->nested_point_name = PointName(p);
  }

 private:
  Rig* rig_;
  int n_;
  uint64_t seed_;
  RecoveryResult* out_;
  int seen_ = 0;  // only the opening thread writes during Open
};

// ReplayLog's accepted chain must be contiguous ids at chained positions.
std::string CheckStructure(Rig& rig, bool* gap_after_end) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(rig.cache());
  if (!head.ok()) return "";  // Volume::Open reports it
  uint64_t expect_id = head->progress.last_writeback_id + 1;
  uint64_t expect_pos = head->progress.next_pos;
  std::string bad;
  auto report = ReplayLog(
      rig.cache(), *head, {}, [&](uint64_t pos, const SegmentHeader& h) {
        if (bad.empty() && (h.id != expect_id || pos != expect_pos)) {
          bad = absl::StrFormat(
              "replay accepted segment %u at block %u where segment %u at "
              "block %u was expected",
              h.id, pos, expect_id, expect_pos);
        }
        expect_id = h.id + 1;
        expect_pos = head->geo.NextPos(pos, h.length(head->geo));
      });
  if (!report.ok()) return "";
  AlignedBuffer meta(uint64_t{head->geo.meta_blocks} * kBlockSize);
  if (rig.cache()
          .Read(Geometry::RingOffset(report->next_pos), meta.data(), meta.size())
          .ok()) {
    auto h = DecodeSegmentMeta(meta.data(), head->geo, head->sb.uuid);
    *gap_after_end = h.ok() && h->id > report->last_id + 1;
  }
  return bad;
}

// Sectors of a data block outside its entry's mask must be zero. Blocks
// whose checksum does not match (torn by the cut) say nothing.
std::string CheckPadding(Device& cache) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(cache);
  if (!head.ok()) return "";  // Volume::Open reports it
  std::vector<std::pair<uint64_t, SegmentHeader>> segs;
  auto report = ReplayLog(cache, *head, {},
                          [&](uint64_t pos, const SegmentHeader& h) {
                            segs.emplace_back(pos, h);
                          });
  if (!report.ok()) return "";
  AlignedBuffer block(kBlockSize);
  for (const auto& [pos, h] : segs) {
    uint32_t slot = 0;
    for (const SegmentEntry& e : h.entries) {
      if (!EntryKindHasData(e.kind)) continue;
      const uint64_t cb = pos + head->geo.meta_blocks + slot++;
      if (!cache.Read((kRingStartBlock + cb) * kBlockSize, block.data(),
                      kBlockSize).ok() ||
          Crc32c(block.data(), kBlockSize) != e.data_crc) {
        continue;
      }
      for (uint32_t i = 0; i < kSectorsPerBlock; i++) {
        if (e.mask & (1u << i)) continue;
        const char* sec = block.data() + i * kSectorSize;
        if (std::any_of(sec, sec + kSectorSize, [](char c) { return c != 0; })) {
          return absl::StrFormat(
              "  segment %u, entry for origin block %u (mask 0x%02x): sector "
              "%u outside the mask is not zero\n",
              h.id, e.origin_block, e.mask, i);
        }
      }
    }
  }
  return "";
}

// After drop_caches the origin must hold exactly what the volume read.
std::string CompareDrained(const std::string& origin, const std::string& data,
                           const std::vector<ValueId>& values) {
  for (uint64_t s = 0; s < data.size() / 512; s++) {
    if (origin.compare(s * 512, 512, data, s * 512, 512) != 0) {
      return absl::StrFormat(
          "  after drop_caches the origin's sector %u holds %s, but the "
          "volume read %s before\n",
          s, ValueName(DecodeSector(s, origin.data() + s * 512)),
          ValueName(values[s]));
    }
  }
  return "";
}

}  // namespace

std::string CheckVolumeData(const std::string& data, const Expectation& expect,
                            std::vector<ValueId>* values) {
  const uint64_t sectors = data.size() / 512;
  values->assign(sectors, kZero);
  std::string report;
  int bad = 0;
  for (uint64_t s = 0; s < sectors; s++) {
    ValueId v = DecodeSector(s, data.data() + s * 512);
    (*values)[s] = v;
    std::vector<ValueId> ok =
        expect.model->Allowed(s, expect.durable_wm, expect.issue_wm);
    if (std::find(ok.begin(), ok.end(), v) != ok.end()) continue;
    const bool mixed = v == kGarbage && IsMixOf(s, data.data() + s * 512, ok);
    if (bad++ < 4) {
      absl::StrAppendFormat(&report, "  sector %u holds %s; allowed: %s\n", s,
                            mixed ? "a word-by-word mix of allowed values"
                                  : ValueName(v),
                            ValueNames(ok));
      if (bad == 1) {
        report += expect.model->Explain(s, expect.durable_wm, expect.issue_wm);
      }
    }
  }
  if (bad > 4) absl::StrAppendFormat(&report, "  ... %d sectors in all\n", bad);
  return report;
}

namespace {

// The common case, no nesting and nothing kept: recover in place on the
// snapshot's own buffers.
RecoveryResult RecoverInPlace(const RigConfig& config, uint64_t seed,
                              Snapshot* snap, const Expectation& expect,
                              const RecoveryOptions& options) {
  RecoveryResult result;
  BufferDevice cache(&snap->cache, "cache");
  BufferDevice origin(&snap->origin, "origin", config.origin_block_size);
  std::string planted;
  if (options.plant_stale) planted = PlantStaleSegment(cache, seed);
  auto fail = [&](std::string why) {
    result.failure = planted.empty() ? why : absl::StrCat(why, "  (", planted, ")\n");
    return std::move(result);
  };
  if (options.padding_check && config.cache_layout == 0) {
    if (std::string bad = CheckPadding(cache); !bad.empty()) return fail(bad);
  }
  OpenOptions oo = HarnessOpenOptions(config);
  oo.enable_writeback = config.enable_writeback && options.drop_check;
  // One device, or the devices of a cache set side by side in the buffer.
  std::vector<std::unique_ptr<Device>> members = CacheMembersOf(config, &cache);
  std::vector<Device*> member_ptrs;
  for (auto& m : members) member_ptrs.push_back(m.get());
  absl::StatusOr<std::unique_ptr<Device>> cache_dev =
      HarnessCache(config, member_ptrs);
  if (!cache_dev.ok()) {
    return fail(absl::StrCat("  recovery failed: opening the cache set: ",
                             cache_dev.status().ToString(), "\n"));
  }
  auto v = Volume::Open(*std::move(cache_dev),
                        std::make_unique<DeviceRef>(&origin), oo);
  if (!v.ok()) {
    return fail(absl::StrCat("  recovery failed: ", v.status().ToString(), "\n"));
  }
  thread_local std::string data;
  data.resize((*v)->size());
  if (absl::Status s = (*v)->Read(0, absl::MakeSpan(data)); !s.ok()) {
    return fail(absl::StrCat("  reading the recovered volume failed: ",
                             s.ToString(), "\n"));
  }
  if (std::string bad = CheckVolumeData(data, expect, &result.values);
      !bad.empty()) {
    return fail(bad);
  }
  if (options.drop_check) {
    if (absl::Status s = (*v)->DropCaches(nullptr); !s.ok()) {
      return fail(absl::StrCat("  drop_caches after recovery failed: ",
                               s.ToString(), "\n"));
    }
    v->reset();  // stops writeback before the origin is compared
    std::string bad = CompareDrained(snap->origin, data, result.values);
    if (!bad.empty()) return fail(bad);
  }
  return result;
}

}  // namespace

RecoveryResult RecoverAndCheck(const RigConfig& config, uint64_t seed,
                               Snapshot* snap, const Expectation& expect,
                               const RecoveryOptions& options) {
  if (!options.keep && options.nested_point == 0 && !options.structure_check) {
    return RecoverInPlace(config, seed, snap, expect, options);
  }
  RecoveryResult result;
  RigConfig rc = config;
  if (!options.keep) rc.async_cache = rc.async_origin = false;  // faster
  rc.cache_read_faults = 0;  // recovery must not meet injected errors
  rc.enable_writeback =
      config.enable_writeback && (options.keep || options.drop_check);
  auto rig = std::make_unique<Rig>(rc, seed, std::move(snap->cache),
                                   std::move(snap->origin));
  if (options.structure_check) {
    result.failure = CheckStructure(*rig, &result.gap_after_end);
    if (!result.failure.empty()) return result;
  }
  if (options.padding_check && config.cache_layout == 0) {
    result.failure = CheckPadding(rig->cache());
    if (!result.failure.empty()) return result;
  }
  std::string planted;
  if (options.plant_stale) planted = PlantStaleSegment(rig->cache(), seed);
  auto fail = [&](std::string why) {
    result.failure = planted.empty() ? why : absl::StrCat(why, "  (", planted, ")\n");
    return std::move(result);
  };
  NestedCutter cutter(rig.get(), options.nested_point, options.nested_seed,
                      &result);
  if (options.nested_point > 0) rig->set_listener(&cutter);
  absl::Status opened = rig->Open();
  rig->set_listener(nullptr);
  if (!opened.ok()) {
    return fail(absl::StrCat("  recovery failed: ", opened.ToString(), "\n"));
  }
  std::string data(rig->volume()->size(), '\0');
  if (absl::Status s = rig->volume()->Read(0, absl::MakeSpan(data)); !s.ok()) {
    return fail(absl::StrCat("  reading the recovered volume failed: ",
                             s.ToString(), "\n"));
  }
  if (std::string bad = CheckVolumeData(data, expect, &result.values);
      !bad.empty()) {
    return fail(bad);
  }
  if (options.drop_check) {
    if (absl::Status s = rig->volume()->DropCaches(nullptr); !s.ok()) {
      result.failure = absl::StrCat("  drop_caches after recovery failed: ",
                                    s.ToString(), "\n");
      return result;
    }
    result.failure = CompareDrained(rig->origin().Image(), data, result.values);
    if (!result.failure.empty()) return result;
  }
  if (options.keep) result.rig = std::move(rig);
  return result;
}

std::string CheckFormatCut(const RigConfig& config, uint64_t seed,
                           Snapshot* snap) {
  BufferDevice cache(&snap->cache, "cache");
  BufferDevice origin(&snap->origin, "origin");
  auto v = Volume::Open(std::make_unique<DeviceRef>(&cache),
                        std::make_unique<DeviceRef>(&origin),
                        HarnessOpenOptions(config));
  absl::Status opened = v.status();
  if (!opened.ok()) {
    if (absl::IsFailedPrecondition(opened) &&
        absl::StrContains(opened.message(), "not a writeboost cache")) {
      return "";
    }
    return absl::StrCat("  a cut during format left a cache that is neither "
                        "unformatted nor valid: ",
                        opened.ToString(), "\n");
  }
  std::string data((*v)->size(), '\0');
  if (absl::Status s = (*v)->Read(0, absl::MakeSpan(data)); !s.ok()) {
    return absl::StrCat("  reading the new volume failed: ", s.ToString(), "\n");
  }
  for (uint64_t s = 0; s < data.size() / 512; s++) {
    ValueId v = DecodeSector(s, data.data() + s * 512);
    if (v != kInitialValue) {
      return absl::StrFormat(
          "  a freshly formatted cache shows sector %u as %s, not the "
          "origin's own data\n",
          s, ValueName(v));
    }
  }
  return "";
}

}  // namespace wb::crash
