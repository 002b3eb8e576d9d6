// Compatibility fixtures (tests/compat/fixtures/<name>/): cache images
// written by an earlier writeboost, their origin, and a MANIFEST of what
// the volume must hold once the log is replayed.
//
// MANIFEST lines (# starts a comment):
//   layout single|stripe|mirror
//   origin_identity <text>
//   origin_size <bytes>
//   cache <file>            one per cache device, in member order
//   origin <file>
//   range <offset> <length> seed <n>          bytes PatternByte(n, offset)
//   range <offset> <length> zero              zeroes
//   range <offset> <length> zero-or-seed <n>  trimmed: zeroes or seed n
// Image files are gzip-compressed.
#ifndef WRITEBOOST_TESTS_COMPAT_FIXTURE_H_
#define WRITEBOOST_TESTS_COMPAT_FIXTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace wb::compat {

// The byte a fixture's writer put at volume offset off with seed n. Seed 1
// is the origin's content before anything was written.
inline uint8_t PatternByte(uint32_t seed, uint64_t off) {
  return static_cast<uint8_t>((off >> 9) * 29 + (off & 511) * 3 + seed * 101 +
                              1);
}

struct ExpectedRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  enum Kind { kSeed, kZero, kZeroOrSeed } kind = kSeed;
  uint32_t seed = 0;
};

struct Manifest {
  std::string layout;
  std::string origin_identity;
  uint64_t origin_size = 0;
  std::vector<std::string> caches;
  std::string origin;
  std::vector<ExpectedRange> ranges;
};

absl::StatusOr<Manifest> ReadManifest(const std::string& path);

// Decompresses the gzip file src into dst.
absl::Status Gunzip(const std::string& src, const std::string& dst);

// "" when data (volume bytes at r.offset) meets r, else what is wrong.
std::string CheckRange(const ExpectedRange& r, const std::string& data);

}  // namespace wb::compat

#endif  // WRITEBOOST_TESTS_COMPAT_FIXTURE_H_
