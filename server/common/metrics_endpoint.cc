#include "server/common/metrics_endpoint.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>

#include <prometheus/exposer.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace wb::common {
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

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& listen,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  std::unique_ptr<MetricsEndpoint> m(new MetricsEndpoint());
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
  for (const std::shared_ptr<prometheus::Collectable>& c : collectables) {
    m->exposer_->RegisterCollectable(c);
  }
  std::vector<int> ports = m->exposer_->GetListeningPorts();
  m->address_ = listen.substr(0, colon + 1) +
                (ports.empty() ? listen.substr(colon + 1) : std::to_string(ports[0]));
  return m;
}

MetricsEndpoint::~MetricsEndpoint() { Stop(); }

void MetricsEndpoint::Stop() {
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

}  // namespace wb::common
