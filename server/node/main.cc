// writeboostd: serves writeboost volumes over gRPC (docs/SERVICE.md).
//
//   writeboostd [--listen ADDR] [--volume name=N,origin=P,cache=P[,k=v]]...
//               [--config FILE] [--tls-cert F --tls-key F [--tls-ca F]]
//               [--auth-tokens FILE] [--insecure]
//               [--metrics-listen HOST:PORT|none]
//               [--controller HOST:PORT [--node-id NAME]]
//               [--allow-path DIR]... [--allow-nbd URI-PREFIX]... ...
//
// With no volume configured it serves the embedded default volume under
// --data-dir. SIGTERM or SIGINT: stop accepting, finish calls, seal and
// flush every volume, exit 0.
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstring>
#include <thread>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/node/config.h"
#include "server/node/log.h"
#include "server/node/node.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7200",
          "Addresses to serve on, comma-separated: HOST:PORT or unix:PATH. "
          "Non-loopback addresses need TLS or --insecure.");
ABSL_FLAG(std::string, metrics_listen, wb::node::kDefaultMetricsListen,
          "Prometheus endpoint (GET /metrics, docs/METRICS.md): HOST:PORT, port 0 for "
          "any free port, or none. Given explicitly, a failure to listen is fatal; the "
          "default address is skipped with a warning when taken.");
ABSL_FLAG(std::string, volume, "",
          "A volume: name=NAME,origin=PATH,cache=PATH[,rambuf_size=64M]"
          "[,origin_size=SIZE][,cache_size=SIZE][,segment_size=SIZE]"
          "[,io_timeout=SECONDS][,TUNABLE=VALUE]. Repeatable.");
ABSL_FLAG(std::string, allow_path, "",
          "A directory (or device node) under which FormatVolume and AttachVolume may "
          "find devices, besides --data-dir; a block device counts when a device node "
          "under it has its number (e.g. /dev/disk/by-id). Repeatable.");
ABSL_FLAG(std::string, allow_nbd, "",
          "A URI prefix (e.g. nbd://san1/) of the NBD origins FormatVolume and "
          "AttachVolume may use; none by default. Repeatable.");
ABSL_FLAG(std::string, config, "", "JSON config file (docs/SERVICE.md); flags override it.");
ABSL_FLAG(std::string, data_dir, "wb-data",
          "Node state: the embedded default volume, and volumes.json, the volumes "
          "attached at run time (attached again at start).");
ABSL_FLAG(std::string, rambuf_size, "64M", "RAM buffer per volume (unless the volume sets it).");
ABSL_FLAG(std::string, max_payload, "4M",
          "Largest Read/Write payload; larger ones get RESOURCE_EXHAUSTED.");
ABSL_FLAG(std::string, stream_inflight, "8M", "Bytes in flight per Io stream before backpressure.");
ABSL_FLAG(std::string, total_inflight, "128M", "Bytes in flight over all Io streams.");
ABSL_FLAG(int, stream_workers, 8, "Worker threads per Io stream.");
ABSL_FLAG(int, max_threads, 256, "gRPC server threads (calls in progress).");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (chain).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA: require client certificates signed by it (mTLS).");
ABSL_FLAG(std::string, auth_tokens, "", "Bearer token file: lines of TOKEN ro|rw|admin VOLUMES.");
ABSL_FLAG(bool, insecure, false, "Allow plaintext on non-loopback addresses.");
ABSL_FLAG(std::string, controller, "",
          "writeboost-controller HOST:PORT to register with; it paces writeback across "
          "nodes whose origins share a back end (docs/CONTROLLER.md).");
ABSL_FLAG(std::string, controller_tls_ca, "",
          "PEM CA of the controller's certificate; empty: plaintext to the controller.");
ABSL_FLAG(std::string, node_id, "", "Name of this node at the controller (default: host name).");
ABSL_FLAG(std::string, origin_group, "default",
          "Origin group of volumes that set none (volumes sharing a back end).");
ABSL_FLAG(int, shutdown_grace_ms, 2000, "How long calls may run on after SIGTERM.");

namespace {

using wb::node::Log;

// absl flags take "--rambuf_size"; writeboostd documents "--rambuf-size".
// Both spellings work. --volume, --allow-path and --allow-nbd may repeat,
// which absl does not support, so their values are taken out here, by flag
// name. Records which flags were given.
std::vector<char*> Preprocess(int argc, char** argv,
                              std::map<std::string, std::vector<std::string>>* repeated,
                              std::set<std::string>* given,
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
      if (name == "volume" || name == "allow_path" || name == "allow_nbd") {
        std::vector<std::string>& values = (*repeated)[name];
        if (eq != std::string::npos) {
          values.push_back(a.substr(a.find('=') + 1));
        } else {
          // A missing value becomes an empty one, which validation rejects.
          values.push_back(i + 1 < argc ? argv[++i] : "");
        }
        continue;
      }
    }
    storage->push_back(a);
    out.push_back(storage->back().data());
  }
  return out;
}

int Usage(const absl::Status& s) {
  std::cerr << "writeboostd: " << s.message() << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Allocator settings, measured with the load test (tests/node):
  // - Keep freed message buffers in the process: returning them to the
  //   kernel after every call cost ~5x on the batched path (LESSONS.md), so
  //   a high trim threshold, and payload-sized buffers (up to max_payload,
  //   4 MiB by default) come from the heap, not mmap.
  // - Larger blocks (writeback's 16 MiB staging buffers) are mmapped and go
  //   straight back: kept on the heap they fragmented it.
  // - One arena: with a worker thread per stream slot, glibc's per-thread
  //   arenas each kept their own free payload buffers and the heap grew to
  //   ~2.5x the bytes in use (peak RSS 443-522 MiB with 2-4 arenas, 213 MiB
  //   with one, same throughput on 2 cores).
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  absl::SetProgramUsageMessage("Serves writeboost volumes over gRPC. See docs/SERVICE.md.");
  std::map<std::string, std::vector<std::string>> repeated;
  std::vector<std::string> storage;
  std::set<std::string> given;
  std::vector<char*> args = Preprocess(argc, argv, &repeated, &given, &storage);
  const std::vector<std::string>& volume_specs = repeated["volume"];
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());

  wb::node::NodeConfig cfg;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    if (absl::Status s = wb::node::LoadConfigFile(absl::GetFlag(FLAGS_config), &cfg);
        !s.ok()) {
      return Usage(s);
    }
  }
  // Flags given on the command line override the file; defaults of flags
  // not given do not.
  const bool file = !absl::GetFlag(FLAGS_config).empty();
  auto size_flag = [&](const char* name, const absl::Flag<std::string>& flag,
                       uint64_t* out) -> absl::Status {
    if (file && !given.count(name)) return absl::OkStatus();
    absl::StatusOr<uint64_t> n = wb::node::ParseSize(absl::GetFlag(flag));
    if (!n.ok()) return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", n.status().message()));
    *out = *n;
    return absl::OkStatus();
  };
  for (absl::Status s : {size_flag("rambuf_size", FLAGS_rambuf_size, &cfg.rambuf_size),
                         size_flag("max_payload", FLAGS_max_payload, &cfg.max_payload),
                         size_flag("stream_inflight", FLAGS_stream_inflight, &cfg.stream_inflight),
                         size_flag("total_inflight", FLAGS_total_inflight, &cfg.total_inflight)}) {
    if (!s.ok()) return Usage(s);
  }
  auto str = [&](const char* name, const absl::Flag<std::string>& flag, std::string* out) {
    if (!file || given.count(name)) *out = absl::GetFlag(flag);
  };
  if (!file || given.count("listen")) {
    cfg.listen = absl::StrSplit(absl::GetFlag(FLAGS_listen), ',', absl::SkipEmpty());
  }
  str("data_dir", FLAGS_data_dir, &cfg.data_dir);
  str("tls_cert", FLAGS_tls_cert, &cfg.tls_cert);
  str("tls_key", FLAGS_tls_key, &cfg.tls_key);
  str("tls_ca", FLAGS_tls_ca, &cfg.tls_ca);
  str("auth_tokens", FLAGS_auth_tokens, &cfg.auth_tokens);
  str("controller", FLAGS_controller, &cfg.controller);
  str("controller_tls_ca", FLAGS_controller_tls_ca, &cfg.controller_tls_ca);
  str("node_id", FLAGS_node_id, &cfg.node_id);
  str("origin_group", FLAGS_origin_group, &cfg.origin_group);
  if (!file || given.count("insecure")) cfg.insecure = absl::GetFlag(FLAGS_insecure);
  if (!file || given.count("stream_workers")) cfg.stream_workers = absl::GetFlag(FLAGS_stream_workers);
  if (!file || given.count("max_threads")) cfg.max_threads = absl::GetFlag(FLAGS_max_threads);
  // Added to the config file's: roots only widen.
  for (const std::string& p : repeated["allow_path"]) cfg.allow_paths.push_back(p);
  for (const std::string& p : repeated["allow_nbd"]) cfg.allow_nbd.push_back(p);
  for (const std::string& spec : volume_specs) {
    absl::StatusOr<wb::node::VolumeConfig> v = wb::node::ParseVolumeSpec(spec);
    if (!v.ok()) return Usage(v.status());
    cfg.volumes.push_back(*v);
  }
  bool embedded = cfg.volumes.empty();
  if (embedded) {
    std::error_code ec;
    std::filesystem::create_directories(cfg.data_dir, ec);
    if (ec) {
      return Usage(absl::UnavailableError(
          absl::StrCat("cannot create --data-dir ", cfg.data_dir, ": ", ec.message())));
    }
    cfg.volumes.push_back(wb::node::EmbeddedDefaultVolume(cfg.data_dir));
  }
  if (absl::Status s = wb::node::ValidateConfig(cfg); !s.ok()) return Usage(s);
  wb::node::MetricsOptions metrics;
  metrics.listen = absl::GetFlag(FLAGS_metrics_listen);
  metrics.required = given.count("metrics_listen") > 0;
  if (absl::Status s = wb::node::ValidateMetricsListen(metrics.listen); !s.ok()) return Usage(s);

  // Signals are taken synchronously by this thread only: block them before
  // gRPC and the core start their threads, which inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  wb::node::Node node(cfg, metrics);
  if (absl::Status s = node.Start(); !s.ok()) {
    Log("%s", s.message());
    return 1;
  }
  if (embedded) {
    const wb::node::VolumeConfig& v = cfg.volumes[0];
    Log("no volume configured: serving the embedded default volume \"default\" "
        "(origin %s, cache %s)", v.origin, v.cache);
    std::string server = node.addresses()[0] == "127.0.0.1:7200"
                             ? ""
                             : absl::StrCat("--server ", node.addresses()[0], " ");
    Log("try: build/bin/wbctl %sstatus default", server);
  }

  int sig = 0;
  sigwait(&sigs, &sig);
  Log("%s: stopping (sealing and flushing every volume); signal again to "
      "exit at once", strsignal(sig));
  // A second signal ends the process without waiting (for an operator whose
  // shutdown is stuck behind a full log); what Flush/FUA made durable is
  // safe, the rest of the RAM buffers is lost. Repeats within two seconds
  // are ignored: timeout(1) and some supervisors signal the process and then
  // its process group, which delivers the same request twice.
  std::thread([sigs, first = absl::Now()] {
    while (true) {
      int again = 0;
      sigwait(&sigs, &again);
      if (absl::Now() - first < absl::Seconds(2)) continue;
      Log("%s again: exiting without a clean shutdown", strsignal(again));
      _exit(1);
    }
  }).detach();
  absl::Status s = node.Shutdown(absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  if (!s.ok()) {
    Log("stopped with errors: %s", s.ToString());
    return 1;
  }
  Log("stopped cleanly");
  return 0;
}
