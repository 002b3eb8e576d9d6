#include "server/node/grpc_status.h"

#include <string>

namespace wb::node {

static_assert(static_cast<int>(absl::StatusCode::kOutOfRange) ==
                  static_cast<int>(grpc::StatusCode::OUT_OF_RANGE),
              "absl and gRPC must share google.rpc.Code numbering");
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  int code = static_cast<int>(s.code());
  // Codes outside the shared range (none today) would be a bug somewhere.
  if (code <= 0 || code > static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::string(s.message()));
}

}  // namespace wb::node
