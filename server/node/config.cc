// Parsing of --volume specs and the JSON config file, and the checks that
// need the whole configuration.
#include "server/node/config.h"

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/common/listen_address.h"
#include "server/core/device/nbd_device.h"
#include "server/core/format/layout.h"
#include "server/core/format/superblock.h"
#include "server/core/tunables.h"

namespace wb::node {

absl::StatusOr<uint64_t> ParseSize(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  std::string lower = absl::AsciiStrToLower(t);
  absl::string_view s = lower;
  if (!absl::ConsumeSuffix(&s, "ib")) absl::ConsumeSuffix(&s, "b");
  uint64_t mult = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k': mult = 1ull << 10; break;
      case 'm': mult = 1ull << 20; break;
      case 'g': mult = 1ull << 30; break;
      case 't': mult = 1ull << 40; break;
      default: mult = 0; break;
    }
    if (mult != 0) s.remove_suffix(1);
    if (mult == 0) mult = 1;
  }
  uint64_t n;
  if (s.empty() || !absl::SimpleAtoi(s, &n) || n > UINT64_MAX / mult) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a size (e.g. 4096, 64M, 1G)"));
  }
  return n * mult;
}

bool IsValidVolumeName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CheckVolumeName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("no volume name given");
  if (IsValidVolumeName(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "volume name ", QuoteBounded(name), " is not [A-Za-z0-9._-]{1,64}"));
}

std::string QuoteBounded(absl::string_view text, size_t max) {
  if (text.size() <= max) return absl::StrCat("\"", absl::CHexEscape(text), "\"");
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, max)), "\"... (",
                      text.size(), " bytes)");
}

namespace {

absl::Status CheckPath(absl::string_view what, absl::string_view path) {
  if (path.size() > kMaxPathLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", QuoteBounded(path), " is longer than ", kMaxPathLength, " bytes"));
  }
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", QuoteBounded(path), " contains a NUL byte"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckVolumeLimits(const VolumeConfig& v) {
  if (v.rambuf_size != 0 &&
      (v.rambuf_size < kMinRambufSize || v.rambuf_size > kMaxRambufSize)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rambuf_size ", v.rambuf_size, " is outside [1 MiB, 64 GiB] (0: the node's)"));
  }
  const uint32_t seg = v.segment_size;
  if (seg != 0 && (seg < kMinSegmentSize || seg > kMaxSegmentSize || (seg & (seg - 1)) != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "segment_size ", seg, " is not a power of two from 64 KiB to 4 MiB (0: 512 KiB)"));
  }
  const size_t devices = CachePaths(v).size();
  if (devices < 1 || devices > kMaxCacheDevices) {
    return absl::InvalidArgumentError(absl::StrCat(
        devices, " cache devices; a volume has 1 to ", kMaxCacheDevices));
  }
  if (absl::Status s = CheckPath("origin", v.origin); !s.ok()) return s;
  for (const std::string& c : CachePaths(v)) {
    if (absl::Status s = CheckPath("cache", c); !s.ok()) return s;
  }
  if (!v.origin_group.empty() && !IsValidVolumeName(v.origin_group)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "origin_group ", QuoteBounded(v.origin_group), " is not [A-Za-z0-9._-]{1,64}"));
  }
  return absl::OkStatus();
}

std::vector<std::string> CachePaths(const VolumeConfig& v) {
  std::vector<std::string> out;
  if (!v.cache.empty()) out.push_back(v.cache);
  out.insert(out.end(), v.more_caches.begin(), v.more_caches.end());
  return out;
}

absl::StatusOr<uint32_t> ParseCacheLayout(absl::string_view text) {
  for (uint32_t layout : {kLayoutSingle, kLayoutStripe, kLayoutMirror}) {
    if (text == LayoutName(layout)) return layout;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "cache_layout \"", text, "\" is not single, stripe or mirror"));
}

absl::Status SetVolumeKey(VolumeConfig* v, absl::string_view key,
                          absl::string_view value) {
  auto size = [&](uint64_t* out) -> absl::Status {
    absl::StatusOr<uint64_t> n = ParseSize(value);
    if (!n.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": ", n.status().message()));
    }
    *out = *n;
    return absl::OkStatus();
  };
  if (key == "name") {
    v->name = std::string(value);
  } else if (key == "origin") {
    v->origin = std::string(value);
  } else if (key == "cache") {
    (v->cache.empty() ? v->cache : v->more_caches.emplace_back()) =
        std::string(value);
  } else if (key == "cache_layout") {
    absl::StatusOr<uint32_t> layout = ParseCacheLayout(value);
    if (!layout.ok()) return layout.status();
    v->cache_layout = *layout;
  } else if (key == "rambuf_size") {
    return size(&v->rambuf_size);
  } else if (key == "origin_size") {
    return size(&v->origin_size);
  } else if (key == "cache_size") {
    return size(&v->cache_size);
  } else if (key == "segment_size") {
    uint64_t n;
    if (absl::Status s = size(&n); !s.ok()) return s;
    v->segment_size = static_cast<uint32_t>(n);
    if (n > UINT32_MAX) return absl::InvalidArgumentError("segment_size is too large");
  } else if (key == "origin_group") {
    v->origin_group = std::string(value);
  } else if (key == "io_timeout") {
    if (!absl::SimpleAtoi(value, &v->io_timeout_s) || v->io_timeout_s == 0) {
      return absl::InvalidArgumentError("io_timeout: want a positive number of seconds");
    }
  } else {
    for (const TunableInfo& t : AllTunables()) {
      if (key != t.name) continue;
      uint64_t n;
      if (!absl::SimpleAtoi(value, &n)) {
        return absl::InvalidArgumentError(
            absl::StrCat(key, ": \"", value, "\" is not a number"));
      }
      Tunables scratch;
      if (absl::Status s = SetTunable(&scratch, key, n); !s.ok()) return s;
      v->tunables[std::string(key)] = n;
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown volume key \"", key,
        "\"; known: name, origin, cache, cache_layout, rambuf_size, origin_size, "
        "cache_size, segment_size, io_timeout, origin_group and the tunables"));
  }
  return absl::OkStatus();
}

absl::StatusOr<VolumeConfig> ParseVolumeSpec(absl::string_view spec) {
  VolumeConfig v;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (part.find('=') == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--volume ", spec, ": \"", part, "\" is not key=value"));
    }
    if (absl::Status s = SetVolumeKey(&v, kv.first, kv.second); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--volume ", spec, ": ", s.message()));
    }
  }
  return v;
}

namespace {

std::string JsonText(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : j.dump();
}

absl::Status LoadVolume(const nlohmann::json& j, VolumeConfig* v) {
  if (!j.is_object()) return absl::InvalidArgumentError("a volume must be an object");
  for (const auto& [key, value] : j.items()) {
    if (key == "tunables") {
      if (!value.is_object()) {
        return absl::InvalidArgumentError("tunables must be an object");
      }
      for (const auto& [name, n] : value.items()) {
        if (absl::Status s = SetVolumeKey(v, name, JsonText(n)); !s.ok()) return s;
      }
      continue;
    }
    if (key == "cache" && value.is_array()) {  // several cache devices
      for (const auto& c : value) {
        if (absl::Status s = SetVolumeKey(v, key, JsonText(c)); !s.ok()) return s;
      }
      continue;
    }
    if (absl::Status s = SetVolumeKey(v, key, JsonText(value)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status LoadJson(const nlohmann::json& j, NodeConfig* cfg) {
  if (!j.is_object()) return absl::InvalidArgumentError("the top level must be an object");
  for (const auto& [key, value] : j.items()) {
    std::string text = JsonText(value);
    absl::Status s;
    auto size = [&](uint64_t* out) {
      absl::StatusOr<uint64_t> n = ParseSize(text);
      if (n.ok()) *out = *n;
      return n.status();
    };
    if (key == "listen") {
      cfg->listen.clear();
      if (value.is_array()) {
        for (const auto& a : value) cfg->listen.push_back(JsonText(a));
      } else {
        cfg->listen = absl::StrSplit(text, ',', absl::SkipEmpty());
      }
    } else if (key == "data_dir") {
      cfg->data_dir = text;
    } else if (key == "rambuf_size") {
      s = size(&cfg->rambuf_size);
    } else if (key == "max_payload") {
      s = size(&cfg->max_payload);
    } else if (key == "stream_inflight") {
      s = size(&cfg->stream_inflight);
    } else if (key == "total_inflight") {
      s = size(&cfg->total_inflight);
    } else if (key == "stream_workers" && value.is_number_integer()) {
      cfg->stream_workers = value.get<int>();
    } else if (key == "max_threads" && value.is_number_integer()) {
      cfg->max_threads = value.get<int>();
    } else if (key == "tls_cert") {
      cfg->tls_cert = text;
    } else if (key == "tls_key") {
      cfg->tls_key = text;
    } else if (key == "tls_ca") {
      cfg->tls_ca = text;
    } else if (key == "auth_tokens") {
      cfg->auth_tokens = text;
    } else if (key == "insecure" && value.is_boolean()) {
      cfg->insecure = value.get<bool>();
    } else if (key == "controller") {
      cfg->controller = text;
    } else if (key == "controller_tls_ca") {
      cfg->controller_tls_ca = text;
    } else if (key == "node_id") {
      cfg->node_id = text;
    } else if (key == "origin_group") {
      cfg->origin_group = text;
    } else if ((key == "allow_paths" || key == "allow_nbd") && value.is_array()) {
      for (const auto& a : value) {
        (key == "allow_paths" ? cfg->allow_paths : cfg->allow_nbd).push_back(JsonText(a));
      }
    } else if (key == "volumes" && value.is_array()) {
      for (const auto& vj : value) {
        VolumeConfig v;
        s = LoadVolume(vj, &v);
        if (!s.ok()) break;
        cfg->volumes.push_back(std::move(v));
      }
    } else {
      s = absl::InvalidArgumentError(
          absl::StrCat("unknown key or wrong type: \"", key, "\""));
    }
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadConfigFile(const std::string& path, NodeConfig* cfg) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  }
  if (absl::Status s = LoadJson(j, cfg); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return absl::OkStatus();
}

VolumeConfig EmbeddedDefaultVolume(const std::string& data_dir) {
  VolumeConfig v;
  v.name = "default";
  v.origin = data_dir + "/default.origin";
  v.cache = data_dir + "/default.cache";
  v.origin_size = 1ull << 30;
  v.cache_size = 256ull << 20;
  return v;
}

absl::Status ValidateConfig(const NodeConfig& cfg) {
  if (cfg.listen.empty()) return absl::InvalidArgumentError("no listen address");
  bool tls = !cfg.tls_cert.empty();
  if (tls != !cfg.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!cfg.tls_ca.empty() && !tls) {
    return absl::InvalidArgumentError("--tls-ca (mTLS) needs --tls-cert and --tls-key");
  }
  for (const std::string& addr : cfg.listen) {
    if (!common::IsLocalAddress(addr) && !tls && !cfg.insecure) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to listen on non-loopback address ", addr,
          " without TLS: give --tls-cert/--tls-key, or --insecure to accept "
          "plaintext on the network"));
    }
  }
  if (cfg.max_payload < 4096 || cfg.max_payload % 512 != 0 ||
      cfg.max_payload > (256ull << 20)) {
    return absl::InvalidArgumentError(
        "max_payload must be a multiple of 512 between 4 KiB and 256 MiB");
  }
  if (cfg.stream_inflight < cfg.max_payload) {
    return absl::InvalidArgumentError("stream_inflight must be at least max_payload");
  }
  if (cfg.total_inflight < cfg.stream_inflight) {
    return absl::InvalidArgumentError("total_inflight must be at least stream_inflight");
  }
  if (cfg.stream_workers < 1 || cfg.stream_workers > 256) {
    return absl::InvalidArgumentError("stream_workers must be in [1, 256]");
  }
  if (cfg.max_threads < 4) return absl::InvalidArgumentError("max_threads must be at least 4");
  if (!cfg.controller.empty() && cfg.controller.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--controller ", cfg.controller, ": want HOST:PORT"));
  }
  if (!cfg.controller_tls_ca.empty() && cfg.controller.empty()) {
    return absl::InvalidArgumentError("--controller-tls-ca needs --controller");
  }
  if (!IsValidVolumeName(cfg.origin_group)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--origin-group ", QuoteBounded(cfg.origin_group), " is not [A-Za-z0-9._-]{1,64}"));
  }
  if (cfg.rambuf_size < kMinRambufSize || cfg.rambuf_size > kMaxRambufSize) {
    return absl::InvalidArgumentError("rambuf_size must be between 1 MiB and 64 GiB");
  }
  for (const std::string& p : cfg.allow_paths) {
    if (p.empty() || p.size() > kMaxPathLength) {
      return absl::InvalidArgumentError("--allow-path wants a path");
    }
  }
  for (const std::string& p : cfg.allow_nbd) {
    if (!IsNbdUri(p)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--allow-nbd ", p, ": want an NBD URI prefix such as nbd://san1/"));
    }
  }
  std::set<std::string> names;
  for (const VolumeConfig& v : cfg.volumes) {
    if (absl::Status s = CheckVolumeName(v.name); !s.ok()) return s;
    if (v.origin.empty() || v.cache.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("volume ", v.name, " needs origin= and cache="));
    }
    if (absl::Status s = CheckVolumeLimits(v); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("volume ", v.name, ": ", s.message()));
    }
    const size_t n = 1 + v.more_caches.size();
    if (v.cache_layout == 0 && n > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "volume ", v.name, " has ", n, " cache devices: say how to combine "
          "them with cache_layout=stripe or cache_layout=mirror"));
    }
    if (n > 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "volume ", v.name, " has ", n, " cache devices; at most 16"));
    }
    std::set<std::string> paths;
    for (const std::string& p : CachePaths(v)) {
      if (!paths.insert(p).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "volume ", v.name, " names cache device ", p, " twice"));
      }
    }
    if (!names.insert(v.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("volume ", v.name, " is configured twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace wb::node
