#include "server/controller/controller.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#ifdef WB_HAVE_REFLECTION
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#endif

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/common/listen_address.h"
#include "server/common/server_credentials.h"
#include "server/controller/log.h"

namespace wb::controller {
Controller::Controller(ControllerConfig cfg, bool metrics_required)
    : cfg_(std::move(cfg)),
      metrics_required_(metrics_required),
      state_(cfg_, absl::Now()),
      service_(&state_) {}

Controller::~Controller() { Shutdown(absl::ZeroDuration()); }

std::string Controller::metrics_address() const {
  return metrics_ == nullptr ? "" : metrics_->address();
}

absl::Status Controller::Start() {
  if (!MetricsDisabled(cfg_.metrics_listen)) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> m =
        MetricsServer::Start(cfg_.metrics_listen, &state_);
    if (m.ok()) {
      metrics_ = *std::move(m);
      Log("metrics on http://%s/metrics", metrics_->address());
    } else if (metrics_required_) {
      return m.status();
    } else {
      Log("%s; serving without metrics (set --metrics-listen)", m.status().message());
    }
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      common::MakeServerCredentials(cfg_.tls_cert, cfg_.tls_key, cfg_.tls_ca);
  if (!creds.ok()) return creds.status();

  grpc::EnableDefaultHealthCheckService(true);
#ifdef WB_HAVE_REFLECTION
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
#endif
  grpc::ServerBuilder b;
  std::vector<int> ports(cfg_.listen.size(), 0);
  for (size_t i = 0; i < cfg_.listen.size(); i++) {
    b.AddListeningPort(cfg_.listen[i], *creds, &ports[i]);
  }
  b.RegisterService(&service_);
  // Each node session holds a server thread (sync API); the cap bounds
  // threads, and sessions beyond it fail with RESOURCE_EXHAUSTED.
  grpc::ResourceQuota quota("writeboost-controller");
  quota.SetMaxThreads(256);
  b.SetResourceQuota(quota);
  // A session whose node vanished without closing its connection is ended
  // by keepalive; its node is forgotten after kPruneLeases leases anyway.
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  server_ = b.BuildAndStart();
  if (server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", absl::StrJoin(cfg_.listen, ", "),
                                               " (address in use, or not a valid address?)"));
  }
  for (size_t i = 0; i < cfg_.listen.size(); i++) {
    if (ports[i] == 0) {
      server_->Shutdown();
      server_.reset();
      return absl::UnavailableError(absl::StrCat("cannot listen on ", cfg_.listen[i]));
    }
    addresses_.push_back(common::BoundAddress(cfg_.listen[i], ports[i]));
  }
  if (grpc::HealthCheckServiceInterface* h = server_->GetHealthCheckService()) {
    h->SetServingStatus(kControllerServiceName, true);
  }
  pruner_ = std::thread([this] { PruneLoop(); });
  Log("listening on %s%s; lease %u ms, reports every %u ms, %zu group%s configured",
      absl::StrJoin(addresses_, ", "),
      cfg_.tls_cert.empty() ? " (plaintext)" : cfg_.tls_ca.empty() ? " (TLS)" : " (mTLS)",
      cfg_.lease_ms, cfg_.report_interval_ms, cfg_.groups.size(),
      cfg_.groups.size() == 1 ? "" : "s");
  return absl::OkStatus();
}

void Controller::PruneLoop() {
  const absl::Duration every = absl::Milliseconds(cfg_.report_interval_ms);
  while (!stop_pruning_.WaitForNotificationWithTimeout(every)) {
    for (const std::string& node : state_.Prune(absl::Now())) {
      Log("node %s: no report for %d leases; forgotten", node, kPruneLeases);
    }
  }
}

void Controller::Shutdown(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  if (pruner_.joinable()) {
    stop_pruning_.Notify();
    pruner_.join();
  }
  if (metrics_ != nullptr) metrics_->StopServing();
}

}  // namespace wb::controller
