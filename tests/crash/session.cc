#include "tests/crash/session.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace wb::crash {

Session::Session(SessionOptions options) : options_(std::move(options)) {
  watchdog_ = std::thread([this] { Watchdog(); });
}

Session::~Session() {
  stop_watchdog_ = true;
  watchdog_.join();
}

void Session::Watchdog() {
  // A hang is a failure too: a cut that never completes would otherwise
  // stall ctest until its timeout with nothing to replay.
  uint64_t last = cuts_.load();
  absl::Time since = absl::Now();
  while (!stop_watchdog_.load()) {
    absl::SleepFor(absl::Milliseconds(200));
    if (cuts_.load() != last) {
      last = cuts_.load();
      since = absl::Now();
    } else if (absl::Now() - since > absl::Seconds(options_.hang_seconds)) {
      std::fprintf(stderr,
                   "HANG: no cut completed for %d s in scenario %s, run seed "
                   "%lu\nreplay: %s --scenario=%s --seed=%lu --runs=1\n",
                   options_.hang_seconds, options_.scenario.c_str(),
                   current_seed_.load(), options_.argv0.c_str(),
                   options_.scenario.c_str(), current_seed_.load());
      std::fflush(stderr);
      std::_Exit(kExitHarnessError);
    }
  }
}

void Session::Count(const std::string& phase, const Snapshot& s) {
  absl::MutexLock l(&mu_);
  PhaseCoverage& c = coverage_[phase];
  c.cuts++;
  c.dropped += s.dropped();
  c.torn += s.torn();
}

void Session::Tally(const std::string& what, uint64_t n) {
  absl::MutexLock l(&mu_);
  tallies_[what] += n;
}

RecoveryResult Session::Cut(Rig& rig, const Model& model, RunContext& run,
                            const std::string& phase, RecoveryOptions options) {
  uint64_t cut_seed;
  // Reused: PowerCutImageInto keeps the buffers' memory between cuts.
  thread_local Snapshot scratch;
  Snapshot& snap = scratch;
  Expectation at_cut{&model, 0, 0};
  {
    // Only the snapshot is serialized. Checks run in parallel: a recovered
    // volume kept for a chain takes its own locks later on, and holding
    // cut_mu_ across its Open would order cut_mu_ before them.
    absl::MutexLock l(&cut_mu_);
    if (done()) return {};
    cut_seed = run.NextCutSeed();
    // Acks recorded before the snapshot certainly preceded it; writes
    // issued before it ended may be in it.
    at_cut.durable_wm = model.Now();
    rig.TakeSnapshot(cut_seed, &snap);
    at_cut.issue_wm = model.Now();
    Count(phase, snap);
    cuts_++;
  }
  Snapshot kept;
  if (!options_.dump_dir.empty()) kept = snap;
  options.nested_seed = cut_seed ^ 0x9e3779b97f4a7c15ull;
  RecoveryResult r = RecoverAndCheck(rig.config(), cut_seed, &snap, at_cut, options);
  if (r.gap_after_end) CountGap();
  if (!r.failure.empty()) {
    Report(run, phase, cut_seed, r.failure, &kept);
    return r;
  }
  if (r.nested_taken && !done()) {
    // Power failed again while recovering: the same expectation holds.
    const std::string nested_phase = "recovery:" + r.nested_point_name;
    Count(nested_phase, r.nested);
    cuts_++;
    if (!options_.dump_dir.empty()) kept = r.nested;
    RecoveryResult again = RecoverAndCheck(rig.config(), cut_seed + 1,
                                           &r.nested, at_cut, RecoveryOptions{});
    if (!again.failure.empty()) {
      Report(run, nested_phase, cut_seed,
             absl::StrFormat("  (a cut during the recovery from a cut at %s)\n%s",
                             phase, again.failure),
             &kept);
    }
  }
  return r;
}

void Session::FormatCut(Rig& rig, RunContext& run, const std::string& phase) {
  uint64_t cut_seed;
  thread_local Snapshot scratch;
  Snapshot& snap = scratch;
  {
    absl::MutexLock l(&cut_mu_);
    if (done()) return;
    cut_seed = run.NextCutSeed();
    rig.TakeSnapshot(cut_seed, &snap);
    Count(phase, snap);
    cuts_++;
  }
  Snapshot kept;
  if (!options_.dump_dir.empty()) kept = snap;
  std::string failure = CheckFormatCut(rig.config(), cut_seed, &snap);
  if (!failure.empty()) Report(run, phase, cut_seed, failure, &kept);
}

void Session::Violation(RunContext& run, const std::string& where,
                        const std::string& report) {
  Report(run, where, 0, report, nullptr);
}

void Session::Error(RunContext& run, const std::string& what) {
  error_ = true;
  failed_ = true;
  std::fprintf(stderr, "HARNESS ERROR in scenario %s, run seed %lu: %s\n",
               options_.scenario.c_str(), run.seed, what.c_str());
}

void Session::Report(RunContext& run, const std::string& phase,
                     uint64_t cut_seed, const std::string& details,
                     const Snapshot* images) {
  if (failed_.exchange(true)) return;  // the first violation tells the story
  cuts_to_violation_ = cuts_.load();  // read by Finish after the runs end
  std::string out = absl::StrFormat(
      "=== CONTRACT VIOLATION ===\nscenario %s, run seed %lu, cut #%lu of "
      "the run (cut seed %lu) at %s, after %lu cuts in this process\n%s",
      options_.scenario, run.seed, run.cuts.load(), cut_seed, phase,
      cuts_.load(), details);
  if (images != nullptr && !images->cache.empty()) {
    std::string prefix = absl::StrFormat("%s/%s-seed%lu-cut%lu",
                                         options_.dump_dir, options_.scenario,
                                         run.seed, run.cuts.load());
    std::ofstream(prefix + ".cache.img", std::ios::binary) << images->cache;
    std::ofstream(prefix + ".origin.img", std::ios::binary) << images->origin;
    out += absl::StrFormat("images: %s.{cache,origin}.img\n", prefix);
  }
  out += absl::StrFormat(
      "replay: %s --scenario=%s --seed=%lu --runs=1%s\n"
      "(the run is seeded; thread timing can move a cut, so a replay may need "
      "a few tries: add --runs=N to walk on from that seed)\n",
      options_.argv0, options_.scenario, run.seed,
      options_.dump_dir.empty() ? " --dump_dir=/tmp" : "");
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

int Session::Finish(double seconds) {
  absl::MutexLock l(&mu_);
  PhaseCoverage total;
  std::printf("%-40s %8s %10s %10s\n", "phase", "cuts", "dropped>=1",
              "torn>=1");
  for (const auto& [phase, c] : coverage_) {
    std::printf("%-40s %8lu %10lu %10lu\n", phase.c_str(), c.cuts, c.dropped,
                c.torn);
    total.cuts += c.cuts;
    total.dropped += c.dropped;
    total.torn += c.torn;
  }
  std::printf("%-40s %8lu %10lu %10lu\n", "total", total.cuts, total.dropped,
              total.torn);
  for (const auto& [what, n] : tallies_) {
    std::printf("%-40s %8lu\n", what.c_str(), n);
  }
  std::printf("scenario %s: %lu cuts in %.1f s (%.0f cuts/s)",
              options_.scenario.c_str(), total.cuts, seconds,
              total.cuts / std::max(seconds, 1e-3));
  if (gaps_after_end_ > 0) {
    std::printf("; %lu recoveries found a valid header with a larger id "
                "right after the log's end", gaps_after_end_.load());
  }
  std::printf("\n");
  std::fflush(stdout);
  if (error_) return kExitHarnessError;
  if (options_.expect_violation_within > 0) {
    if (failed_ && cuts_to_violation_ <= options_.expect_violation_within) {
      std::printf("MUTANT CAUGHT after %lu cuts (limit %lu)\n",
                  cuts_to_violation_, options_.expect_violation_within);
      return kExitOk;
    }
    std::printf("MUTANT SURVIVED %lu cuts (limit %lu)\n", total.cuts,
                options_.expect_violation_within);
    return kExitMutantSurvived;
  }
  if (failed_) return kExitViolation;
  // A harness whose cuts never lose anything proves nothing.
  if (total.cuts > 0 && (total.dropped == 0 || total.torn == 0)) {
    std::printf("COVERAGE FAILURE: no cut dropped (%lu) or tore (%lu) a "
                "write\n", total.dropped, total.torn);
    return kExitHarnessError;
  }
  return kExitOk;
}

}  // namespace wb::crash
