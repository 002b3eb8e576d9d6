// wbctl ls and wbctl status: what a node serves, and everything it knows
// about a volume (the seed's status fields, hit ratios, dirty share,
// writeback rate, errors, tunables).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_format.h"
#include "client/lib/admin.h"
#include "client/wbctl/json_text.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/online.h"
#include "client/wbctl/output.h"

namespace wbctl {
namespace {

namespace v1 = writeboost::v1;

std::string StateName(v1::VolumeState s) {
  switch (s) {
    case v1::VOLUME_STATE_OPENING: return "opening (replaying its log)";
    case v1::VOLUME_STATE_SERVING: return "serving";
    case v1::VOLUME_STATE_FAILED: return "FAILED";
    case v1::VOLUME_STATE_DETACHING: return "detaching";
    default: return "unknown";
  }
}

struct Ratios {
  uint64_t read_hits = 0, reads = 0, write_hits = 0, writes = 0;
  double Read() const { return reads ? 100.0 * read_hits / reads : 0; }
  double Write() const { return writes ? 100.0 * write_hits / writes : 0; }
};

Ratios HitRatios(const v1::VolumeStatus& st) {
  Ratios r;
  for (const v1::StatCounter& c : st.stats()) {
    (c.write() ? r.writes : r.reads) += c.count();
    if (c.hit()) (c.write() ? r.write_hits : r.read_hits) += c.count();
  }
  return r;
}

double DirtyPercent(const v1::VolumeStatus& st) {
  return st.nr_cache_blocks() ? 100.0 * st.nr_dirty_cache_blocks() / st.nr_cache_blocks() : 0;
}

int RunLs(bool json) {
  absl::StatusOr<wbclient::Options> o = GlobalConnection().ClientOptions();
  if (!o.ok()) return Fail(o.status(), kExitUsage);
  auto admin = wbclient::Admin::Connect(GlobalConnection().server, *o);
  if (!admin.ok()) return FailRpc(admin.status());
  auto list = (*admin)->ListVolumes();
  if (!list.ok()) return FailRpc(list.status());
  if (json) {
    nlohmann::json out = ProtoToJson(*list)["volumes"];
    std::cout << JsonText(out) << "\n";
    return kExitOk;
  }
  std::cout << absl::StrFormat("%-16s %10s  %-9s %s\n", "NAME", "SIZE", "STATE", "DEVICES");
  for (const v1::VolumeInfo& v : list->volumes()) {
    std::string state = v.state() == v1::VOLUME_STATE_SERVING ? "serving"
                        : v.state() == v1::VOLUME_STATE_OPENING ? "opening"
                        : v.state() == v1::VOLUME_STATE_FAILED  ? "FAILED"
                                                                : "detaching";
    std::cout << absl::StrFormat("%-16s %10s  %-9s %s <- %s%s\n", v.name(),
                                 ShortSize(v.size_bytes()), state, v.origin(),
                                 v.caches_size() ? v.caches(0) : "",
                                 v.read_only() ? " (read-only)" : "");
  }
  return kExitOk;
}

void PrintStatus(const v1::VolumeStatus& st) {
  Report r;
  r.Section("volume " + st.name());
  r.Add("state", StateName(st.state()) + (st.failure().empty() ? "" : ": " + st.failure()));
  r.Add("size", FormatSize(st.size_bytes()));
  r.Add("origin", st.origin());
  {
    int out_of_service = 0;
    for (const v1::CacheDevice& d : st.cache_devices()) {
      out_of_service += d.health() == v1::DEVICE_HEALTH_FAILED;
    }
    const char* layout = st.cache_layout() == v1::CACHE_LAYOUT_STRIPE   ? "stripe"
                         : st.cache_layout() == v1::CACHE_LAYOUT_MIRROR ? "mirror"
                                                                        : "single";
    r.Add("cache layout",
          absl::StrFormat("%s, %d device%s%s", layout, st.cache_devices_size(),
                          st.cache_devices_size() == 1 ? "" : "s",
                          out_of_service == 0 || st.cache_layout() == v1::CACHE_LAYOUT_SINGLE
                              ? ""
                              : absl::StrFormat(", DEGRADED: %d out of service",
                                                out_of_service)));
  }
  for (const v1::CacheDevice& d : st.cache_devices()) {
    r.Add(absl::StrFormat("cache %d", d.index()),
          absl::StrFormat("%s (%s, %s)", d.path(), FormatSize(d.size_bytes()),
                          d.health() == v1::DEVICE_HEALTH_HEALTHY    ? "healthy"
                          : d.health() == v1::DEVICE_HEALTH_DEGRADED ? "DEGRADED"
                          : d.health() == v1::DEVICE_HEALTH_FAILED   ? "FAILED"
                                                                     : "unknown"));
  }
  if (st.state() == v1::VOLUME_STATE_OPENING || st.nr_cache_blocks() == 0) {
    r.Print(std::cout);
    return;
  }
  Ratios h = HitRatios(st);
  r.Add("dirty", absl::StrFormat("%.1f%% (%u of %u cache blocks, %u segments)",
                                 DirtyPercent(st), st.nr_dirty_cache_blocks(),
                                 st.nr_cache_blocks(), st.dirty_segments()));
  r.Add("read hit ratio", absl::StrFormat("%.1f%% (%u of %u)", h.Read(), h.read_hits, h.reads));
  r.Add("write hit ratio",
        absl::StrFormat("%.1f%% (%u of %u)", h.Write(), h.write_hits, h.writes));
  const v1::ReadCacheStats& rc = st.read_cache();
  r.Add("read cache",
        absl::StrFormat("%s; %u blocks read from clean copies, %u staged, %u held now",
                        rc.enabled() ? absl::StrFormat("staging runs up to %u blocks",
                                                       rc.threshold())
                                     : std::string("staging off"),
                        rc.cache_hit_blocks(), rc.staged_blocks(), rc.clean_blocks()));
  r.Add("zeroes and trims",
        absl::StrFormat("%u blocks zeroed, %u trimmed (%u discarded on the origin)",
                        st.zero_blocks(), st.trim_blocks(), st.discarded_blocks()));
  r.Add("writeback rate",
        FormatSize(static_cast<uint64_t>(st.writeback_rate_bytes_per_second())) + "/s");
  r.Add("written back", FormatSize(st.writeback_bytes()));
  r.Add("oldest dirty", absl::StrFormat("%.1f s (recovery point if the cache were lost)",
                                        st.oldest_dirty_age_seconds()));
  r.Add("writeback backlog", absl::StrFormat("%u epochs", st.dirty_epochs()));
  r.Add("errors", absl::StrFormat("origin %u, cache %u, checksum %u%s", st.origin_errors(),
                                  st.cache_errors(), st.checksum_errors(),
                                  st.last_origin_error().empty()
                                      ? ""
                                      : " (last origin error: " + st.last_origin_error() + ")"));
  r.Add("writers waiting", absl::StrFormat("%u", st.writers_waiting()));
  r.Section("seed status");
  r.Add("cursor_pos", absl::StrFormat("%u", st.cursor_pos()));
  r.Add("nr_cache_blocks", absl::StrFormat("%u", st.nr_cache_blocks()));
  r.Add("nr_segments", absl::StrFormat("%u", st.nr_segments()));
  r.Add("current_id", absl::StrFormat("%u", st.current_id()));
  r.Add("last_flushed_id", absl::StrFormat("%u", st.last_flushed_id()));
  r.Add("last_writeback_id", absl::StrFormat("%u", st.last_writeback_id()));
  r.Add("nr_dirty_cache_blocks", absl::StrFormat("%u", st.nr_dirty_cache_blocks()));
  r.Add("nr_partial_flushed", absl::StrFormat("%u", st.nr_partial_flushed()));
  r.Section("stat (write hit on_buffer full_size)");
  for (const v1::StatCounter& c : st.stats()) {
    r.Add(absl::StrFormat("%d %d %d %d", c.write(), c.hit(), c.on_buffer(), c.full_size()),
          absl::StrFormat("%u", c.count()));
  }
  r.Section("tunables");
  for (const v1::Tunable& t : st.tunables()) {
    bool unit = !t.unit().empty() && t.unit() != "bool" && t.unit() != "enum";
    r.Add(t.name(), absl::StrFormat("%u%s%s", t.value(), unit ? " " : "", unit ? t.unit() : ""));
  }
  r.Print(std::cout);
}

int RunStatus(const std::string& volume, bool json) {
  absl::StatusOr<wbclient::Options> o = GlobalConnection().ClientOptions();
  if (!o.ok()) return Fail(o.status(), kExitUsage);
  auto admin = wbclient::Admin::Connect(GlobalConnection().server, *o);
  if (!admin.ok()) return FailRpc(admin.status());
  std::vector<std::string> names;
  if (!volume.empty()) {
    names.push_back(volume);
  } else {
    auto list = (*admin)->ListVolumes();
    if (!list.ok()) return FailRpc(list.status());
    for (const auto& v : list->volumes()) names.push_back(v.name());
  }
  nlohmann::json all = nlohmann::json::array();
  for (size_t i = 0; i < names.size(); i++) {
    auto st = (*admin)->GetStatus(names[i]);
    if (!st.ok()) return FailRpc(st.status());
    if (json) {
      nlohmann::json j = ProtoToJson(*st);
      Ratios h = HitRatios(*st);
      j["dirty_percent"] = DirtyPercent(*st);
      j["read_hit_percent"] = h.Read();
      j["write_hit_percent"] = h.Write();
      all.push_back(j);
      continue;
    }
    if (i > 0) std::cout << "\n";
    PrintStatus(*st);
  }
  if (json) std::cout << JsonText(volume.empty() ? all : all[0]) << "\n";
  return kExitOk;
}

}  // namespace

void AddStatusCommands(CLI::App& app) {
  auto json_ls = std::make_shared<bool>(false);
  CLI::App* ls = app.add_subcommand("ls", "List the volumes a node serves, with their sizes");
  ls->add_flag("--json", *json_ls, "Print JSON");
  UsesConnection(ls);
  SetAction(ls, [json_ls] { return RunLs(*json_ls); });

  auto volume = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* status = app.add_subcommand(
      "status", "Show a volume's status: state, dirty share, hit ratios, writeback, "
                "errors, the seed's fields and tunables (all volumes without VOLUME)");
  status->add_option("volume", *volume, "Volume name");
  status->add_flag("--json", *json, "Print JSON (the proto's field names)");
  UsesConnection(status);
  SetAction(status, [volume, json] { return RunStatus(*volume, *json); });
}

}  // namespace wbctl
