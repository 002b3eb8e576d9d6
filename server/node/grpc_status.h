// The one place where the node turns absl::Status (core and node) into what
// goes on the wire. absl and gRPC share google.rpc.Code numbering, so the
// code passes through unchanged; the message is kept, cut at 1 KiB.
#ifndef WRITEBOOST_NODE_GRPC_STATUS_H_
#define WRITEBOOST_NODE_GRPC_STATUS_H_

#include <cstdint>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace wb::node {

grpc::Status ToGrpcStatus(const absl::Status& s);

// For IoReply.code: the google.rpc.Code number.
inline int32_t ToWireCode(const absl::Status& s) {
  return static_cast<int32_t>(s.code());
}

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_GRPC_STATUS_H_
