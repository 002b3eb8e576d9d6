// Node: one writeboostd. Owns the volume registry, the authorizer, the gRPC
// server with BlockService, AdminService, health and reflection, and their
// lifecycle (start, graceful stop).
#ifndef WRITEBOOST_NODE_NODE_H_
#define WRITEBOOST_NODE_NODE_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/server.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/node/admin_service.h"
#include "server/node/attached_volumes.h"
#include "server/node/auth.h"
#include "server/node/block_service.h"
#include "server/node/byte_budget.h"
#include "server/node/config.h"
#include "server/node/controller_link.h"
#include "server/node/health_service.h"
#include "server/node/metrics_server.h"
#include "server/node/path_policy.h"
#include "server/node/volume_registry.h"

namespace wb::node {

// Health service names besides the volumes' own names.
inline constexpr char kBlockServiceName[] = "writeboost.v1.BlockService";
inline constexpr char kAdminServiceName[] = "writeboost.v1.AdminService";

class Node {
 public:
  // REQUIRES: ValidateConfig(cfg) and ValidateMetricsListen(metrics.listen)
  // are OK. Without metrics options there is no metrics endpoint.
  explicit Node(NodeConfig cfg, MetricsOptions metrics = {});
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Starts the metrics endpoint (MetricsOptions says what a failure to
  // listen does), loads the token file and TLS files, starts listening,
  // then attaches the configured volumes (each replays its log on its own
  // thread; health says NOT_SERVING for it until it is done).
  // kInvalidArgument/kNotFound for bad files, kUnavailable when an address
  // cannot be bound.
  absl::Status Start();

  // The addresses bound, with port 0 replaced by the port chosen.
  const std::vector<std::string>& addresses() const { return addresses_; }

  // Stops accepting calls, lets calls in progress finish for up to `grace`
  // (then cancels them), then seals, flushes and closes every volume, so
  // nothing acknowledged is lost. Returns the first close error.
  absl::Status Shutdown(absl::Duration grace);

 private:
  void SetHealth(const std::string& name, bool serving);

  const NodeConfig cfg_;
  std::unique_ptr<Authorizer> auth_;
  VolumeRegistry registry_;
  AttachedVolumes attached_;  // DATA_DIR/volumes.json
  ByteBudget total_inflight_;
  // The data directory and --allow-path; --allow-nbd.
  const PathPolicy paths_;
  ServiceContext svc_;
  BlockServiceImpl block_;
  AdminServiceImpl admin_;
  HealthService health_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> addresses_;
  const MetricsOptions metrics_options_;
  std::unique_ptr<MetricsServer> metrics_;  // null: no metrics endpoint
  std::unique_ptr<ControllerLink> controller_;  // null: no --controller
  std::thread ready_;  // marks the services SERVING once the opens are done
  bool stopped_ = false;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_NODE_H_
