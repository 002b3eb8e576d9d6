// The gRPC ControllerService (proto/writeboost/v1/controller.proto) on the
// synchronous API: each node's Session holds one server thread for its
// lifetime, which suits the tens of nodes one controller serves.
#ifndef WRITEBOOST_CONTROLLER_CONTROLLER_SERVICE_H_
#define WRITEBOOST_CONTROLLER_CONTROLLER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "server/controller/state.h"
#include "writeboost/v1/controller.grpc.pb.h"

namespace wb::controller {

// Health service name of the controller (besides "", the whole server).
inline constexpr char kControllerServiceName[] = "writeboost.v1.ControllerService";

// The one place the controller turns absl::Status into grpc::Status.
grpc::Status ToGrpcStatus(const absl::Status& s);

class ControllerServiceImpl final : public writeboost::v1::ControllerService::Service {
 public:
  // REQUIRES: state outlives the service.
  explicit ControllerServiceImpl(PacingState* state) : state_(state) {}

  // Register first (else INVALID_ARGUMENT), then one reply per Report. The
  // node leaves the state when the stream ends, however it ends.
  grpc::Status Session(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<writeboost::v1::ControllerMessage, writeboost::v1::NodeMessage>*
          stream) override;

  grpc::Status GetPacing(grpc::ServerContext* ctx, const writeboost::v1::GetPacingRequest* req,
                         writeboost::v1::GetPacingResponse* resp) override;

 private:
  PacingState* const state_;
};

}  // namespace wb::controller

#endif  // WRITEBOOST_CONTROLLER_CONTROLLER_SERVICE_H_
