// writeboost-controller's configuration: what its flags and its JSON config
// file (docs/CONTROLLER.md, "Configuration") turn into. Parsing and checks
// only; nothing here opens a socket.
#ifndef WRITEBOOST_CONTROLLER_CONFIG_H_
#define WRITEBOOST_CONTROLLER_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace wb::controller {

// How a group's writeback budget is set.
enum class GroupMode {
  kCapacity,   // fixed by capacity_bytes_per_second (and capacity_iops)
  kAimd,       // adapted to the origin's p99 latency against target_p99_ms
  kUnlimited,  // no budget: grants say unlimited
};

// "capacity", "aimd", "unlimited" (the names GetPacing and the docs use).
const char* GroupModeName(GroupMode mode);

// One origin group. 0 means "not set" for every field.
struct GroupConfig {
  double capacity_bytes_per_second = 0;
  // Only with capacity_bytes_per_second; 0: no IOPS limit.
  double capacity_iops = 0;
  double target_p99_ms = 0;
  // Bounds of the AIMD budget (only with target_p99_ms).
  double min_bytes_per_second = 0;
  double max_bytes_per_second = 0;
};

// capacity_bytes_per_second set: kCapacity; else target_p99_ms set: kAimd;
// else kUnlimited. A null group (not configured) is kUnlimited.
GroupMode ModeOf(const GroupConfig* group);

struct ControllerConfig {
  // gRPC listen addresses: "HOST:PORT" or "unix:PATH".
  std::vector<std::string> listen = {"127.0.0.1:7300"};
  // Prometheus endpoint; "none", "0" or "" disables it.
  std::string metrics_listen = "127.0.0.1:7301";
  // How long a grant holds after the node received it.
  uint32_t lease_ms = 3000;
  // How often nodes report (and how often AIMD adjusts a budget).
  uint32_t report_interval_ms = 500;
  std::map<std::string, GroupConfig> groups;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;     // set: nodes and wbctl must present a certificate it signed
  bool insecure = false;  // allow non-loopback listening without TLS
};

// Reads the JSON config text into *cfg: lease_ms, report_interval_ms and
// groups (keys it does not set keep their values). Unknown keys, wrong
// types and negative numbers are INVALID_ARGUMENT naming the key's path
// (e.g. "groups.san-a.capacity_iops").
absl::Status ParseConfigJson(absl::string_view text, ControllerConfig* cfg);

// ParseConfigJson on a file's contents; NOT_FOUND when it cannot be read.
// Messages start with the path.
absl::Status LoadConfigFile(const std::string& path, ControllerConfig* cfg);

// Whether a --metrics-listen value turns the endpoint off: "", "none" and,
// for the controller only, "0".
bool MetricsDisabled(absl::string_view listen);

// Cross-field checks: listen addresses (non-loopback only with TLS or
// insecure), TLS files complete, lease and report interval in range and
// the lease at least two report intervals, metrics address well-formed,
// each group's fields consistent (see docs/CONTROLLER.md).
absl::Status ValidateConfig(const ControllerConfig& cfg);

}  // namespace wb::controller

#endif  // WRITEBOOST_CONTROLLER_CONFIG_H_
