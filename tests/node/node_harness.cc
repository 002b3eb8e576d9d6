#include "tests/node/node_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/lib/admin.h"

namespace wbtest {

TempDir::TempDir() {
  char tmpl[] = "/var/tmp/wbnode-test-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (std::getenv("WB_KEEP_TEST_DIR") == nullptr) std::filesystem::remove_all(path_, ec);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string VolumeFlag(const TempDir& dir, const std::string& name,
                       const std::string& origin_size, const std::string& cache_size,
                       const std::string& extra) {
  return absl::StrCat("name=", name, ",origin=", dir.File(name + ".origin"),
                      ",cache=", dir.File(name + ".cache"), ",origin_size=", origin_size,
                      ",cache_size=", cache_size, extra.empty() ? "" : ",", extra);
}

Daemon::~Daemon() {
  if (running()) Kill();
}

void Daemon::Start(const std::vector<std::string>& args) {
  // No metrics endpoint unless a test asks for one (a later flag wins):
  // daemons of parallel tests would all want the default port.
  std::vector<std::string> argv = {WRITEBOOSTD_PATH, "--metrics-listen=none"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::string log = dir_.File("daemon.log");
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // The daemon dies with the test, even when the test is killed.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0 || ::chdir(dir_.path().c_str()) != 0) {
      ::_exit(127);
    }
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  if (pid_ < 0) std::fprintf(stderr, "fork: %s\n", std::strerror(errno));
}

absl::Status Daemon::WaitServing(const std::string& endpoint, const std::string& service,
                                 const wbclient::Options& options, absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<wbclient::Admin>> admin =
      wbclient::Admin::Connect(endpoint, options);
  if (!admin.ok()) return admin.status();
  absl::Time give_up = absl::Now() + timeout;
  absl::Status last;
  while (absl::Now() < give_up) {
    if (Reap(WNOHANG) != -1000) {
      return absl::InternalError("writeboostd exited:\n" + Log());
    }
    last = (*admin)->WaitServing(service, absl::Milliseconds(200));
    if (last.ok()) return last;
  }
  return absl::DeadlineExceededError(absl::StrCat(last.ToString(), "\n", Log()));
}

int Daemon::Reap(int options) {
  if (pid_ <= 0) return -2000;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, options);
  if (r == 0) return -1000;  // still running
  pid_ = -1;
  if (r < 0) return -3000;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -WTERMSIG(status);
}

int Daemon::Term() {
  if (pid_ <= 0) return -2000;
  ::kill(pid_, SIGTERM);
  return Reap(0);
}

void Daemon::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Reap(0);
}

int Daemon::Wait(absl::Duration timeout) {
  absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    int r = Reap(WNOHANG);
    if (r != -1000) return r;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return -1000;
}

namespace {

uint64_t ProcStatusKiB(pid_t pid, const std::string& key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream ss(line.substr(key.size() + 1));
    uint64_t kib = 0;
    ss >> kib;
    return kib;
  }
  return 0;
}

}  // namespace

void Daemon::LimitAddressSpace(uint64_t headroom) {
  const uint64_t mapped = ProcStatusKiB(pid_, "VmSize") << 10;
  // The soft limit only: it is what is enforced, and lifting it again
  // needs no privilege.
  struct rlimit limit;
  if (::prlimit(pid_, RLIMIT_AS, nullptr, &limit) != 0) std::abort();
  limit.rlim_cur = mapped + headroom;
  if (::prlimit(pid_, RLIMIT_AS, &limit, nullptr) != 0) {
    std::fprintf(stderr, "prlimit: %s\n", std::strerror(errno));
    std::abort();
  }
}

void Daemon::UnlimitAddressSpace() {
  struct rlimit limit;
  if (::prlimit(pid_, RLIMIT_AS, nullptr, &limit) != 0) std::abort();
  limit.rlim_cur = limit.rlim_max;
  if (::prlimit(pid_, RLIMIT_AS, &limit, nullptr) != 0) {
    std::fprintf(stderr, "prlimit: %s\n", std::strerror(errno));
    std::abort();
  }
}

uint64_t Daemon::PeakRssKiB() const { return ProcStatusKiB(pid_, "VmHWM"); }
uint64_t Daemon::RssKiB() const { return ProcStatusKiB(pid_, "VmRSS"); }

std::string Daemon::Log() const {
  std::ifstream in(dir_.File("daemon.log"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunCommand(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) return -1;
  output->clear();
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void FillPattern(char* buf, uint64_t length, uint64_t offset, uint64_t seed) {
  for (uint64_t i = 0; i + 8 <= length; i += 8) {
    uint64_t v = (seed * 0x9E3779B97F4A7C15ull) ^ (offset + i);
    std::memcpy(buf + i, &v, 8);
  }
}

bool CheckPattern(const char* buf, uint64_t length, uint64_t offset, uint64_t seed) {
  for (uint64_t i = 0; i + 8 <= length; i += 8) {
    uint64_t v = (seed * 0x9E3779B97F4A7C15ull) ^ (offset + i);
    if (std::memcmp(buf + i, &v, 8) != 0) return false;
  }
  return true;
}

}  // namespace wbtest
