// Test harness for the node's integration tests: a temporary directory on a
// real filesystem, free loopback ports, and real writeboostd processes
// (build/bin/writeboostd, spawned, signalled and measured).
#ifndef WRITEBOOST_TESTS_NODE_NODE_HARNESS_H_
#define WRITEBOOST_TESTS_NODE_NODE_HARNESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/lib/options.h"

namespace wbtest {

// mkdtemp under /var/tmp (a real filesystem: O_DIRECT, xattrs); removed
// with its contents when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A loopback port nobody listens on right now.
int FreePort();

// "name=N,origin=DIR/N.origin,cache=DIR/N.cache,origin_size=..,cache_size=.."
std::string VolumeFlag(const TempDir& dir, const std::string& name,
                       const std::string& origin_size = "256M",
                       const std::string& cache_size = "64M",
                       const std::string& extra = "");

class Daemon {
 public:
  // Logs go to dir/daemon.log (appended across restarts).
  explicit Daemon(const TempDir& dir) : dir_(dir) {}
  ~Daemon();  // SIGKILLs a daemon still running

  // Spawns writeboostd with args.
  void Start(const std::vector<std::string>& args);
  // Waits until the health service says `service` is SERVING.
  absl::Status WaitServing(const std::string& endpoint, const std::string& service,
                           const wbclient::Options& options = {},
                           absl::Duration timeout = absl::Seconds(60));
  // SIGTERM and wait; returns the exit status (or -signal).
  int Term();
  // SIGKILL and reap.
  void Kill();
  // Waits for the process to exit by itself; -1000 on timeout.
  int Wait(absl::Duration timeout);
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Caps the daemon's address space (RLIMIT_AS) at what it maps now plus
  // `headroom` bytes, so that a request asking for more memory than that
  // fails inside the daemon instead of eating the host's.
  void LimitAddressSpace(uint64_t headroom);
  // Lifts that cap again.
  void UnlimitAddressSpace();
  // From /proc/PID/status: peak and current resident set (KiB).
  uint64_t PeakRssKiB() const;
  uint64_t RssKiB() const;
  std::string Log() const;

 private:
  int Reap(int options);
  const TempDir& dir_;
  pid_t pid_ = -1;
};

// Runs a shell command line, returning its exit status and stdout+stderr.
int RunCommand(const std::string& cmd, std::string* output);

// Deterministic block contents: every 8 bytes encode (seed, offset).
void FillPattern(char* buf, uint64_t length, uint64_t offset, uint64_t seed);
bool CheckPattern(const char* buf, uint64_t length, uint64_t offset, uint64_t seed);

}  // namespace wbtest

#endif  // WRITEBOOST_TESTS_NODE_NODE_HARNESS_H_
