#include "server/node/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace wb::node {

static_assert(static_cast<int>(absl::StatusCode::kOutOfRange) ==
                  static_cast<int>(grpc::StatusCode::OUT_OF_RANGE),
              "absl and gRPC must share google.rpc.Code numbering");
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));

namespace {

// The message travels in a trailer, percent-encoded (up to 3 bytes per
// byte); a client refuses trailers over its metadata limit (8 KiB by
// default) and would see RESOURCE_EXHAUSTED instead of the real code.
// Messages echo client input (names, paths, keys): a last bound here.
constexpr size_t kMaxMessage = 1024;

std::string Bounded(absl::string_view m) {
  if (m.size() <= kMaxMessage) return std::string(m);
  return absl::StrCat(m.substr(0, kMaxMessage), "... (cut)");
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  int code = static_cast<int>(s.code());
  // Codes outside the shared range (none today) would be a bug somewhere.
  if (code <= 0 || code > static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, Bounded(s.message()));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), Bounded(s.message()));
}

}  // namespace wb::node
