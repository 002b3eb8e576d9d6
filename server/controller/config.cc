// Parsing of the controller's JSON config file and the checks that need the
// whole configuration.
#include "server/controller/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/common/listen_address.h"
#include "server/common/metrics_listen.h"

namespace wb::controller {

const char* GroupModeName(GroupMode mode) {
  switch (mode) {
    case GroupMode::kCapacity: return "capacity";
    case GroupMode::kAimd: return "aimd";
    case GroupMode::kUnlimited: return "unlimited";
  }
  return "unlimited";
}

GroupMode ModeOf(const GroupConfig* g) {
  if (g == nullptr) return GroupMode::kUnlimited;
  if (g->capacity_bytes_per_second > 0) return GroupMode::kCapacity;
  if (g->target_p99_ms > 0) return GroupMode::kAimd;
  return GroupMode::kUnlimited;
}

namespace {

const char* TypeName(const nlohmann::json& j) { return j.type_name(); }

absl::Status Bad(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
}

// A JSON number >= 0 (integers and decimals alike).
absl::Status NonNegative(const nlohmann::json& j, absl::string_view path, double* out) {
  if (!j.is_number()) {
    return Bad(path, absl::StrCat("want a number, got ", TypeName(j)));
  }
  double v = j.get<double>();
  if (!std::isfinite(v) || v < 0) {
    return Bad(path, absl::StrCat("must be >= 0, got ", j.dump()));
  }
  *out = v;
  return absl::OkStatus();
}

// A JSON integer in [1, UINT32_MAX] (milliseconds).
absl::Status Millis(const nlohmann::json& j, absl::string_view path, uint32_t* out) {
  if (!j.is_number_integer()) {
    return Bad(path, absl::StrCat("want an integer number of milliseconds, got ", j.dump()));
  }
  // nlohmann stores non-negative integers as unsigned, negative ones as signed.
  if (!j.is_number_unsigned() || j.get<uint64_t>() == 0 || j.get<uint64_t>() > UINT32_MAX) {
    return Bad(path, absl::StrCat("must be a positive number of milliseconds, got ", j.dump()));
  }
  *out = static_cast<uint32_t>(j.get<uint64_t>());
  return absl::OkStatus();
}

absl::Status ParseGroup(const std::string& name, const nlohmann::json& j, GroupConfig* g) {
  const std::string path = absl::StrCat("groups.", name);
  if (!j.is_object()) return Bad(path, absl::StrCat("want an object, got ", TypeName(j)));
  struct Key {
    const char* name;
    double GroupConfig::*field;
  };
  static constexpr Key kKeys[] = {
      {"capacity_bytes_per_second", &GroupConfig::capacity_bytes_per_second},
      {"capacity_iops", &GroupConfig::capacity_iops},
      {"target_p99_ms", &GroupConfig::target_p99_ms},
      {"min_bytes_per_second", &GroupConfig::min_bytes_per_second},
      {"max_bytes_per_second", &GroupConfig::max_bytes_per_second},
  };
  for (const auto& [key, value] : j.items()) {
    const Key* k = nullptr;
    for (const Key& candidate : kKeys) {
      if (key == candidate.name) k = &candidate;
    }
    if (k == nullptr) {
      return Bad(absl::StrCat(path, ".", key),
                 "unknown key; known: capacity_bytes_per_second, capacity_iops, "
                 "target_p99_ms, min_bytes_per_second, max_bytes_per_second");
    }
    if (absl::Status s = NonNegative(value, absl::StrCat(path, ".", key), &(g->*(k->field)));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTop(const nlohmann::json& j, ControllerConfig* cfg) {
  if (!j.is_object()) return absl::InvalidArgumentError("the top level must be an object");
  for (const auto& [key, value] : j.items()) {
    absl::Status s;
    if (key == "lease_ms") {
      s = Millis(value, key, &cfg->lease_ms);
    } else if (key == "report_interval_ms") {
      s = Millis(value, key, &cfg->report_interval_ms);
    } else if (key == "groups") {
      if (!value.is_object()) {
        return Bad(key, absl::StrCat("want an object of group name -> settings, got ",
                                     TypeName(value)));
      }
      for (const auto& [name, group] : value.items()) {
        GroupConfig g;
        s = ParseGroup(name, group, &g);
        if (!s.ok()) break;
        cfg->groups[name] = g;
      }
    } else {
      s = Bad(key, "unknown key; known: lease_ms, report_interval_ms, groups");
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateGroup(const std::string& name, const GroupConfig& g) {
  const std::string path = absl::StrCat("groups.", name);
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("group name \"", name, "\" must have 1 to 128 characters"));
  }
  for (char c : name) {
    if (!absl::ascii_isgraph(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "group name \"", name, "\" may hold only printable characters, no spaces"));
    }
  }
  const bool capacity = g.capacity_bytes_per_second > 0;
  const bool aimd = g.target_p99_ms > 0;
  if (g.capacity_iops > 0 && !capacity) {
    return Bad(path, "capacity_iops needs capacity_bytes_per_second (an IOPS limit alone "
                     "would leave the byte rate unpaced)");
  }
  if (capacity && aimd) {
    return Bad(path, "capacity_bytes_per_second and target_p99_ms exclude each other: a fixed "
                     "budget, or one adapted to latency (bounded by min_bytes_per_second and "
                     "max_bytes_per_second)");
  }
  if (!aimd && (g.min_bytes_per_second > 0 || g.max_bytes_per_second > 0)) {
    return Bad(path, "min_bytes_per_second and max_bytes_per_second bound the AIMD budget; "
                     "they need target_p99_ms");
  }
  if (g.max_bytes_per_second > 0 && g.min_bytes_per_second > g.max_bytes_per_second) {
    return Bad(path, absl::StrCat("min_bytes_per_second (", g.min_bytes_per_second,
                                  ") is above max_bytes_per_second (", g.max_bytes_per_second,
                                  ")"));
  }
  return absl::OkStatus();
}

// "HOST:PORT" with a host name or IPv4 address and a port from 0 to 65535.
absl::Status ValidateMetricsListen(absl::string_view listen) {
  if (MetricsDisabled(listen)) return absl::OkStatus();
  return common::ValidateMetricsListen(listen, "127.0.0.1:7301");
}

}  // namespace

absl::Status ParseConfigJson(absl::string_view text, ControllerConfig* cfg) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  return ParseTop(j, cfg);
}

absl::Status LoadConfigFile(const std::string& path, ControllerConfig* cfg) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (absl::Status s = ParseConfigJson(ss.str(), cfg); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return absl::OkStatus();
}

bool MetricsDisabled(absl::string_view listen) {
  return common::MetricsDisabled(listen) || listen == "0";
}

absl::Status ValidateConfig(const ControllerConfig& cfg) {
  if (cfg.listen.empty()) return absl::InvalidArgumentError("no listen address");
  const bool tls = !cfg.tls_cert.empty();
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
  if (absl::Status s = ValidateMetricsListen(cfg.metrics_listen); !s.ok()) return s;
  if (cfg.report_interval_ms < 50 || cfg.report_interval_ms > 60000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report_interval_ms must be from 50 to 60000, got ", cfg.report_interval_ms));
  }
  if (cfg.lease_ms > 600000) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease_ms must be at most 600000 (10 minutes), got ", cfg.lease_ms));
  }
  // One report lost or late must not lapse the nodes' leases.
  if (cfg.lease_ms < 2ull * cfg.report_interval_ms) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lease_ms (", cfg.lease_ms, ") must be at least twice report_interval_ms (",
        cfg.report_interval_ms, "), so that one late report does not lapse the leases"));
  }
  for (const auto& [name, g] : cfg.groups) {
    if (absl::Status s = ValidateGroup(name, g); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace wb::controller
