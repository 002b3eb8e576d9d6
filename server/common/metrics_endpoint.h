// The HTTP side of both daemons' Prometheus endpoint: prometheus-cpp's
// Exposer on a --metrics-listen address, made to fail at once on an
// address in use and to stop at once (the Exposer alone takes two seconds
// for each). The daemons supply the collectables.
#ifndef WRITEBOOST_COMMON_METRICS_ENDPOINT_H_
#define WRITEBOOST_COMMON_METRICS_ENDPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>

#include "absl/status/statusor.h"

namespace prometheus {
class Exposer;
}

namespace wb::common {

class MetricsEndpoint {
 public:
  // Serves GET /metrics on `listen` ("HOST:PORT"; port 0 picks a free one)
  // from `collectables`, in this order. REQUIRES: ValidateMetricsListen
  // passed and !MetricsDisabled(listen); the caller keeps the collectables
  // alive until Stop. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& listen,
      const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);
  ~MetricsEndpoint();

  // Stops the HTTP server; waits for scrapes in progress. Also done by the
  // destructor.
  void Stop();

  // The address bound, with port 0 replaced by the port chosen.
  const std::string& address() const { return address_; }

 private:
  MetricsEndpoint() = default;

  std::string address_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace wb::common

#endif  // WRITEBOOST_COMMON_METRICS_ENDPOINT_H_
