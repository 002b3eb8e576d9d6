// The crash scenarios: what machine, what workload, and where power is cut.
// docs/TESTING.md describes each one.
#ifndef WRITEBOOST_TESTS_CRASH_SCENARIOS_H_
#define WRITEBOOST_TESTS_CRASH_SCENARIOS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/crash/rig.h"
#include "tests/crash/session.h"
#include "tests/crash/workload.h"

namespace wb::crash {

struct Scenario;
using RunFn = std::function<void(Session&, const Scenario&, RunContext&)>;

struct Scenario {
  std::string name;
  std::string what;
  uint64_t default_cuts = 1000;  // the ctest budget
  RigConfig rig;
  WorkloadConfig work;
  // Probability of a cut at each named cut point (see PointName()).
  std::map<std::string, double> points;
  double cut_after_op = 0;             // probability, per op
  absl::Duration random_every;         // a timer thread's mean gap; 0 = none
  uint64_t cuts_per_run = 50;
  int drop_check_every = 0;            // every n-th cut also drains; 0 = never
  bool nested = false;                 // cut again during each recovery
  bool structure_check = false;
  bool padding_check = false;          // RecoveryOptions::padding_check
  int plant_every = 0;                 // every n-th cut plants a stale segment
  int generations = 0;                 // repeated scenarios: crashes per run
  RunFn run;
};

const std::vector<Scenario>& AllScenarios();
const Scenario* FindScenario(const std::string& name);

// Runners (scenarios.cc, scenario_chain.cc).
void RunWorkloadWithCuts(Session& session, const Scenario& sc, RunContext& run);
void RunFormatCuts(Session& session, const Scenario& sc, RunContext& run);
void RunCrashChain(Session& session, const Scenario& sc, RunContext& run);

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_SCENARIOS_H_
