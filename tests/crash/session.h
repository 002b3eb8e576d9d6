// Session: one crash_test process. It owns the cut budget, performs every
// cut (snapshot, recover, check), keeps cut coverage per phase, and turns
// the first violation into a report with a replay command and an exit code.
#ifndef WRITEBOOST_TESTS_CRASH_SESSION_H_
#define WRITEBOOST_TESTS_CRASH_SESSION_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "tests/crash/check.h"
#include "tests/crash/rig.h"
#include "tests/crash/value_model.h"

namespace wb::crash {

inline constexpr int kExitOk = 0;
inline constexpr int kExitHarnessError = 1;  // also: coverage too low
inline constexpr int kExitViolation = 3;     // the volume broke the contract
inline constexpr int kExitMutantSurvived = 4;

struct SessionOptions {
  std::string argv0;
  std::string scenario;
  uint64_t budget = 1000;  // cuts
  // Mutant mode: succeed only if a violation shows within this many cuts.
  uint64_t expect_violation_within = 0;
  std::string dump_dir;  // where a violation's images go ("" = nowhere)
  int hang_seconds = 60;
};

// Per-run state shared by the threads of one run.
struct RunContext {
  uint64_t seed = 0;
  std::atomic<uint64_t> cuts{0};
  uint64_t NextCutSeed() { return seed * 1000003 + cuts.fetch_add(1); }
};

class Session {
 public:
  explicit Session(SessionOptions options);
  ~Session();

  // The budget is spent, or a violation was found.
  bool done() const { return cuts_.load() >= options_.budget || failed_.load(); }
  bool failed() const { return failed_.load(); }
  uint64_t cuts() const { return cuts_.load(); }
  void StartRun(uint64_t seed) { current_seed_.store(seed); }

  // Cuts power on rig now, recovers from the images and checks every
  // sector against model. Snapshots are serialized; checks may overlap.
  RecoveryResult Cut(Rig& rig, const Model& model, RunContext& run,
                     const std::string& phase, RecoveryOptions options);
  // A cut during format: checks that the cache is unformatted or empty.
  void FormatCut(Rig& rig, RunContext& run, const std::string& phase);
  // A violation seen outside a cut (a live read, a failed op).
  void Violation(RunContext& run, const std::string& where,
                 const std::string& report);
  // A harness problem (setup failed); exits with kExitHarnessError.
  void Error(RunContext& run, const std::string& what);

  void Count(const std::string& phase, const Snapshot& s);
  // Adds to a named total printed at the end (what the workload did: reads
  // that overlapped a write, blocks staged by read caching, ...).
  void Tally(const std::string& what, uint64_t n);
  void CountGap() { gaps_after_end_++; }
  // Prints the coverage table and returns the process exit code.
  int Finish(double seconds);

 private:
  struct PhaseCoverage {
    uint64_t cuts = 0;
    uint64_t dropped = 0;  // cuts that lost at least one unflushed write
    uint64_t torn = 0;     // cuts that tore at least one
  };
  void Report(RunContext& run, const std::string& phase, uint64_t cut_seed,
              const std::string& details, const Snapshot* images);
  void Watchdog();

  const SessionOptions options_;
  absl::Mutex cut_mu_;  // one snapshot at a time
  std::atomic<uint64_t> cuts_{0};
  std::atomic<bool> failed_{false};
  std::atomic<bool> error_{false};
  std::atomic<uint64_t> current_seed_{0};
  std::atomic<uint64_t> gaps_after_end_{0};
  uint64_t cuts_to_violation_ = 0;

  absl::Mutex mu_;
  std::map<std::string, PhaseCoverage> coverage_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> tallies_ ABSL_GUARDED_BY(mu_);

  std::atomic<bool> stop_watchdog_{false};
  std::thread watchdog_;
};

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_SESSION_H_
