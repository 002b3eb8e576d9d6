// The standard health service (grpc.health.v1.Health), written for the node
// instead of gRPC's default one, which answers for every name it was ever
// told about to anyone: it would tell an unauthenticated caller which
// volume names exist, and keep detached names forever.
//
// - "" and the service names (writeboost.v1.BlockService, ...) need no
//   token.
// - A volume's name answers only while the volume is attached, and, when
//   the node has tokens, only to a token that grants the volume. Anyone
//   else gets exactly what a name that was never attached gets: NOT_FOUND
//   (Check) or SERVICE_UNKNOWN (Watch).
// - A name that is not [A-Za-z0-9._-]{1,64} gets INVALID_ARGUMENT.
#ifndef WRITEBOOST_NODE_HEALTH_SERVICE_H_
#define WRITEBOOST_NODE_HEALTH_SERVICE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/node/auth.h"

namespace wb::node {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  // REQUIRES: auth outlives this object (it may be set later, before the
  // server starts).
  explicit HealthService(const Authorizer* const* auth) : auth_(auth) {}

  // A fixed service name ("" or a gRPC service's full name).
  void SetService(const std::string& name, bool serving);
  // A volume: attached (serving or not), or gone (detached, or its attach
  // failed): then its name is forgotten.
  void SetVolume(const std::string& name, bool serving);
  void RemoveVolume(const std::string& name);
  // Everything NOT_SERVING from now on; watches end.
  void Shutdown();

  grpc::Status Check(grpc::ServerContext* ctx,
                     const grpc::health::v1::HealthCheckRequest* req,
                     grpc::health::v1::HealthCheckResponse* resp) override;
  grpc::Status Watch(grpc::ServerContext* ctx,
                     const grpc::health::v1::HealthCheckRequest* req,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // What the caller may be told about `name`: SERVING, NOT_SERVING or
  // SERVICE_UNKNOWN (also for a volume the caller's token does not grant).
  ServingStatus Lookup(const grpc::ServerContext& ctx, const std::string& name) const;

  const Authorizer* const* const auth_;
  mutable absl::Mutex mu_;
  std::map<std::string, bool> services_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> volumes_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;  // wakes watches
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_HEALTH_SERVICE_H_
