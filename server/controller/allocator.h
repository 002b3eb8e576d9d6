// Splitting one origin group's writeback budget among its volumes. Pure
// logic: no clock, no locks, no I/O (docs/CONTROLLER.md, "Allocation").
//
// The rule, in order:
//  1. Idle volumes (no dirty data, no writer waiting) each get a small floor:
//     1% of the budget, and together at most 10% of it. A volume that turns
//     dirty between two reports can start writing back at once.
//  2. Active volumes each get a floor of 5% of the budget (less when there
//     are many: the active floors together take at most half of what is
//     left), so that none is starved.
//  3. What is left goes to the active volumes in proportion to
//     1 + 15 * urgency^2, so a volume near its stall watermark gets most.
// When every volume is idle, each gets an equal share. The grants always
// add up to the budget and none is 0; a lone active volume next to k idle
// ones gets at least 90% (99% for k = 1).
#ifndef WRITEBOOST_CONTROLLER_ALLOCATOR_H_
#define WRITEBOOST_CONTROLLER_ALLOCATOR_H_

#include <vector>

#include "absl/types/span.h"
#include "writeboost/v1/controller.pb.h"

namespace wb::controller {

struct Budget {
  // No pacing at all: every grant says unlimited.
  bool unlimited = false;
  // The group's total writeback pace; values below 1 are taken as 1.
  double bytes_per_second = 0;
  // The group's total IOPS; 0: no IOPS limit (grants carry iops 0).
  double iops = 0;
};

// Whether a volume has writeback to do: dirty data, or writers waiting.
bool IsActive(const writeboost::v1::VolumeReport& report);

// How close a volume is to its stall watermark, from 0 (far, or idle) to 1
// (writers wait, or are about to). The larger of:
//  - the share of the log's capacity filled up to the watermark,
//    1 - bytes_to_stall / capacity_bytes (0 when capacity is unknown);
//  - how soon the log fills at the current net rate (foreground writes
//    minus writeback): 1 at once, 0 at kStallHorizonSeconds or never.
double Urgency(const writeboost::v1::VolumeReport& report);

inline constexpr double kStallHorizonSeconds = 60;

// One grant per report, in the same order, each naming its report's
// volume. REQUIRES: no report is null.
std::vector<writeboost::v1::Grant> Allocate(
    const Budget& budget, absl::Span<const writeboost::v1::VolumeReport* const> reports);

}  // namespace wb::controller

#endif  // WRITEBOOST_CONTROLLER_ALLOCATOR_H_
