// The recovery fuzz target (docs/TESTING.md, "Recovery fuzzing"). Bytes
// become a 2 MiB cache image (fuzz_image.h); the core's recovery and the
// logic of `wbctl check` are held against an independent reading of
// FORMAT.md (reference_replay.h), then a volume is opened on the image and
// a known origin, read, written with FUA, closed, reopened and read again
// (volume_check.h). Any disagreement aborts, naming a finding id
// (finding.h); WB_FUZZ_TOLERATE=id,... sets chosen ids aside instead.
//
// Built two ways: with libFuzzer (recovery_fuzz, clang) and with the plain
// driver in fuzz_driver.cc (recovery_fuzz_replay, the ctest run).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "tests/crash/buffer_device.h"
#include "tests/fuzz/compare_recovery.h"
#include "tests/fuzz/fuzz_image.h"
#include "tests/fuzz/reference_replay.h"
#include "tests/fuzz/volume_check.h"

namespace wb::fuzz {
namespace {

const absl::flat_hash_set<std::string>& Tolerated() {
  static const auto* ids = [] {
    auto* set = new absl::flat_hash_set<std::string>();
    if (const char* env = std::getenv("WB_FUZZ_TOLERATE")) {
      for (absl::string_view id : absl::StrSplit(env, ',', absl::SkipEmpty())) {
        set->insert(std::string(id));
      }
    }
    return set;
  }();
  return *ids;
}

// A hash that is the same in every process, so that a replay repeats.
uint64_t Fnv1a(const uint8_t* data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

Outcome Run(const uint8_t* data, size_t size) {
  static std::string image;  // kept: see volume_check.cc
  DecodeImage(data, size, &image);
  const RefReplay ref = ReferenceReplay(image);
  const uint8_t flags = InputFlags(data, size);
  {
    crash::BufferDevice cache(&image, "fuzz-cache",
                              (flags & kBigSectors) ? 4096 : 512);
    FUZZ_RETURN_IF_FINDING(CompareRecovery(cache, ref));
  }
  return CheckVolume(image, ref, flags, Fnv1a(data, size));
}

}  // namespace
}  // namespace wb::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wb::fuzz::Outcome finding = wb::fuzz::Run(data, size);
  if (!finding) return 0;
  if (!wb::fuzz::Tolerated().contains(finding->id)) {
    std::fprintf(stderr, "recovery_fuzz: finding [%s]: %s\n",
                 finding->id.c_str(), finding->message.c_str());
    std::abort();
  }
  // Said once per id, so that a run shows what it set aside.
  static auto* seen = new absl::flat_hash_set<std::string>();
  if (seen->insert(finding->id).second) {
    std::fprintf(stderr, "recovery_fuzz: tolerated finding [%s]: %s\n",
                 finding->id.c_str(), finding->message.c_str());
  }
  return 0;
}
