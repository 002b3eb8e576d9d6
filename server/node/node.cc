#include "server/node/node.h"

#include <chrono>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#ifdef WB_HAVE_REFLECTION
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#endif

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/listen_address.h"
#include "server/common/server_credentials.h"
#include "server/node/log.h"

#include <unistd.h>

namespace wb::node {
namespace {

// The node id the controller sees when none is configured.
std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "node";
  return name;
}

// The roots of the devices the AdminService may use: the data directory
// always, then --allow-path.
std::vector<std::string> Roots(const NodeConfig& cfg) {
  std::vector<std::string> roots = {cfg.data_dir};
  roots.insert(roots.end(), cfg.allow_paths.begin(), cfg.allow_paths.end());
  return roots;
}

}  // namespace

Node::Node(NodeConfig cfg, MetricsOptions metrics)
    : cfg_(std::move(cfg)),
      auth_(std::make_unique<Authorizer>()),
      registry_(cfg_.rambuf_size),
      attached_(cfg_.data_dir + "/volumes.json"),
      total_inflight_(cfg_.total_inflight),
      paths_(Roots(cfg_), cfg_.allow_nbd),
      svc_{&registry_, nullptr, cfg_.max_payload, cfg_.stream_inflight,
           cfg_.stream_workers, &total_inflight_},
      block_(svc_),
      admin_(svc_),
      health_(&svc_.auth),
      metrics_options_(std::move(metrics)) {}

Node::~Node() { Shutdown(absl::ZeroDuration()).IgnoreError(); }

absl::Status Node::Start() {
  if (!MetricsDisabled(metrics_options_.listen)) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> m =
        MetricsServer::Start(metrics_options_.listen, &registry_);
    if (m.ok()) {
      metrics_ = *std::move(m);
      svc_.io_metrics = metrics_->io();
      Log("metrics on http://%s/metrics", metrics_->address());
    } else if (metrics_options_.required) {
      return m.status();
    } else {
      Log("%s; serving without metrics (set --metrics-listen)", m.status().message());
    }
  }
  if (!cfg_.auth_tokens.empty()) {
    absl::StatusOr<std::unique_ptr<Authorizer>> a = Authorizer::Load(cfg_.auth_tokens);
    if (!a.ok()) return a.status();
    auth_ = *std::move(a);
  }
  svc_.auth = auth_.get();
  svc_.attached = &attached_;
  svc_.paths = &paths_;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      common::MakeServerCredentials(cfg_.tls_cert, cfg_.tls_key, cfg_.tls_ca);
  if (!creds.ok()) return creds.status();

  // health_ replaces gRPC's default health service (health_service.h).
#ifdef WB_HAVE_REFLECTION
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
#endif
  grpc::ServerBuilder b;
  std::vector<int> ports(cfg_.listen.size(), 0);
  for (size_t i = 0; i < cfg_.listen.size(); i++) {
    b.AddListeningPort(cfg_.listen[i], *creds, &ports[i]);
  }
  b.RegisterService(&block_);
  b.RegisterService(&admin_);
  b.RegisterService(&health_);
  const int max_message = static_cast<int>(cfg_.max_payload + kMessageOverhead);
  b.SetMaxReceiveMessageSize(max_message);
  b.SetMaxSendMessageSize(max_message);
  // Each call in progress holds a server thread (sync API); the cap bounds
  // threads, and calls beyond it fail with RESOURCE_EXHAUSTED.
  grpc::ResourceQuota quota("writeboostd");
  quota.SetMaxThreads(cfg_.max_threads);
  b.SetResourceQuota(quota);
  // One completion queue with few pollers was fastest here (LESSONS.md).
  b.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  b.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  b.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 2);
  b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 128);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  // Bytes gRPC itself holds per connection and per stream, beyond what the
  // Io sessions account for: a fixed 1 MiB stream window instead of one
  // grown by BDP probing, and socket reads of at most 256 KiB. Measured in
  // the load test (16 streams + 1 flooding client): peak RSS 243-256 MiB
  // without these, 179-187 MiB with them, same throughput.
  b.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  b.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1 << 20);
  b.AddChannelArgument(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, 256 << 10);
  server_ = b.BuildAndStart();
  if (server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", absl::StrJoin(cfg_.listen, ", "),
        " (address in use, or not a valid address?)"));
  }
  for (size_t i = 0; i < cfg_.listen.size(); i++) {
    if (ports[i] == 0) {
      server_->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot listen on ", cfg_.listen[i]));
    }
    addresses_.push_back(common::BoundAddress(cfg_.listen[i], ports[i]));
  }

  SetHealth("", true);  // the whole server: serving while it listens
  SetHealth(kBlockServiceName, false);
  SetHealth(kAdminServiceName, true);
  registry_.SetHealthCallback([this](const std::string& name, bool serving) {
    if (metrics_ != nullptr) metrics_->volumes()->OnVolumeHealth(name, serving);
    // A name the registry no longer has (detached, or its attach failed)
    // is forgotten, so that it answers like one never attached.
    if (registry_.Find(name).ok()) {
      health_.SetVolume(name, serving);
    } else {
      health_.RemoveVolume(name);
    }
  });
  registry_.set_has_controller(!cfg_.controller.empty());
  for (const VolumeConfig& v : cfg_.volumes) {
    if (absl::Status s = registry_.Attach(v, /*wait=*/false); !s.ok()) return s;
  }
  if (absl::Status s = AttachRemembered(attached_, cfg_.volumes, registry_, &paths_);
      !s.ok()) {
    return s;
  }
  ready_ = std::thread([this] {
    registry_.WaitOpened();
    SetHealth(kBlockServiceName, true);
  });
  if (!cfg_.controller.empty()) {
    ControllerLinkOptions o;
    o.target = cfg_.controller;
    o.tls_ca = cfg_.controller_tls_ca;
    o.node_id = cfg_.node_id.empty() ? HostName() : cfg_.node_id;
    o.address = addresses_[0];
    o.default_group = cfg_.origin_group;
    controller_ = std::make_unique<ControllerLink>(std::move(o), &registry_);
    if (absl::Status s = controller_->Start(); !s.ok()) return s;
  }
  Log("listening on %s%s%s", absl::StrJoin(addresses_, ", "),
      cfg_.tls_cert.empty() ? " (plaintext)" : cfg_.tls_ca.empty() ? " (TLS)" : " (mTLS)",
      auth_->enabled() ? ", bearer tokens required" : "");
  return absl::OkStatus();
}

void Node::SetHealth(const std::string& name, bool serving) {
  health_.SetService(name, serving);
}

absl::Status Node::Shutdown(absl::Duration grace) {
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  // Health turns NOT_SERVING for everything (and watches end), new calls
  // are refused, and calls still running after the grace period are
  // cancelled.
  health_.Shutdown();
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  if (ready_.joinable()) ready_.join();
  if (controller_ != nullptr) controller_->Stop();
  if (metrics_ != nullptr) metrics_->StopServing();
  return registry_.CloseAll();
}

}  // namespace wb::node
