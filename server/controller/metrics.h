// The controller's Prometheus endpoint: prometheus-cpp's Exposer answering
// GET /metrics with the pacing state, read at scrape time
// (docs/CONTROLLER.md, "Metrics"):
//
//   writeboost_controller_build_info{version}                     always 1
//   writeboost_controller_nodes                                   gauge
//   writeboost_controller_volumes{group}                          gauge
//   writeboost_controller_group_mode{group,mode}                  always 1
//   writeboost_controller_group_budget_bytes_per_second{group}    gauge
//   writeboost_controller_group_budget_iops{group}                gauge
//   writeboost_controller_group_target_p99_seconds{group}         gauge
//   writeboost_controller_group_observed_p99_seconds{group}       gauge
//   writeboost_controller_grant_bytes_per_second{group,node,volume} gauge
//   writeboost_controller_reports_total                           counter
//   writeboost_controller_sessions_total                          counter
#ifndef WRITEBOOST_CONTROLLER_METRICS_H_
#define WRITEBOOST_CONTROLLER_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "absl/status/statusor.h"
#include "server/common/metrics_endpoint.h"
#include "server/controller/state.h"

namespace wb::controller {

// Reads the state at each scrape. Thread-safe.
class StateCollector : public prometheus::Collectable {
 public:
  // REQUIRES: state outlives the collector.
  StateCollector(const PacingState* state, std::string version)
      : state_(state), version_(std::move(version)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const PacingState* const state_;
  const std::string version_;
};

class MetricsServer {
 public:
  // Serves the state's metrics on `listen` ("HOST:PORT"; port 0 picks a
  // free one). REQUIRES: !MetricsDisabled(listen), ValidateConfig passed;
  // state outlives the server. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              const PacingState* state);
  ~MetricsServer();

  // Stops the HTTP server; waits for scrapes in progress. Also done by the
  // destructor.
  void StopServing();

  // The address bound, with port 0 replaced by the port chosen.
  const std::string& address() const { return endpoint_->address(); }

 private:
  MetricsServer() = default;

  std::shared_ptr<StateCollector> collector_;
  // Last: destroyed first, so no scrape runs while the collector goes.
  std::unique_ptr<common::MetricsEndpoint> endpoint_;
};

}  // namespace wb::controller

#endif  // WRITEBOOST_CONTROLLER_METRICS_H_
