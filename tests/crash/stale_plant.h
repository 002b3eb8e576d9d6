// Planting a stale segment: the state dm-writeboost's replay got wrong.
//
// Right after the end of the log, where replay looks for id last+1, the
// harness writes a segment that passes every check but one: a valid header
// and checksums, this cache set's UUID, the progress record's generation,
// but id last+2 (one id skipped), with data no write ever produced. Replay
// must stop at it (docs/FORMAT.md recovery rule 3: contiguous ids only); a
// replay that accepts it shows that data, which the model flags.
//
// The engine itself cannot leave this state behind (the generation rule
// rejects every stale segment it could leave there), so without planting
// the id-contiguity rule is never exercised; planting keeps it honest as a
// second line of defence, e.g. against a device that loses a flushed
// progress record.
#ifndef WRITEBOOST_TESTS_CRASH_STALE_PLANT_H_
#define WRITEBOOST_TESTS_CRASH_STALE_PLANT_H_

#include <cstdint>
#include <string>

#include "server/core/device/device.h"
#include "tests/crash/value_model.h"

namespace wb::crash {

// Plants the segment on cache (a formatted cache image) if the free run
// after the log's end has room for one; returns a description of what was
// planted, or "" when nothing was (unformatted, no room).
std::string PlantStaleSegment(Device& cache, uint64_t seed);

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_STALE_PLANT_H_
