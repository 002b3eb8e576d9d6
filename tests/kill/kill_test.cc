// Process-level crash test: runs kill_writer on real files (FileDevice,
// O_DIRECT where the filesystem allows it) under /var/tmp, SIGKILLs it at
// random moments (also while it recovers), reopens the files and checks
// every sector against what the writer said was durable.
//
// What this does NOT test: power loss. A killed process loses its RAM
// buffers and in-flight io_uring submissions, but the kernel completes what
// was submitted, and nothing the kernel holds is lost; the power-cut
// simulation (tests/crash) covers the device side.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/core/device/file_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/volume.h"
#include "tests/crash/value_model.h"
#include "tests/kill/kill_workload.h"

namespace wb::kill {
namespace {

using crash::ValueId;

// One kill_writer process and the lines it printed.
class Writer {
 public:
  Writer(const std::string& dir, uint64_t cycle, bool format, uint64_t seed) {
    int fds[2];
    if (pipe(fds) != 0 || (pid_ = fork()) < 0) {
      std::perror("kill_test: pipe/fork");
      std::abort();
    }
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      std::string a[] = {WB_KILL_WRITER, "--dir=" + dir,
                         absl::StrFormat("--cycle=%u", cycle),
                         format ? "--format" : "--noformat",
                         absl::StrFormat("--seed=%u", seed)};
      char* argv[] = {a[0].data(), a[1].data(), a[2].data(), a[3].data(),
                      a[4].data(), nullptr};
      execv(argv[0], argv);
      _exit(127);
    }
    close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] { Read(fd); });
  }
  ~Writer() { Kill(); }

  bool WaitReady(absl::Duration limit) {
    absl::MutexLock l(&mu_);
    auto ready = [this] { return ready_ || eof_; };
    mu_.AwaitWithTimeout(absl::Condition(&ready), limit);
    return ready_;
  }
  // Kills the writer and collects everything it printed before dying.
  int Kill() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    reader_.join();
    return status_;
  }
  std::vector<std::string> lines() {
    absl::MutexLock l(&mu_);
    return lines_;
  }

 private:
  void Read(int fd) {
    std::string pending;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) {
      pending.append(buf, n);
      absl::MutexLock l(&mu_);
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        lines_.push_back(pending.substr(0, nl));
        ready_ |= lines_.back() == "ready";
        pending.erase(0, nl + 1);
      }
    }
    close(fd);
    absl::MutexLock l(&mu_);
    eof_ = true;
  }

  pid_t pid_ = -1;
  int status_ = 0;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
};

// Opens the files in this process (the writer is dead, so its locks are
// gone), recovers, and checks each sector: it must hold its newest durable
// value (as of the last "flushed"/"fua" line) or a later write of this
// cycle that covered it. Updates *values to what was read.
std::string Verify(const std::string& dir, uint64_t cycle,
                   const std::vector<std::string>& lines,
                   std::vector<ValueId>* values, absl::Duration* lock_wait) {
  const uint64_t base = cycle * kCycleSpan;
  uint64_t flushed = base;
  std::set<uint64_t> fua;
  for (const std::string& line : lines) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    uint64_t seq = 0;
    if (f.size() == 2 && absl::SimpleAtoi(f[1], &seq)) {
      if (f[0] == "flushed") flushed = std::max(flushed, seq);
      if (f[0] == "fua") fua.insert(seq);
    }
  }
  std::vector<ValueId> durable = *values;
  auto apply = [&](uint64_t seq) {
    KillWrite w = WriteOf(seq);
    for (uint64_t s = w.first; s < w.first + w.count; s++) {
      durable[s] = std::max(durable[s], seq);
    }
  };
  for (uint64_t seq = base + 1; seq <= flushed; seq++) apply(seq);
  for (uint64_t seq : fua) apply(seq);

  // A killed writer's io_uring is torn down after the process is reaped,
  // and holds the files' flock until then: retry for a while.
  absl::StatusOr<std::unique_ptr<FileDevice>> cache, origin;
  const absl::Time start = absl::Now();
  do {
    cache = FileDevice::Open(dir + "/" + kCacheFile);
    origin = FileDevice::Open(dir + "/" + kOriginFile);
    if (cache.ok() && origin.ok()) break;
    cache = absl::UnavailableError("retry");  // drops a lock we got
    origin = absl::UnavailableError("retry");
    absl::SleepFor(absl::Milliseconds(5));
  } while (absl::Now() - start < absl::Seconds(10));
  *lock_wait = std::max(*lock_wait, absl::Now() - start);
  auto identity = OriginIdentity(dir + "/" + kOriginFile, false);
  if (!cache.ok() || !origin.ok() || !identity.ok()) {
    return absl::StrFormat("cannot open the files again: %s / %s / %s",
                           cache.status().ToString(), origin.status().ToString(),
                           identity.status().ToString());
  }
  OpenOptions oo;
  oo.origin_identity = *identity;
  oo.enable_writeback = false;
  auto volume = Volume::Open(std::move(*cache), std::move(*origin), oo);
  if (!volume.ok()) return "recovery failed: " + volume.status().ToString();
  std::string data(kOriginBytes, 0);
  if (absl::Status s = (*volume)->Read(0, absl::MakeSpan(data)); !s.ok()) {
    return "reading the recovered volume failed: " + s.ToString();
  }
  std::string report;
  for (uint64_t s = 0; s < kOriginBytes / 512; s++) {
    ValueId v = crash::DecodeSector(s, data.data() + s * 512);
    bool later = v > durable[s] && v > base && v < base + kCycleSpan &&
                 WriteOf(v).first <= s && s < WriteOf(v).first + WriteOf(v).count;
    if (v != durable[s] && !later && report.size() < 2000) {
      report += absl::StrFormat(
          "sector %u holds %s; its last durable value is %s (flushed through "
          "%u)\n", s, crash::ValueName(v), crash::ValueName(durable[s]), flushed);
    }
    (*values)[s] = v;
  }
  if (absl::Status s = (*volume)->Close(); !s.ok() && report.empty()) {
    report = "clean close after recovery failed: " + s.ToString();
  }
  return report;
}

TEST(KillTest, SigkillAtRandomMomentsLosesNothingDurable) {
  const char* mult = std::getenv("WB_CUTS_MULTIPLIER");
  const int cycles = 50 * (mult != nullptr && std::atoi(mult) > 0 ? std::atoi(mult) : 1);
  char tmpl[] = "/var/tmp/wb-kill-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    // The origin starts with known data; the cache file is sized, empty.
    std::ofstream(dir + "/" + kOriginFile, std::ios::binary)
        << crash::InitialOriginImage(kOriginBytes);
    std::ofstream(dir + "/" + kCacheFile, std::ios::binary).close();
    std::filesystem::resize_file(dir + "/" + kCacheFile, kCacheBytes);
  }
  std::vector<ValueId> values(kOriginBytes / 512, crash::kInitialValue);
  std::mt19937_64 rng(1);
  int early_kills = 0;
  absl::Duration lock_wait;
  uint64_t durable_lines = 0;
  for (int cycle = 1; cycle <= cycles; cycle++) {
    Writer writer(dir, cycle, cycle == 1, rng());
    // One kill in ten lands while the writer is still recovering.
    if (cycle > 1 && rng() % 10 == 0) {
      absl::SleepFor(absl::Milliseconds(rng() % 30));
      early_kills++;
    } else {
      ASSERT_TRUE(writer.WaitReady(absl::Seconds(30)))
          << "cycle " << cycle << ": the writer never became ready";
      absl::SleepFor(absl::Milliseconds(20 + rng() % 300));
    }
    int status = writer.Kill();
    std::vector<std::string> lines = writer.lines();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "cycle " << cycle << ": the writer exited by itself (status "
        << status << ")";
    durable_lines += lines.size();
    std::string report = Verify(dir, cycle, lines, &values, &lock_wait);
    ASSERT_EQ(report, "") << "cycle " << cycle << " (files kept in " << dir
                          << "):\n" << report;
  }
  std::printf("%d kill cycles (%d during recovery), %lu durability acks "
              "checked; longest wait for a dead writer's file locks: %s\n",
              cycles, early_kills, durable_lines,
              absl::FormatDuration(lock_wait).c_str());
  EXPECT_GT(durable_lines, static_cast<uint64_t>(cycles));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace wb::kill
