// The block-level half of the fuzz target: opens a volume on the image with
// the known origin, holds every read to recovery rule 5, writes with FUA,
// closes, reopens and holds the reads to what was read and acknowledged.
#ifndef WRITEBOOST_TESTS_FUZZ_VOLUME_CHECK_H_
#define WRITEBOOST_TESTS_FUZZ_VOLUME_CHECK_H_

#include <cstdint>
#include <string>

#include "tests/fuzz/finding.h"
#include "tests/fuzz/reference_replay.h"

namespace wb::fuzz {

// image: the cache ref was computed from. flags: the input's. seed picks
// the blocks written.
Outcome CheckVolume(const std::string& image, const RefReplay& ref,
                    uint8_t flags, uint64_t seed);

}  // namespace wb::fuzz

#endif  // WRITEBOOST_TESTS_FUZZ_VOLUME_CHECK_H_
