// wbctl format-volume, attach-volume and detach-volume: what a node serves,
// changed at run time (AdminService FormatVolume, AttachVolume,
// DetachVolume). The node remembers what is attached this way across its
// restarts. (attach-nbd is another thing: it exposes a served volume on
// this machine.)
//
// Paths name devices on the node's machine, so they must be absolute: a
// relative one would be resolved against the daemon's working directory,
// not the user's.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/lib/admin.h"
#include "client/wbctl/json_text.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/online.h"
#include "client/wbctl/output.h"

namespace wbctl {
namespace {

namespace v1 = writeboost::v1;

struct SpecArgs {
  std::string volume;
  std::string origin;
  std::vector<std::string> caches;  // --cache, repeatable (a cache set)
  std::string cache_layout;         // single, stripe, mirror
  std::string rambuf_size;
  std::string segment_size;  // format-volume only
  std::string origin_group;
  std::vector<std::string> tunables;  // KEY=VALUE
  bool force = false;                 // format-volume only
  bool attach = false;                // format-volume only
  bool json = false;
};

// The VolumeSpec of the arguments; INVALID_ARGUMENT (a usage error) for a
// relative path, a bad size or a bad KEY=VALUE.
absl::StatusOr<v1::VolumeSpec> MakeSpec(const SpecArgs& a) {
  v1::VolumeSpec spec;
  spec.set_name(a.volume);
  std::vector<std::pair<const char*, const std::string*>> paths = {{"--origin", &a.origin}};
  for (const std::string& c : a.caches) paths.emplace_back("--cache", &c);
  for (const auto& [flag, path] : paths) {
    if (path->empty() || path->front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, " ", *path, ": give an absolute path (it names a device on the node's machine)"));
    }
  }
  spec.set_origin(a.origin);
  for (const std::string& c : a.caches) spec.add_caches(c);
  if (a.cache_layout == "stripe") {
    spec.set_cache_layout(v1::CACHE_LAYOUT_STRIPE);
  } else if (a.cache_layout == "mirror") {
    spec.set_cache_layout(v1::CACHE_LAYOUT_MIRROR);
  } else if (a.cache_layout == "single" || a.cache_layout.empty()) {
    if (a.caches.size() > 1) {
      return absl::InvalidArgumentError(
          "several --cache devices need --cache-layout stripe or mirror");
    }
    spec.set_cache_layout(v1::CACHE_LAYOUT_SINGLE);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--cache-layout ", a.cache_layout, ": want single, stripe or mirror"));
  }
  if (!a.rambuf_size.empty()) {
    absl::StatusOr<uint64_t> n = ParseSize(a.rambuf_size);
    if (!n.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--rambuf-size: ", n.status().message()));
    }
    spec.set_rambuf_size(*n);
  }
  spec.set_origin_group(a.origin_group);
  if (!a.segment_size.empty()) {
    absl::StatusOr<uint64_t> n = ParseSize(a.segment_size);
    if (!n.ok() || *n > UINT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--segment-size ", a.segment_size, " is not a size from 64K to 4M"));
    }
    spec.set_segment_size(static_cast<uint32_t>(*n));
  }
  for (const std::string& kv : a.tunables) {
    size_t eq = kv.find('=');
    uint64_t value;
    if (eq == 0 || eq == std::string::npos || !absl::SimpleAtoi(kv.substr(eq + 1), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set ", kv, ": want TUNABLE=NUMBER, e.g. writeback_threshold=50"));
    }
    (*spec.mutable_tunables())[kv.substr(0, eq)] = value;
  }
  return spec;
}

absl::StatusOr<std::unique_ptr<wbclient::Admin>> ConnectAdmin() {
  absl::StatusOr<wbclient::Options> o = GlobalConnection().ClientOptions();
  if (!o.ok()) return o.status();
  return wbclient::Admin::Connect(GlobalConnection().server, *o);
}

std::string Serving(const v1::VolumeInfo& v) {
  return absl::StrFormat("serving %s (origin %s, cache %s)", FormatSize(v.size_bytes()),
                         v.origin(), v.caches_size() ? v.caches(0) : "");
}

int RunAttach(const SpecArgs& a) {
  absl::StatusOr<v1::VolumeSpec> spec = MakeSpec(a);
  if (!spec.ok()) return Fail(spec.status().message(), kExitUsage);
  auto admin = ConnectAdmin();
  if (!admin.ok()) return FailRpc(admin.status());
  absl::StatusOr<v1::VolumeInfo> info = (*admin)->AttachVolume(*spec);
  if (!info.ok()) return FailRpc(info.status());
  if (a.json) {
    std::cout << JsonText(ProtoToJson(*info)) << "\n";
  } else {
    std::cout << info->name() << ": attached, " << Serving(*info) << "\n";
  }
  return kExitOk;
}

int RunFormatVolume(const SpecArgs& a) {
  absl::StatusOr<v1::VolumeSpec> spec = MakeSpec(a);
  if (!spec.ok()) return Fail(spec.status().message(), kExitUsage);
  auto admin = ConnectAdmin();
  if (!admin.ok()) return FailRpc(admin.status());
  absl::StatusOr<v1::VolumeInfo> info = (*admin)->FormatVolume(*spec, a.force, a.attach);
  if (!info.ok()) return FailRpc(info.status());
  if (a.json) {
    nlohmann::json j = ProtoToJson(*info);
    j["formatted"] = true;
    j["attached"] = a.attach;
    std::cout << JsonText(j) << "\n";
    return kExitOk;
  }
  std::cout << absl::StrFormat("%s: formatted %s as the cache of %s", a.volume,
                               absl::StrJoin(a.caches, " + "), a.origin);
  if (a.attach) {
    std::cout << "; attached, " << Serving(*info) << "\n";
  } else {
    std::cout << "\n(attach it with: wbctl attach-volume " << a.volume << " --origin " << a.origin
              << " --cache " << absl::StrJoin(a.caches, " --cache ")
              << (a.caches.size() > 1 ? " --cache-layout " + a.cache_layout : "") << ")\n";
  }
  return kExitOk;
}

struct DetachArgs {
  std::string volume;
  bool drain = false;
  bool force = false;
  bool json = false;
};

int RunDetach(const DetachArgs& a) {
  auto admin = ConnectAdmin();
  if (!admin.ok()) return FailRpc(admin.status());
  if (a.drain && isatty(STDERR_FILENO) == 1) {
    // DetachVolume reports no progress. On a terminal, write back first with
    // progress; the detach then drains only what was written meanwhile. Its
    // errors are the detach's to report.
    Progress bar("writing back", /*bytes=*/false, "dirty blocks");
    uint64_t initial = 0;
    (*admin)
        ->DropCaches(a.volume,
                     [&](const v1::DropCachesProgress& p) {
                       initial = std::max(initial, p.initial_dirty_blocks());
                       bar.Update(initial - std::min(initial, p.dirty_blocks()), initial);
                     })
        .IgnoreError();
  }
  absl::Status s = (*admin)->DetachVolume(a.volume, a.drain, a.force);
  if (!s.ok()) return FailRpc(s);
  if (a.json) {
    std::cout << JsonText(nlohmann::json{{"volume", a.volume}, {"detached", true},
                                         {"drained", a.drain}, {"forced", a.force}})
              << "\n";
  } else if (a.drain) {
    std::cout << a.volume << ": written back and detached; the origin holds all of its data\n";
  } else if (a.force) {
    std::cout << a.volume << ": detached; any dirty data stays in the cache and is written "
                             "back after the next attach\n";
  } else {
    std::cout << a.volume << ": detached (it had no dirty data)\n";
  }
  return kExitOk;
}

void AddSpecOptions(CLI::App* sub, SpecArgs* a) {
  sub->add_option("volume", a->volume, "Volume name, [A-Za-z0-9._-]{1,64}")->required();
  sub->add_option("--origin", a->origin, "Origin device or file on the node (absolute path)")
      ->required();
  sub->add_option("--cache", a->caches,
                  "Cache device or file on the node (absolute path); repeat it for a "
                  "cache set of several devices")
      ->required();
  sub->add_option("--cache-layout", a->cache_layout,
                  "How several --cache devices combine: stripe (bandwidth, no "
                  "redundancy) or mirror (every device holds everything)");
  sub->add_option("--rambuf-size", a->rambuf_size,
                  "RAM buffer of this volume (default: the node's --rambuf-size)");
  sub->add_option("--origin-group", a->origin_group,
                  "Origin group: volumes sharing one back end, paced together by the "
                  "controller (default: the node's --origin-group)");
  sub->add_option("--set", a->tunables,
                  "TUNABLE=VALUE, e.g. writeback_threshold=50 (repeatable; persisted "
                  "in the cache)");
  sub->add_flag("--json", a->json, "Print JSON");
  UsesConnection(sub);
}

}  // namespace

void AddVolumeCommands(CLI::App& app) {
  auto fa = std::make_shared<SpecArgs>();
  CLI::App* format = app.add_subcommand(
      "format-volume", "Have the node format a cache for an origin (the origin's data is "
                       "untouched), and with --attach serve it");
  AddSpecOptions(format, fa.get());
  format->add_option("--segment-size", fa->segment_size,
                     "Largest log segment, a power of two from 64K to 4M (default 512K)");
  format->add_flag("--force", fa->force,
                   "Overwrite a cache that already holds a writeboost cache set (its dirty "
                   "data is lost)");
  format->add_flag("--attach", fa->attach, "Serve the volume once formatted");
  SetAction(format, [fa] { return RunFormatVolume(*fa); });

  auto aa = std::make_shared<SpecArgs>();
  CLI::App* attach = app.add_subcommand(
      "attach-volume", "Serve a formatted cache and its origin as a volume (remembered across "
                "node restarts until detached)");
  AddSpecOptions(attach, aa.get());
  SetAction(attach, [aa] { return RunAttach(*aa); });

  auto da = std::make_shared<DetachArgs>();
  CLI::App* detach = app.add_subcommand(
      "detach-volume", "Stop serving a volume; refused while it holds dirty data unless "
                "--drain or --force");
  detach->add_option("volume", da->volume, "Volume name")->required();
  CLI::Option* drain = detach->add_flag(
      "--drain", da->drain, "Write every dirty block back first: the origin is then complete");
  detach->add_flag("--force", da->force,
                   "Detach with dirty data left in the cache (written back after the "
                   "next attach)")
      ->excludes(drain);
  detach->add_flag("--json", da->json, "Print JSON");
  UsesConnection(detach);
  SetAction(detach, [da] { return RunDetach(*da); });
}

}  // namespace wbctl
