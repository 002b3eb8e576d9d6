// gRPC server credentials from the daemons' --tls-cert/--tls-key/--tls-ca
// files, shared by writeboostd and writeboost-controller so that both
// offer plaintext, TLS and mTLS the same way.
#ifndef WRITEBOOST_COMMON_SERVER_CREDENTIALS_H_
#define WRITEBOOST_COMMON_SERVER_CREDENTIALS_H_

#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"

namespace wb::common {

// Plaintext when `cert` is empty; TLS with the PEM files `cert` and `key`
// otherwise, and with a `ca` also mTLS: client certificates are demanded
// and verified against it. NOT_FOUND naming the file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert, const std::string& key, const std::string& ca);

}  // namespace wb::common

#endif  // WRITEBOOST_COMMON_SERVER_CREDENTIALS_H_
