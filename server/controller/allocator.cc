#include "server/controller/allocator.h"

#include <algorithm>

namespace wb::controller {
namespace {

namespace v1 = writeboost::v1;

constexpr double kIdleShare = 0.01;        // per idle volume
constexpr double kIdleTotalShare = 0.10;   // all idle volumes together
constexpr double kActiveShare = 0.05;      // per active volume
constexpr double kActiveFloorsShare = 0.5; // active floors, of what idle left
constexpr double kUrgencyWeight = 15;

double Clamp01(double x) { return std::clamp(x, 0.0, 1.0); }

}  // namespace

bool IsActive(const v1::VolumeReport& r) { return r.dirty_bytes() > 0 || r.writers_waiting() > 0; }

double Urgency(const v1::VolumeReport& r) {
  if (r.writers_waiting() > 0) return 1;
  double fill = 0;
  if (r.capacity_bytes() > 0) {
    fill = 1 - static_cast<double>(r.bytes_to_stall()) / static_cast<double>(r.capacity_bytes());
  }
  // The log fills at the foreground write rate and drains at the writeback
  // rate; a volume that fills fast reaches its watermark soon even when it
  // is still mostly empty.
  double soon = 0;
  const double net = r.foreground_write_bytes_per_second() - r.writeback_bytes_per_second();
  if (net > 0) {
    const double seconds = static_cast<double>(r.bytes_to_stall()) / net;
    soon = 1 - seconds / kStallHorizonSeconds;
  }
  return Clamp01(std::max(fill, soon));
}

std::vector<v1::Grant> Allocate(const Budget& budget,
                                absl::Span<const v1::VolumeReport* const> reports) {
  std::vector<v1::Grant> grants(reports.size());
  for (size_t i = 0; i < reports.size(); i++) grants[i].set_volume(reports[i]->volume());
  if (reports.empty()) return grants;
  if (budget.unlimited) {
    for (v1::Grant& g : grants) g.set_unlimited(true);
    return grants;
  }
  const double total = std::max(budget.bytes_per_second, 1.0);
  std::vector<double> bytes(reports.size(), 0);

  size_t active = 0;
  for (const v1::VolumeReport* r : reports) active += IsActive(*r) ? 1 : 0;
  const size_t idle = reports.size() - active;
  if (active == 0) {
    std::fill(bytes.begin(), bytes.end(), total / static_cast<double>(reports.size()));
  } else {
    const double idle_floor =
        idle == 0 ? 0
                  : std::min(kIdleShare * total, kIdleTotalShare * total / static_cast<double>(idle));
    const double after_idle = total - idle_floor * static_cast<double>(idle);
    const double active_floor = std::min(
        kActiveShare * total, kActiveFloorsShare * after_idle / static_cast<double>(active));
    const double pool = after_idle - active_floor * static_cast<double>(active);
    std::vector<double> weight(reports.size(), 0);
    double weights = 0;
    for (size_t i = 0; i < reports.size(); i++) {
      if (!IsActive(*reports[i])) continue;
      const double u = Urgency(*reports[i]);
      weight[i] = 1 + kUrgencyWeight * u * u;
      weights += weight[i];
    }
    for (size_t i = 0; i < reports.size(); i++) {
      bytes[i] = IsActive(*reports[i]) ? active_floor + pool * weight[i] / weights : idle_floor;
    }
  }
  for (size_t i = 0; i < reports.size(); i++) {
    grants[i].set_bytes_per_second(bytes[i]);
    // IOPS follow the byte shares.
    grants[i].set_iops(budget.iops > 0 ? budget.iops * bytes[i] / total : 0);
  }
  return grants;
}

}  // namespace wb::controller
