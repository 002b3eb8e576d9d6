// Controller: one writeboost-controller. Owns the pacing state, the gRPC
// server with ControllerService, health and reflection, the metrics
// endpoint and the thread that forgets silent nodes, and their lifecycle.
#ifndef WRITEBOOST_CONTROLLER_CONTROLLER_H_
#define WRITEBOOST_CONTROLLER_CONTROLLER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/server.h>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/controller/config.h"
#include "server/controller/controller_service.h"
#include "server/controller/metrics.h"
#include "server/controller/state.h"

namespace wb::controller {

class Controller {
 public:
  // REQUIRES: ValidateConfig(cfg) is OK.
  // metrics_required: a failure to listen for metrics stops Start (the
  // address was asked for); otherwise it is logged and the controller runs
  // without metrics (the default address may be taken by another process).
  Controller(ControllerConfig cfg, bool metrics_required);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the metrics endpoint, reads the TLS files and starts listening.
  // NOT_FOUND for unreadable TLS files, UNAVAILABLE when an address cannot
  // be bound.
  absl::Status Start();

  // The gRPC addresses bound, with port 0 replaced by the port chosen.
  const std::vector<std::string>& addresses() const { return addresses_; }
  // The metrics address bound; empty without metrics.
  std::string metrics_address() const;

  PacingState& state() { return state_; }

  // Health turns NOT_SERVING, new calls are refused, and calls still
  // running after `grace` are cancelled (node sessions never end on their
  // own, so they are cut then; the nodes' leases lapse and they pace
  // themselves). Then the metrics endpoint stops.
  void Shutdown(absl::Duration grace);

 private:
  void PruneLoop();

  const ControllerConfig cfg_;
  const bool metrics_required_;
  PacingState state_;
  ControllerServiceImpl service_;
  std::unique_ptr<MetricsServer> metrics_;  // null: no metrics endpoint
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> addresses_;
  absl::Notification stop_pruning_;
  std::thread pruner_;
  bool stopped_ = false;
};

}  // namespace wb::controller

#endif  // WRITEBOOST_CONTROLLER_CONTROLLER_H_
