#include "server/node/health_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/node/config.h"
#include "server/node/grpc_status.h"

namespace wb::node {

namespace health = grpc::health::v1;

void HealthService::SetService(const std::string& name, bool serving) {
  absl::MutexLock l(&mu_);
  services_[name] = serving && !shutdown_;
  changes_++;
}

void HealthService::SetVolume(const std::string& name, bool serving) {
  absl::MutexLock l(&mu_);
  volumes_[name] = serving && !shutdown_;
  changes_++;
}

void HealthService::RemoveVolume(const std::string& name) {
  absl::MutexLock l(&mu_);
  volumes_.erase(name);
  changes_++;
}

void HealthService::Shutdown() {
  absl::MutexLock l(&mu_);
  shutdown_ = true;
  for (auto& [name, serving] : services_) serving = false;
  for (auto& [name, serving] : volumes_) serving = false;
  changes_++;
}

HealthService::ServingStatus HealthService::Lookup(const grpc::ServerContext& ctx,
                                                   const std::string& name) const {
  {
    absl::MutexLock l(&mu_);
    auto it = services_.find(name);
    if (it != services_.end()) {
      return it->second ? health::HealthCheckResponse::SERVING
                        : health::HealthCheckResponse::NOT_SERVING;
    }
  }
  // Asked before the lookup, so that the answer cannot depend on whether
  // the volume exists.
  const Authorizer* auth = *auth_;
  if (auth != nullptr && !auth->GrantFor(AuthorizationOf(ctx), name).ok()) {
    return health::HealthCheckResponse::SERVICE_UNKNOWN;
  }
  absl::MutexLock l(&mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return health::HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? health::HealthCheckResponse::SERVING
                    : health::HealthCheckResponse::NOT_SERVING;
}

namespace {

// Service names are "" or dotted gRPC names, which are valid volume names
// too; anything else is neither.
absl::Status CheckServiceName(const std::string& name) {
  if (name.empty()) return absl::OkStatus();
  return CheckVolumeName(name);
}

}  // namespace

grpc::Status HealthService::Check(grpc::ServerContext* ctx,
                                  const health::HealthCheckRequest* req,
                                  health::HealthCheckResponse* resp) {
  if (absl::Status s = CheckServiceName(req->service()); !s.ok()) return ToGrpcStatus(s);
  ServingStatus st = Lookup(*ctx, req->service());
  if (st == health::HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
  }
  resp->set_status(st);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* ctx,
                                  const health::HealthCheckRequest* req,
                                  grpc::ServerWriter<health::HealthCheckResponse>* writer) {
  if (absl::Status s = CheckServiceName(req->service()); !s.ok()) return ToGrpcStatus(s);
  uint64_t seen = 0;
  bool first = true;
  ServingStatus last = health::HealthCheckResponse::UNKNOWN;
  while (!ctx->IsCancelled()) {
    ServingStatus st = Lookup(*ctx, req->service());
    if (first || st != last) {
      health::HealthCheckResponse resp;
      resp.set_status(st);
      if (!writer->Write(resp)) return grpc::Status::OK;
      first = false;
      last = st;
    }
    absl::MutexLock l(&mu_);
    if (shutdown_) break;
    // A change wakes the watch at once; the timeout notices a cancelled
    // call (a sync handler has no other way to learn of it).
    struct Arg {
      const HealthService* self;
      uint64_t seen;
    } arg{this, seen};
    mu_.AwaitWithTimeout(
        absl::Condition(+[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return a->self->changes_ != a->seen || a->self->shutdown_;
        }, &arg),
        absl::Milliseconds(500));
    seen = changes_;
  }
  if (!ctx->IsCancelled()) {
    health::HealthCheckResponse resp;
    resp.set_status(health::HealthCheckResponse::NOT_SERVING);
    writer->Write(resp);
  }
  return grpc::Status::OK;
}

}  // namespace wb::node
