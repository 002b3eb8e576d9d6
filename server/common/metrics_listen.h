// The --metrics-listen value both daemons take for their Prometheus
// endpoint: HOST:PORT, or "none" for no endpoint.
#ifndef WRITEBOOST_COMMON_METRICS_LISTEN_H_
#define WRITEBOOST_COMMON_METRICS_LISTEN_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace wb::common {

// True for "" and "none".
bool MetricsDisabled(absl::string_view listen);

// Checks a --metrics-listen value: "none", "", or HOST:PORT with a host
// name or IPv4 address and a port from 0 to 65535. INVALID_ARGUMENT saying
// what is wrong otherwise, suggesting `example` (the daemon's default).
absl::Status ValidateMetricsListen(absl::string_view listen, absl::string_view example);

}  // namespace wb::common

#endif  // WRITEBOOST_COMMON_METRICS_LISTEN_H_
