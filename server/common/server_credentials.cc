#include "server/common/server_credentials.h"

#include <fstream>
#include <sstream>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace wb::common {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert, const std::string& key, const std::string& ca) {
  if (cert.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert_pem = ReadFile(cert, "TLS certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadFile(key, "TLS key");
  if (!key_pem.ok()) return key_pem.status();
  // With a CA the server demands and verifies client certificates (mTLS).
  grpc::SslServerCredentialsOptions opts(
      ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!ca.empty()) {
    absl::StatusOr<std::string> ca_pem = ReadFile(ca, "TLS CA");
    if (!ca_pem.ok()) return ca_pem.status();
    opts.pem_root_certs = *ca_pem;
  }
  opts.pem_key_cert_pairs.push_back({*key_pem, *cert_pem});
  return grpc::SslServerCredentials(opts);
}

}  // namespace wb::common
