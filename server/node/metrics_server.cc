#include "server/node/metrics_server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>

#include <prometheus/exposer.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#ifndef WB_VERSION
#define WB_VERSION "unknown"
#endif

namespace wb::node {
namespace {

// Binds (connect: false) or connects to host:port with a TCP socket that
// is closed at once. Returns why it failed.
absl::Status TrySocket(const std::string& host, const std::string& port, bool connect) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  absl::Status status;
  int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
  int one = 1;
  bool ok = fd >= 0 && (connect ? ::connect(fd, res->ai_addr, res->ai_addrlen) == 0
                                : setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                                      bind(fd, res->ai_addr, res->ai_addrlen) == 0);
  if (!ok) {
    status = absl::UnavailableError(absl::StrCat("cannot ", connect ? "connect to " : "listen on ",
                                                 host, ":", port, " for metrics: ",
                                                 std::strerror(errno)));
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return status;
}

}  // namespace

bool MetricsDisabled(absl::string_view listen) { return listen.empty() || listen == "none"; }

absl::Status ValidateMetricsListen(absl::string_view listen) {
  if (MetricsDisabled(listen)) return absl::OkStatus();
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics-listen \"", listen, "\": ", why,
        " (want HOST:PORT, e.g. 127.0.0.1:7201, port 0 for any free port, or none)"));
  };
  if (listen.front() == '[') return bad("IPv6 addresses are not supported");
  size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos) return bad("no port");
  absl::string_view host = listen.substr(0, colon), port = listen.substr(colon + 1);
  // Without a host the HTTP server would listen on every interface; that
  // must be asked for by name (0.0.0.0).
  if (host.empty()) return bad("no host");
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-') return bad("not a host name or IPv4 address");
  }
  uint32_t n;
  if (port.empty() || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &n) || n > 65535) {
    return bad("the port is not a number from 0 to 65535");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const VolumeRegistry* registry) {
  std::unique_ptr<MetricsServer> m(new MetricsServer());
  m->volumes_ = std::make_shared<VolumeMetrics>(registry);
  m->io_ = std::make_shared<IoMetrics>([registry] {
    std::vector<std::string> names;
    for (const std::shared_ptr<VolumeEntry>& e : registry->List()) names.push_back(e->name());
    return names;
  });
  m->process_ = std::make_shared<ProcessMetrics>(WB_VERSION);
  // The Exposer takes two seconds to give up on a port in use; a bind of
  // our own answers at once.
  const size_t colon = listen.rfind(':');
  if (absl::Status s = TrySocket(listen.substr(0, colon), listen.substr(colon + 1), false);
      !s.ok()) {
    return s;
  }
  try {
    // Two threads: a scrape is short, and a second one keeps a stuck
    // client from blocking Prometheus.
    m->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception&) {
    // prometheus-cpp reports a failed bind with an exception; it stops here.
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", listen, " for metrics (address in use, or not local?)"));
  }
  m->exposer_->RegisterCollectable(m->process_);
  m->exposer_->RegisterCollectable(m->volumes_);
  m->exposer_->RegisterCollectable(m->io_);
  std::vector<int> ports = m->exposer_->GetListeningPorts();
  m->address_ = listen.substr(0, colon + 1) +
                (ports.empty() ? listen.substr(colon + 1) : std::to_string(ports[0]));
  return m;
}

MetricsServer::~MetricsServer() { StopServing(); }

void MetricsServer::StopServing() {
  if (exposer_ == nullptr) return;
  // The HTTP server's listener polls for two seconds at a time and checks
  // for a stop only in between; a connection ends its wait at once.
  std::atomic<bool> stopped{false};
  std::thread stop([&] {
    exposer_.reset();
    stopped = true;
  });
  const size_t colon = address_.rfind(':');
  while (!stopped) {
    TrySocket(address_.substr(0, colon), address_.substr(colon + 1), true).IgnoreError();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop.join();
}

}  // namespace wb::node
