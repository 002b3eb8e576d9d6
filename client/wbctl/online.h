// wbctl's online commands: they talk to a running writeboostd over gRPC
// through libwbclient (docs/WBCTL.md, "Online commands").
//
//   wbctl [--server HOST:PORT|unix:PATH] [--token T] [--tls ...] COMMAND ...
//
// The connection options belong to the top-level app and may also follow
// the command (the commands fall through to it). Errors print the gRPC
// status code and message: "wbctl: NOT_FOUND: no volume named "x"", exit 1.
#ifndef WRITEBOOST_CLIENT_WBCTL_ONLINE_H_
#define WRITEBOOST_CLIENT_WBCTL_ONLINE_H_

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/lib/options.h"

namespace google::protobuf {
class Message;
}

namespace wbctl {

struct Connection {
  std::string server;  // default: $WB_SERVER or the node's default address
  std::string token;   // default: $WB_TOKEN
  std::string token_file;
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;

  // libwbclient options from the flags (reads token_file). Errors:
  // INVALID_ARGUMENT for an unreadable token file.
  absl::StatusOr<wbclient::Options> ClientOptions() const;
};

// The process-wide connection settings the options write into.
Connection& GlobalConnection();

// Makes `sub` accept the connection options after the command name too.
void UsesConnection(CLI::App* sub);

// A proto message as JSON with the proto's field names, every field present
// (defaults included), 64-bit integers as numbers and enums by name.
nlohmann::json ProtoToJson(const google::protobuf::Message& m);

// "wbctl: CODE: message" on stderr; returns kExitFailure.
int FailRpc(const absl::Status& s);

// Registration of the command groups (online_status.cc, online_admin.cc,
// online_io.cc, online_volumes.cc).
void AddStatusCommands(CLI::App& app);  // ls, status
void AddAdminCommands(CLI::App& app);   // message, drop-caches
void AddIoCommands(CLI::App& app);      // read, write, flush
void AddVolumeCommands(CLI::App& app);  // format-volume, attach-volume, detach-volume
void AddPacingCommand(CLI::App& app);   // pacing (online_pacing.cc)
void AddHealthCommand(CLI::App& app);   // health (online_health.cc)

}  // namespace wbctl

#endif  // WRITEBOOST_CLIENT_WBCTL_ONLINE_H_
