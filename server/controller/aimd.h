// AIMD on an origin group's latency: the writeback budget of a group in
// "aimd" mode (docs/CONTROLLER.md, "Modes"). Pure logic; the caller ticks
// it once per report interval with what the nodes reported.
//
// Each tick:
//  - no origin I/O reported: no signal, the budget stays;
//  - observed p99 above the target: budget *= 0.7, not below min;
//  - otherwise, when the group's writeback used at least half the budget:
//    budget += step, not above max (step = max / 10, or 8 MiB/s when max
//    is not set). A budget nobody uses is not raised: it would only let a
//    later storm start at a pace the origin was never shown to bear.
// A cut shows in the reports only one interval later (grants reach the
// nodes, then the next interval is measured), so the tick after a cut
// changes nothing.
// Start: max / 4 when max is set, else 64 MiB/s; never below min (default
// 1 MiB/s).
#ifndef WRITEBOOST_CONTROLLER_AIMD_H_
#define WRITEBOOST_CONTROLLER_AIMD_H_

namespace wb::controller {

inline constexpr double kAimdDecrease = 0.7;
inline constexpr double kAimdDefaultMin = 1 << 20;          // 1 MiB/s
inline constexpr double kAimdDefaultStart = 64 << 20;       // 64 MiB/s
inline constexpr double kAimdDefaultStep = 8 << 20;         // 8 MiB/s
inline constexpr double kAimdUsedShare = 0.5;

class Aimd {
 public:
  // target_p99_ms > 0. min/max 0: not set. REQUIRES: max == 0 or min <= max.
  Aimd(double target_p99_ms, double min_bytes_per_second, double max_bytes_per_second);

  // One interval's observation: the worst origin p99 among the group's
  // volumes that did origin I/O (had_io false: none did) and the group's
  // total writeback rate. Returns the new budget.
  double Tick(bool had_io, double observed_p99_ms, double writeback_bytes_per_second);

  double budget() const { return budget_; }
  double target_p99_ms() const { return target_; }

 private:
  const double target_;
  const double min_;
  const double max_;  // 0: none
  const double step_;
  double budget_;
  bool just_cut_ = false;
};

}  // namespace wb::controller

#endif  // WRITEBOOST_CONTROLLER_AIMD_H_
