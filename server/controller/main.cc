// writeboost-controller: paces writeback across the nodes whose origins
// share one back end (docs/CONTROLLER.md).
//
//   writeboost-controller [--listen HOST:PORT[,...]] [--config FILE]
//                         [--lease-ms N] [--report-interval-ms N]
//                         [--metrics-listen HOST:PORT|none]
//                         [--tls-cert F --tls-key F [--tls-ca F]] [--insecure]
//
// SIGTERM or SIGINT: stop accepting, cut the node sessions after
// --shutdown-grace-ms (the nodes fall back to local pacing), exit 0.
#include <signal.h>

#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/controller/config.h"
#include "server/controller/controller.h"
#include "server/controller/log.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7300",
          "Addresses to serve on, comma-separated: HOST:PORT or unix:PATH. "
          "Non-loopback addresses need TLS or --insecure.");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:7301",
          "Prometheus endpoint (GET /metrics): HOST:PORT, port 0 for any free port, "
          "or none (also 0). Given explicitly, a failure to listen is fatal; the default "
          "address is skipped with a warning when taken.");
ABSL_FLAG(std::string, config, "",
          "JSON config file: lease_ms, report_interval_ms and the origin groups' budgets "
          "(docs/CONTROLLER.md). Flags given on the command line override it.");
ABSL_FLAG(int64_t, lease_ms, 3000, "How long a grant holds after the node received it.");
ABSL_FLAG(int64_t, report_interval_ms, 500, "How often nodes report (and AIMD adjusts).");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (chain).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA: require client certificates signed by it (mTLS).");
ABSL_FLAG(bool, insecure, false, "Allow plaintext on non-loopback addresses.");
ABSL_FLAG(int, shutdown_grace_ms, 1000, "How long calls may run on after SIGTERM.");

namespace {

using wb::controller::Log;

// absl flags take "--lease_ms"; the controller documents "--lease-ms".
// Both spellings work. Records which flags were given.
std::vector<char*> Preprocess(int argc, char** argv, std::set<std::string>* given,
                              std::vector<std::string>* storage) {
  storage->reserve(argc);
  std::vector<char*> out = {argv[0]};
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      size_t eq = a.find('=');
      std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      for (char& c : name) c = c == '-' ? '_' : c;
      a = absl::StrCat("--", name, eq == std::string::npos ? "" : a.substr(eq));
      given->insert(name);
    }
    storage->push_back(a);
    out.push_back(storage->back().data());
  }
  return out;
}

int Usage(absl::string_view message) {
  std::cerr << "writeboost-controller: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Paces writeback across writeboost nodes that share an origin back end. "
      "See docs/CONTROLLER.md.");
  std::set<std::string> given;
  std::vector<std::string> storage;
  std::vector<char*> args = Preprocess(argc, argv, &given, &storage);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());

  wb::controller::ControllerConfig cfg;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    if (absl::Status s = wb::controller::LoadConfigFile(absl::GetFlag(FLAGS_config), &cfg);
        !s.ok()) {
      return Usage(s.message());
    }
  }
  // The file sets lease_ms and report_interval_ms unless the flag is given.
  auto millis = [&](const char* name, const absl::Flag<int64_t>& flag,
                    uint32_t* out) -> bool {
    if (!given.count(name)) return true;
    int64_t v = absl::GetFlag(flag);
    if (v <= 0 || v > UINT32_MAX) return false;
    *out = static_cast<uint32_t>(v);
    return true;
  };
  if (!millis("lease_ms", FLAGS_lease_ms, &cfg.lease_ms)) {
    return Usage("--lease-ms must be a positive number of milliseconds");
  }
  if (!millis("report_interval_ms", FLAGS_report_interval_ms, &cfg.report_interval_ms)) {
    return Usage("--report-interval-ms must be a positive number of milliseconds");
  }
  cfg.listen = absl::StrSplit(absl::GetFlag(FLAGS_listen), ',', absl::SkipEmpty());
  cfg.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  cfg.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  cfg.tls_key = absl::GetFlag(FLAGS_tls_key);
  cfg.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  cfg.insecure = absl::GetFlag(FLAGS_insecure);
  if (absl::Status s = wb::controller::ValidateConfig(cfg); !s.ok()) return Usage(s.message());
  if (absl::GetFlag(FLAGS_shutdown_grace_ms) < 0) {
    return Usage("--shutdown-grace-ms must not be negative");
  }

  // Signals are taken synchronously by this thread only: block them before
  // gRPC starts its threads, which inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  wb::controller::Controller controller(cfg, /*metrics_required=*/given.count("metrics_listen") > 0);
  if (absl::Status s = controller.Start(); !s.ok()) {
    Log("%s", s.message());
    return 1;
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  Log("%s: stopping; the nodes fall back to local pacing when their leases lapse",
      strsignal(sig));
  controller.Shutdown(absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  Log("stopped");
  return 0;
}
