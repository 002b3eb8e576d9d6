// wbctl health: the standard grpc.health.v1 Check against a node or a
// controller, for container health checks and scripts. Exit 0 only when
// the service is SERVING.
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/lib/channel.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/online.h"
#include "client/wbctl/output.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace wbctl {
namespace {

namespace health = grpc::health::v1;

const char* StatusName(health::HealthCheckResponse::ServingStatus s) {
  switch (s) {
    case health::HealthCheckResponse::SERVING: return "SERVING";
    case health::HealthCheckResponse::NOT_SERVING: return "NOT_SERVING";
    case health::HealthCheckResponse::SERVICE_UNKNOWN: return "SERVICE_UNKNOWN";
    default: return "UNKNOWN";
  }
}

int RunHealth(const std::string& service, double timeout_seconds) {
  if (!(timeout_seconds > 0)) return Fail("--timeout must be a positive number of seconds", kExitUsage);
  const Connection& c = GlobalConnection();
  absl::StatusOr<wbclient::Options> o = c.ClientOptions();
  if (!o.ok()) return Fail(o.status(), kExitUsage);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      wbclient::MakeChannel(c.server, o->credentials);
  if (!channel.ok()) return Fail(channel.status(), kExitUsage);
  std::unique_ptr<health::Health::Stub> stub = health::Health::NewStub(*channel);
  health::HealthCheckRequest req;
  req.set_service(service);
  health::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  o->timeout = absl::Seconds(timeout_seconds);
  wbclient::PrepareContext(&ctx, *o);
  absl::Status s = wbclient::FromGrpcStatus(stub->Check(&ctx, req, &resp));
  if (absl::IsNotFound(s)) {
    return FailRpc(absl::NotFoundError(
        absl::StrCat(c.server, " has no service \"", service, "\"")));
  }
  if (!s.ok()) return FailRpc(s);
  std::cout << c.server << (service.empty() ? "" : absl::StrCat(" ", service)) << ": "
            << StatusName(resp.status()) << "\n";
  return resp.status() == health::HealthCheckResponse::SERVING ? kExitOk : kExitFailure;
}

}  // namespace

void AddHealthCommand(CLI::App& app) {
  auto service = std::make_shared<std::string>();
  auto timeout = std::make_shared<double>(5);
  CLI::App* h = app.add_subcommand(
      "health", "Ask a node or a controller (--server) whether it is serving "
                "(grpc.health.v1 Check); exit 0 only when SERVING");
  h->add_option("--service", *service,
                "Service name (default \"\": the whole server), e.g. "
                "writeboost.v1.ControllerService, writeboost.v1.BlockService or a volume name");
  h->add_option("--timeout", *timeout, "Seconds to wait for the answer (default 5)");
  UsesConnection(h);
  SetAction(h, [service, timeout] { return RunHealth(*service, *timeout); });
}

}  // namespace wbctl
