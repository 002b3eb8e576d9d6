#include "server/controller/aimd.h"

#include <algorithm>

namespace wb::controller {

Aimd::Aimd(double target_p99_ms, double min_bytes_per_second, double max_bytes_per_second)
    : target_(target_p99_ms),
      min_(min_bytes_per_second > 0 ? min_bytes_per_second : kAimdDefaultMin),
      max_(max_bytes_per_second),
      step_(max_bytes_per_second > 0 ? max_bytes_per_second / 10 : kAimdDefaultStep),
      budget_(max_bytes_per_second > 0 ? max_bytes_per_second / 4 : kAimdDefaultStart) {
  budget_ = std::max(budget_, min_);
  if (max_ > 0) budget_ = std::min(budget_, max_);
}

double Aimd::Tick(bool had_io, double observed_p99_ms, double writeback_bytes_per_second) {
  if (just_cut_) {
    just_cut_ = false;
    return budget_;
  }
  if (!had_io) return budget_;
  if (observed_p99_ms > target_) {
    budget_ = std::max(min_, budget_ * kAimdDecrease);
    just_cut_ = true;
  } else if (writeback_bytes_per_second >= kAimdUsedShare * budget_) {
    budget_ += step_;
    if (max_ > 0) budget_ = std::min(budget_, max_);
  }
  return budget_;
}

}  // namespace wb::controller
