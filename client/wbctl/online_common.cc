// Connection options and error reporting shared by the online commands, and
// their registration (commands.h: AddOnlineCommands).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/online.h"
#include "client/wbctl/output.h"

namespace wbctl {

Connection& GlobalConnection() {
  static Connection* c = [] {
    auto* c = new Connection;
    const char* server = std::getenv("WB_SERVER");
    c->server = server != nullptr ? server : wbclient::kDefaultEndpoint;
    if (const char* token = std::getenv("WB_TOKEN")) c->token = token;
    return c;
  }();
  return *c;
}

absl::StatusOr<wbclient::Options> Connection::ClientOptions() const {
  wbclient::Options o;
  o.credentials.token = token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) return absl::InvalidArgumentError("cannot read token file " + token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    o.credentials.token = std::string(absl::StripAsciiWhitespace(ss.str()));
  }
  o.credentials.tls = tls || !tls_ca.empty() || !tls_cert.empty();
  o.credentials.ca_file = tls_ca;
  o.credentials.cert_file = tls_cert;
  o.credentials.key_file = tls_key;
  o.credentials.server_name = tls_server_name;
  // A person is waiting: fail fast rather than retrying for long.
  o.retries = 1;
  o.timeout = absl::Seconds(30);
  o.open_wait = absl::Seconds(10);
  return o;
}

void UsesConnection(CLI::App* sub) { sub->fallthrough(); }

namespace {

using google::protobuf::FieldDescriptor;

nlohmann::json FieldValue(const google::protobuf::Message& m, const FieldDescriptor* f,
                          int index) {
  const google::protobuf::Reflection* r = m.GetReflection();
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
    case FieldDescriptor::CPPTYPE_BOOL:
      return rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return (rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToJson(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return nullptr;
}

}  // namespace

nlohmann::json ProtoToJson(const google::protobuf::Message& m) {
  nlohmann::json out = nlohmann::json::object();
  const google::protobuf::Descriptor* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); i++) {
    const FieldDescriptor* f = d->field(i);
    if (!f->is_repeated()) {
      out[f->name()] = FieldValue(m, f, 0);
      continue;
    }
    nlohmann::json arr = nlohmann::json::array();
    int n = m.GetReflection()->FieldSize(m, f);
    for (int j = 0; j < n; j++) arr.push_back(FieldValue(m, f, j));
    out[f->name()] = arr;
  }
  return out;
}

int FailRpc(const absl::Status& s) {
  return Fail(absl::StrCat(absl::StatusCodeToString(s.code()), ": ", s.message()),
              kExitFailure);
}

void AddOnlineCommands(CLI::App& app) {
  Connection& c = GlobalConnection();
  const char* group = "Node connection (online commands)";
  app.add_option("--server", c.server,
                 "Node address, HOST:PORT or unix:PATH (default $WB_SERVER or " +
                     std::string(wbclient::kDefaultEndpoint) + ")")
      ->group(group);
  app.add_option("--token", c.token, "Bearer token (default $WB_TOKEN)")->group(group);
  app.add_option("--token-file", c.token_file, "File holding the bearer token")
      ->group(group);
  app.add_flag("--tls", c.tls, "Connect with TLS (implied by the --tls-* files)")
      ->group(group);
  app.add_option("--tls-ca", c.tls_ca, "PEM CA that signed the node's certificate")
      ->group(group);
  app.add_option("--tls-cert", c.tls_cert, "PEM client certificate (mTLS)")->group(group);
  app.add_option("--tls-key", c.tls_key, "PEM key of --tls-cert")->group(group);
  app.add_option("--tls-server-name", c.tls_server_name,
                 "Name to verify the node's certificate against")
      ->group(group);
  AddStatusCommands(app);
  AddAdminCommands(app);
  AddIoCommands(app);
  AddVolumeCommands(app);
  AddPacingCommand(app);
  AddHealthCommand(app);
}

}  // namespace wbctl
