// The node's Prometheus endpoint: an HTTP server (prometheus-cpp's Exposer)
// that answers GET /metrics with the volumes' state, the block service's
// I/O metrics and process metrics, all read at scrape time. See
// docs/METRICS.md.
#ifndef WRITEBOOST_NODE_METRICS_SERVER_H_
#define WRITEBOOST_NODE_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/common/metrics_endpoint.h"
#include "server/common/metrics_listen.h"
#include "server/node/metrics_io.h"
#include "server/node/metrics_process.h"
#include "server/node/metrics_volumes.h"
#include "server/node/volume_registry.h"

namespace wb::node {

// writeboostd's default: loopback, next to the gRPC port 7200.
inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:7201";

struct MetricsOptions {
  // "HOST:PORT" (port 0: a free port, logged), or "none" (or empty): no
  // endpoint.
  std::string listen;
  // A failure to listen stops the node when the address was asked for;
  // the default address is only a convenience, which another daemon on the
  // host may already hold, so there it is logged and the node runs on.
  bool required = true;
};

// True for "" and "none".
using common::MetricsDisabled;

// Checks a --metrics-listen value: "none", "", or HOST:PORT with a host
// name or IPv4 address and a port from 0 to 65535. INVALID_ARGUMENT saying
// what is wrong otherwise.
inline absl::Status ValidateMetricsListen(absl::string_view listen) {
  return common::ValidateMetricsListen(listen, kDefaultMetricsListen);
}

class MetricsServer {
 public:
  // Serves the metrics of `registry`'s volumes on `listen`.
  // REQUIRES: ValidateMetricsListen(listen) is OK and not disabled;
  // registry outlives the server. UNAVAILABLE when the address cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen, const VolumeRegistry* registry);
  ~MetricsServer();

  // Stops the HTTP server; waits for scrapes in progress. The collectors
  // stay usable. Also done by the destructor.
  void StopServing();

  // Where the block service records each request. Thread-safe.
  IoMetrics* io() { return io_.get(); }
  // The registry's health callback feeds it (open durations). Thread-safe.
  VolumeMetrics* volumes() { return volumes_.get(); }
  // The address bound, with port 0 replaced by the port chosen.
  const std::string& address() const { return endpoint_->address(); }

 private:
  MetricsServer() = default;

  std::shared_ptr<IoMetrics> io_;
  std::shared_ptr<VolumeMetrics> volumes_;
  std::shared_ptr<ProcessMetrics> process_;
  // Last: destroyed first, so no scrape runs while the collectors go.
  std::unique_ptr<common::MetricsEndpoint> endpoint_;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_METRICS_SERVER_H_
