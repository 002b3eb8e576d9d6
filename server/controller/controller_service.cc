#include "server/controller/controller_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/controller/log.h"

namespace wb::controller {
namespace {

namespace v1 = writeboost::v1;

const char* KindName(const v1::NodeMessage& m) {
  switch (m.kind_case()) {
    case v1::NodeMessage::kRegister: return "a Register";
    case v1::NodeMessage::kReport: return "a Report";
    default: return "an empty NodeMessage";
  }
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the google.rpc.Code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

grpc::Status ControllerServiceImpl::Session(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::ControllerMessage, v1::NodeMessage>* stream) {
  v1::NodeMessage msg;
  if (!stream->Read(&msg)) return grpc::Status::OK;  // closed before saying anything
  if (!msg.has_register_()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("the first message of a Session must be a Register, got ",
                                     KindName(msg)));
  }
  absl::StatusOr<SessionKey> session = state_->Register(msg.register_(), absl::Now());
  if (!session.ok()) return ToGrpcStatus(session.status());
  Log("node %s registered from %s%s", session->node_id, ctx->peer(),
      session->address.empty() ? "" : absl::StrCat(" (serves ", session->address, ")"));

  grpc::Status status;
  while (stream->Read(&msg)) {
    if (!msg.has_report()) {
      status = grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          msg.has_register_()
              ? "a Session takes one Register; open a new Session to register again"
              : "an empty NodeMessage (neither Register nor Report)");
      break;
    }
    absl::StatusOr<v1::ControllerMessage> reply =
        state_->Report(*session, msg.report(), absl::Now());
    if (!reply.ok()) {
      status = ToGrpcStatus(reply.status());
      break;
    }
    if (!stream->Write(*reply)) break;  // the node went away
  }
  state_->EndSession(*session, absl::Now());
  Log("node %s: session ended%s", session->node_id,
      status.ok() ? "" : absl::StrCat(" (", status.error_message(), ")"));
  return status;
}

grpc::Status ControllerServiceImpl::GetPacing(grpc::ServerContext* ctx,
                                              const v1::GetPacingRequest* req,
                                              v1::GetPacingResponse* resp) {
  *resp = state_->View(absl::Now());
  return grpc::Status::OK;
}

}  // namespace wb::controller
