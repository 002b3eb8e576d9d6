#include "server/common/metrics_listen.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace wb::common {

bool MetricsDisabled(absl::string_view listen) { return listen.empty() || listen == "none"; }

absl::Status ValidateMetricsListen(absl::string_view listen, absl::string_view example) {
  if (MetricsDisabled(listen)) return absl::OkStatus();
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics-listen \"", listen, "\": ", why, " (want HOST:PORT, e.g. ", example,
        ", port 0 for any free port, or none)"));
  };
  if (listen.front() == '[') return bad("IPv6 addresses are not supported");
  size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos) return bad("no port");
  absl::string_view host = listen.substr(0, colon), port = listen.substr(colon + 1);
  // Without a host the HTTP server would listen on every interface; that
  // must be asked for by name (0.0.0.0).
  if (host.empty()) return bad("no host");
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-') return bad("not a host name or IPv4 address");
  }
  // Digits only: SimpleAtoi alone would take "+80" or " 80".
  uint32_t n;
  if (port.empty() || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &n) || n > 65535) {
    return bad("the port is not a number from 0 to 65535");
  }
  return absl::OkStatus();
}

}  // namespace wb::common
