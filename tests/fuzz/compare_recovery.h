// Holds the core's reading of a cache (ReadCacheHead, ReplayLog, and what
// `wbctl check` runs on top of them) against the reference reading.
#ifndef WRITEBOOST_TESTS_FUZZ_COMPARE_RECOVERY_H_
#define WRITEBOOST_TESTS_FUZZ_COMPARE_RECOVERY_H_

#include "server/core/device/device.h"
#include "tests/fuzz/finding.h"
#include "tests/fuzz/reference_replay.h"

namespace wb::fuzz {

// Runs ReadCacheHead, ReplayLog and the check logic on cache, which holds
// the image ref was computed from.
Outcome CompareRecovery(Device& cache, const RefReplay& ref);

}  // namespace wb::fuzz

#endif  // WRITEBOOST_TESTS_FUZZ_COMPARE_RECOVERY_H_
