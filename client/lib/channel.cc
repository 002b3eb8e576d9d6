#include "client/lib/channel.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace wbclient {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& endpoint,
                                                           const Credentials& c) {
  if (endpoint.empty()) return absl::InvalidArgumentError("no server address given");
  grpc::ChannelArguments args;
  // The server decides what is too large (RESOURCE_EXHAUSTED with a reason).
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!c.tls) {
    if (!c.cert_file.empty() || !c.ca_file.empty()) {
      return absl::InvalidArgumentError("TLS files given but TLS is off");
    }
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions o;
    if (!c.ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadFile(c.ca_file);
      if (!ca.ok()) return ca.status();
      o.pem_root_certs = *ca;
    }
    if (!c.cert_file.empty() || !c.key_file.empty()) {
      absl::StatusOr<std::string> cert = ReadFile(c.cert_file);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadFile(c.key_file);
      if (!key.ok()) return key.status();
      o.pem_cert_chain = *cert;
      o.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(o);
    if (!c.server_name.empty()) args.SetSslTargetNameOverride(c.server_name);
  }
  return grpc::CreateCustomChannel(endpoint, creds, args);
}

void PrepareContext(grpc::ClientContext* ctx, const Options& options, bool deadline) {
  if (!options.credentials.token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + options.credentials.token);
  }
  if (deadline && options.timeout != absl::InfiniteDuration()) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  }
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace wbclient
