// crash_test: seeded power-cut simulation of a writeboost volume.
//
//   crash_test --scenario=persist              # the ctest budget of cuts
//   crash_test --scenario=random --seed=17 --runs=1   # replay one run
//   crash_test --scenario=writeback --cuts_multiplier=10   # soak
//   crash_test --scenario=persist --expect_violation_within=2000  # mutants
//
// Exit codes: 0 ok; 1 harness error or no cut ever lost a write; 3 the
// volume broke the block contract; 4 (mutant mode) no violation in time.
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "tests/crash/scenarios.h"

ABSL_FLAG(std::string, scenario, "", "scenario to run (--list names them)");
ABSL_FLAG(bool, list, false, "list the scenarios and exit");
ABSL_FLAG(uint64_t, seed, 1, "seed of the first run; run i uses seed + i");
ABSL_FLAG(uint64_t, runs, 0, "stop after this many runs (0: when the cut "
          "budget is spent)");
ABSL_FLAG(uint64_t, cuts, 0, "cut budget (0: the scenario's default)");
ABSL_FLAG(double, cuts_multiplier, 0, "scale the budget (soak: 10); 0 means "
          "$WB_CUTS_MULTIPLIER, or 1");
ABSL_FLAG(uint64_t, expect_violation_within, 0,
          "mutant mode: pass only if a violation shows within N cuts");
ABSL_FLAG(std::string, dump_dir, "", "save a violating cut's images here");
ABSL_FLAG(int, hang_seconds, 60, "fail when no cut completes for this long");

namespace wb::crash {
namespace {

double Multiplier() {
  double m = absl::GetFlag(FLAGS_cuts_multiplier);
  if (m > 0) return m;
  const char* env = std::getenv("WB_CUTS_MULTIPLIER");
  return env != nullptr && std::atof(env) > 0 ? std::atof(env) : 1.0;
}

int Main(const std::string& argv0) {
  if (absl::GetFlag(FLAGS_list)) {
    for (const Scenario& s : AllScenarios()) {
      std::printf("%-14s %5lu cuts  %s\n", s.name.c_str(), s.default_cuts,
                  s.what.c_str());
    }
    return kExitOk;
  }
  const Scenario* found = FindScenario(absl::GetFlag(FLAGS_scenario));
  if (found == nullptr) {
    std::fprintf(stderr, "unknown --scenario \"%s\"; see --list\n",
                 absl::GetFlag(FLAGS_scenario).c_str());
    return kExitHarnessError;
  }
  Scenario chosen = *found;
  const Scenario* sc = &chosen;
  SessionOptions so;
  so.argv0 = argv0;
  so.scenario = sc->name;
  uint64_t cuts = absl::GetFlag(FLAGS_cuts);
  so.budget = static_cast<uint64_t>(
      static_cast<double>(cuts > 0 ? cuts : sc->default_cuts) * Multiplier());
  so.expect_violation_within = absl::GetFlag(FLAGS_expect_violation_within);
  if (so.expect_violation_within > 0) so.budget = so.expect_violation_within;
  so.dump_dir = absl::GetFlag(FLAGS_dump_dir);
  so.hang_seconds = absl::GetFlag(FLAGS_hang_seconds);

  const auto start = std::chrono::steady_clock::now();
  Session session(so);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  const uint64_t runs = absl::GetFlag(FLAGS_runs);
  int idle_runs = 0;
  for (uint64_t r = 0; !session.done() && (runs == 0 || r < runs); r++) {
    RunContext run;
    run.seed = seed + r;
    session.StartRun(run.seed);
    const uint64_t before = session.cuts();
    sc->run(session, *sc, run);
    // A run that never cuts would loop forever on an unreachable budget.
    idle_runs = session.cuts() == before ? idle_runs + 1 : 0;
    if (idle_runs >= 20) {
      session.Error(run, "20 runs in a row took no cut");
      break;
    }
  }
  double secs = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - start).count();
  return session.Finish(secs);
}

}  // namespace
}  // namespace wb::crash

int main(int argc, char** argv) {
  // Every cut allocates and frees images of megabytes; letting glibc hand
  // them back to the kernel each time makes page faults the main cost.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  absl::SetProgramUsageMessage(
      "seeded power-cut simulation of a writeboost volume; --list for "
      "scenarios");
  absl::ParseCommandLine(argc, argv);
  return wb::crash::Main(argv[0]);
}
