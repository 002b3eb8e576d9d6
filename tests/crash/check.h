// Checking one power cut: rebuild the machine from the snapshot's images,
// recover (Volume::Open), read the whole volume and hold every sector to the
// model; optionally cut again during that recovery, and drain the cache to
// see that the origin ends up with exactly what was read.
#ifndef WRITEBOOST_TESTS_CRASH_CHECK_H_
#define WRITEBOOST_TESTS_CRASH_CHECK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/crash/rig.h"
#include "tests/crash/value_model.h"

namespace wb::crash {

// The model's verdict at one cut: watermarks plus the model itself.
struct Expectation {
  const Model* model;
  uint64_t durable_wm;
  uint64_t issue_wm;
};

struct RecoveryOptions {
  // Write everything back after the check and compare the origin's image
  // with what was read (needs writeback, so it is slower).
  bool drop_check = false;
  // Cut again at the n-th write/flush point of the recovery itself
  // (1-based; 0: never), leaving that snapshot in RecoveryResult::nested.
  int nested_point = 0;
  uint64_t nested_seed = 0;
  // Walk the log with ReplayLog first and insist that the accepted ids are
  // contiguous; count slots after the end that hold a valid header.
  bool structure_check = false;
  // Check that every data block of the accepted log with a matching
  // checksum holds zeroes outside its entry's mask (FORMAT.md), e.g. past
  // the end of an origin whose size is not a multiple of 4 KiB.
  bool padding_check = false;
  // Plant a stale segment after the log's end first (stale_plant.h).
  bool plant_stale = false;
  // Keep the recovered machine running (writeback as config says) for the
  // caller to continue on.
  bool keep = false;
};

struct RecoveryResult {
  std::string failure;            // empty: the contract held
  std::vector<ValueId> values;    // per sector, as read after recovery
  std::unique_ptr<Rig> rig;       // when keep and no failure
  bool nested_taken = false;
  std::string nested_point_name;
  Snapshot nested;
  // structure_check: the slot after the log's end held a valid header with
  // a larger id than the next expected one (a state where only the id
  // contiguity rule stops the walk, unless the generation rule does).
  bool gap_after_end = false;
};

// Recovers from snap (its images are moved out) and checks. The config's
// enable_writeback applies only when keep or drop_check.
RecoveryResult RecoverAndCheck(const RigConfig& config, uint64_t seed,
                               Snapshot* snap, const Expectation& expect,
                               const RecoveryOptions& options);

// Holds every sector of data (the whole volume) to the expectation; returns
// a report of the first few mismatches, or "".
std::string CheckVolumeData(const std::string& data, const Expectation& expect,
                            std::vector<ValueId>* values);

// For cuts during format: the cache must be refused as "not a writeboost
// cache", or open as an empty cache over the untouched origin.
std::string CheckFormatCut(const RigConfig& config, uint64_t seed,
                           Snapshot* snap);

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_CHECK_H_
