// Internal to libwbclient: channels, per-call contexts, status conversion.
#ifndef WRITEBOOST_CLIENT_LIB_CHANNEL_H_
#define WRITEBOOST_CLIENT_LIB_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/lib/options.h"

namespace wbclient {

// A channel of its own (not shared with other Channel objects of this
// process), so that two Volume objects are two connections.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& endpoint,
                                                           const Credentials& credentials);

// Adds the bearer token and, when deadline is true, options.timeout.
void PrepareContext(grpc::ClientContext* ctx, const Options& options, bool deadline = true);

// The one place libwbclient turns grpc::Status into absl::Status (same
// google.rpc.Code numbers; the message is kept).
absl::Status FromGrpcStatus(const grpc::Status& s);

// Runs call() (one attempt → grpc::Status) until it succeeds or fails with
// something other than UNAVAILABLE, at most 1 + options.retries times.
template <typename Call>
absl::Status WithRetries(const Options& options, Call call) {
  absl::Status s;
  for (int attempt = 0;; attempt++) {
    s = FromGrpcStatus(call());
    if (!absl::IsUnavailable(s) || attempt >= options.retries) return s;
    absl::SleepFor(options.retry_backoff * (attempt + 1));
  }
}

}  // namespace wbclient

#endif  // WRITEBOOST_CLIENT_LIB_CHANNEL_H_
