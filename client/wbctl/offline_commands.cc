// wbctl format and wbctl drain: the offline commands that change a cache.
// Both open the cache and the origin exclusively, so neither can run while a
// node (or another wbctl) has the cache open.
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/wbctl/cache_info.h"
#include "client/wbctl/offline_cache.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/output.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/file_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/util/coding.h"
#include "server/core/format_cache_set.h"
#include "server/core/format/superblock.h"
#include "server/core/volume.h"

namespace wbctl {
namespace {

struct FormatArgs {
  std::vector<std::string> caches;
  std::string cache_layout = "single";
  std::string origin;
  std::string segment_size = "512K";
  std::string cache_size;
  bool force = false;
};

struct DrainArgs {
  std::vector<std::string> caches;
  std::string origin;
  bool allow_missing = false;
};

absl::StatusOr<std::unique_ptr<wb::FileDevice>> OpenExclusive(
    const std::string& path, uint64_t create_size = 0) {
  wb::FileDeviceOptions o;
  o.direct = true;
  o.exclusive = true;
  o.create = create_size != 0;
  o.create_size = create_size;
  return wb::FileDevice::Open(path, o);
}

// Catches "--cache X --origin X" (or two names of one device) before the
// second exclusive open would blame another process.
absl::Status CheckDistinct(const std::string& cache,
                           const std::string& origin) {
  struct stat a, b;
  if (stat(cache.c_str(), &a) != 0 || stat(origin.c_str(), &b) != 0) {
    return absl::OkStatus();  // the opens report missing paths
  }
  bool same =
      (a.st_dev == b.st_dev && a.st_ino == b.st_ino) ||
      (S_ISBLK(a.st_mode) && S_ISBLK(b.st_mode) && a.st_rdev == b.st_rdev);
  if (!same) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "--cache %s and --origin %s are the same device", cache, origin));
}

// Describes what a device about to be formatted holds if it is (or was) a
// writeboost cache; nullopt if block 0 has no superblock magic.
absl::StatusOr<std::optional<std::string>> ExistingCache(wb::Device& cache) {
  if (cache.size() < wb::kBlockSize) return std::nullopt;
  wb::AlignedBuffer block(wb::kBlockSize);
  if (absl::Status s = cache.Read(0, block.data(), block.size()); !s.ok()) {
    return s;
  }
  if (wb::GetFixed32(block.data()) != wb::kSuperblockMagic) return std::nullopt;
  absl::StatusOr<wb::Superblock> sb = wb::Superblock::DecodeAnyLayout(block.data());
  if (sb.ok() && sb->layout != wb::kLayoutSingle) {
    return absl::StrFormat(
        "member %u of a %u-device %s cache set (uuid %s, origin \"%s\")",
        sb->device_index, sb->nr_devices, wb::LayoutName(sb->layout),
        wb::UuidToString(sb->uuid), sb->origin_identity);
  }
  absl::StatusOr<wb::CacheHead> head = wb::ReadCacheHead(cache);
  if (!head.ok()) {
    return absl::StrFormat("a damaged writeboost cache (%s)",
                           head.status().message());
  }
  std::string what = absl::StrFormat(
      "a writeboost cache (uuid %s, origin \"%s\")",
      wb::UuidToString(head->sb.uuid), head->sb.origin_identity);
  absl::StatusOr<LogScan> scan = ScanLog(cache, *head, false, false, nullptr);
  if (!scan.ok()) {
    what += " whose log is damaged";
  } else if (scan->distinct_dirty_blocks > 0) {
    what += absl::StrFormat(" with %u dirty blocks not yet on the origin",
                            scan->distinct_dirty_blocks);
  }
  return what;
}

int RunFormat(const FormatArgs& args) {
  absl::StatusOr<uint64_t> seg = ParseSize(args.segment_size);
  if (!seg.ok())
    return Fail("--segment-size: " + std::string(seg.status().message()),
                kExitUsage);
  if (*seg < wb::kMinSegmentSize || *seg > wb::kMaxSegmentSize ||
      !std::has_single_bit(*seg)) {
    return Fail(absl::StrFormat(
                    "--segment-size %s is invalid: it must be a power of two "
                    "from %s to %s",
                    args.segment_size, ShortSize(wb::kMinSegmentSize),
                    ShortSize(wb::kMaxSegmentSize)),
                kExitUsage);
  }
  uint64_t create_size = 0;
  if (!args.cache_size.empty()) {
    absl::StatusOr<uint64_t> size = ParseSize(args.cache_size);
    if (!size.ok())
      return Fail("--cache-size: " + std::string(size.status().message()),
                  kExitUsage);
    if (*size == 0 || *size % wb::kBlockSize != 0) {
      return Fail(absl::StrFormat("--cache-size %s is invalid: it must be a "
                                  "non-zero multiple of 4K",
                                  args.cache_size),
                  kExitUsage);
    }
    create_size = *size;
  }
  uint32_t layout = wb::kLayoutSingle;
  if (args.cache_layout == "stripe") {
    layout = wb::kLayoutStripe;
  } else if (args.cache_layout == "mirror") {
    layout = wb::kLayoutMirror;
  } else if (args.cache_layout != "single") {
    return Fail(absl::StrFormat("--cache-layout %s: want single, stripe or mirror",
                                args.cache_layout),
                kExitUsage);
  }
  if ((layout == wb::kLayoutSingle) != (args.caches.size() == 1) ||
      args.caches.size() > wb::kMaxCacheDevices) {
    return Fail(absl::StrFormat(
                    "%u --cache with --cache-layout %s: single takes one "
                    "device, stripe and mirror 2 to %u",
                    args.caches.size(), args.cache_layout, wb::kMaxCacheDevices),
                kExitUsage);
  }
  for (const std::string& c : args.caches) {
    if (absl::Status s = CheckDistinct(c, args.origin); !s.ok()) {
      return Fail(s, kExitUsage);
    }
  }
  const std::string label = CacheLabel(args.caches);

  auto origin = OpenExclusive(args.origin);
  if (!origin.ok()) return Fail(origin.status());
  std::vector<std::unique_ptr<wb::FileDevice>> caches;
  for (const std::string& c : args.caches) {
    auto cache = OpenExclusive(c, create_size);
    if (!cache.ok()) return Fail(cache.status());
    if (create_size != 0 && (*cache)->size() != create_size) {
      Warn(absl::StrFormat("--cache-size ignored: %s already has %s", c,
                           FormatSize((*cache)->size())));
    }
    absl::StatusOr<std::optional<std::string>> existing = ExistingCache(**cache);
    if (!existing.ok()) return Fail(existing.status());
    if (existing->has_value()) {
      if (!args.force) {
        return Fail(absl::StrFormat(
            "refusing to format %s: it already holds %s; pass --force to "
            "overwrite it (after 'wbctl drain' if its data must be kept)",
            c, **existing));
      }
      Warn(absl::StrFormat("--force: overwriting %s", **existing));
    }
    caches.push_back(*std::move(cache));
  }

  absl::StatusOr<std::string> identity = wb::OriginIdentity(args.origin, true);
  if (!identity.ok()) return Fail(identity.status());

  wb::FormatOptions options;
  options.segment_size = static_cast<uint32_t>(*seg);
  options.origin_identity = *identity;
  absl::Status formatted;
  {
    Progress progress("zeroing " + label, true);
    options.progress = [&](uint64_t done, uint64_t total) {
      progress.Update(done, total);
    };
    std::vector<wb::Device*> members;
    for (auto& c : caches) members.push_back(c.get());
    formatted = wb::FormatCacheSet(members, layout, **origin, options);
  }
  if (!formatted.ok()) {
    return Fail(absl::StrFormat("formatting %s failed: %s", label,
                                formatted.message()));
  }
  caches.clear();  // releases the locks for the read-back below

  auto cache = OpenOfflineCache(args.caches, OfflineCacheOptions{});
  absl::StatusOr<wb::CacheHead> head =
      cache.ok() ? wb::ReadCacheHead(**cache)
                 : absl::StatusOr<wb::CacheHead>(cache.status());
  if (!head.ok()) {
    return Fail(absl::StrFormat("%s was formatted but does not read back: %s",
                                label, head.status().message()));
  }
  std::cout << "formatted " << label << " as a writeboost cache"
            << (layout == wb::kLayoutSingle
                    ? ""
                    : absl::StrFormat(" (%s of %u devices)",
                                      wb::LayoutName(layout), args.caches.size()))
            << " for " << args.origin << "\n";
  Report r;
  DescribeSuperblock(head->sb, head->geo, &r);
  r.Print(std::cout);
  return kExitOk;
}

int RunDrain(const DrainArgs& args) {
  const std::string label = CacheLabel(args.caches);
  for (const std::string& c : args.caches) {
    if (absl::Status s = CheckDistinct(c, args.origin); !s.ok()) {
      return Fail(s, kExitUsage);
    }
  }
  auto origin = OpenExclusive(args.origin);
  if (!origin.ok()) return Fail(origin.status());
  // A set is assembled as the node would, since the drain replays it.
  OfflineCacheOptions cache_options;
  cache_options.assemble = true;
  cache_options.allow_missing = args.allow_missing;
  auto cache = OpenOfflineCache(args.caches, cache_options);
  if (!cache.ok()) return Fail(cache.status());
  absl::StatusOr<wb::CacheHead> head = wb::ReadCacheHead(**cache);
  if (!head.ok()) return Fail(head.status());

  absl::StatusOr<std::string> identity = wb::OriginIdentity(args.origin, false);
  if (absl::IsNotFound(identity.status())) {
    return Fail(absl::StrFormat(
        "wrong origin: %s has never been a writeboost origin, but this cache "
        "belongs to origin \"%s\" of %u bytes",
        args.origin, head->sb.origin_identity, head->sb.origin_size));
  }
  if (!identity.ok()) return Fail(identity.status());

  wb::OpenOptions options;
  options.origin_identity = *identity;
  options.enable_writeback = true;
  auto volume =
      wb::Volume::Open(std::move(*cache), std::move(*origin), options);
  if (!volume.ok()) return Fail(volume.status());

  wb::VolumeStatus before = (*volume)->GetStatus();
  const uint64_t total = before.nr_dirty_cache_blocks;
  absl::Status dropped;
  {
    Progress progress("writing back", false, "blocks");
    wb::Volume* v = volume->get();
    bool warned = false;
    dropped = v->DropCaches([&](uint64_t left) {
      progress.Update(total - std::min(left, total), total);
      // Writeback retries a failing origin forever, as the node does; say
      // so once rather than appear to hang.
      if (!warned && v->GetStatus().origin_errors > before.origin_errors) {
        warned = true;
        Warn(absl::StrFormat(
            "origin I/O is failing, retrying (%s); interrupting is safe: "
            "what is not yet written back stays dirty in the cache",
            v->GetStatus().last_origin_error));
      }
    });
  }
  wb::VolumeStatus after = (*volume)->GetStatus();
  absl::Status closed = (*volume)->Close();
  if (!dropped.ok()) {
    return Fail(absl::StrFormat("drain of %s failed: %s", label,
                                dropped.message()));
  }
  if (!closed.ok()) {
    return Fail(absl::StrFormat("closing %s after the drain failed: %s",
                                label, closed.message()));
  }

  std::cout << "drained " << label << " onto " << args.origin
            << "; the cache is clean\n";
  Report r;
  r.Add("segments written back",
        absl::StrFormat("%u",
                        after.last_writeback_id - before.last_writeback_id));
  r.Add("cache blocks written back",
        absl::StrFormat("%u (%s)", total, FormatSize(total * wb::kBlockSize)));
  r.Add("bytes written to origin",
        absl::StrFormat("%u (%s)", after.writeback_bytes,
                        FormatSize(after.writeback_bytes)));
  r.Add("dirty blocks left",
        absl::StrFormat("%u", after.nr_dirty_cache_blocks));
  r.Print(std::cout);
  return kExitOk;
}

}  // namespace

void AddOfflineCommands(CLI::App& app) {
  auto fa = std::make_shared<FormatArgs>();
  CLI::App* format = app.add_subcommand(
      "format",
      "Write a new, empty cache for an origin (destroys the cache's contents)");
  format
      ->add_option("--cache", fa->caches,
                   "Cache device or file; repeat it for a stripe or mirror set")
      ->type_name("PATH")
      ->required();
  format
      ->add_option("--cache-layout", fa->cache_layout,
                   "single, or stripe or mirror over every --cache")
      ->type_name("LAYOUT")
      ->capture_default_str();
  format
      ->add_option("--origin", fa->origin,
                   "Origin device or file (only measured and identified)")
      ->required()
      ->type_name("PATH");
  format
      ->add_option("--segment-size", fa->segment_size,
                   "Largest log segment: a power of two from 64K to 4M")
      ->type_name("SIZE")
      ->capture_default_str();
  format
      ->add_option(
          "--cache-size", fa->cache_size,
          "Create the cache file with this size if it is missing or empty")
      ->type_name("SIZE");
  format->add_flag(
      "--force", fa->force,
      "Overwrite an existing writeboost cache (its dirty data is lost)");
  SetAction(format, [fa] { return RunFormat(*fa); });

  AddInspectCommands(app);

  auto da = std::make_shared<DrainArgs>();
  CLI::App* drain = app.add_subcommand(
      "drain",
      "Write every dirty block back to the origin, leaving a clean cache");
  drain
      ->add_option("--cache", da->caches,
                   "Cache device or file; every member of a cache set, each "
                   "with its own --cache")
      ->type_name("PATH")
      ->required();
  drain->add_flag("--allow-missing", da->allow_missing,
                  "Drain a mirror although an in-sync member is not given "
                  "(it is recorded failed)");
  drain->add_option("--origin", da->origin, "The cache's origin device or file")
      ->type_name("PATH")
      ->required();
  SetAction(drain, [da] { return RunDrain(*da); });

  AddResilverCommand(app);
}

}  // namespace wbctl
