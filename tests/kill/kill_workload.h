// The write stream of the process-kill test, shared by the writer (which
// issues it) and the driver (which checks what survived). Write number i of
// cycle c has sequence number c * kCycleSpan + i, and both its range and its
// data are functions of that number alone, so the driver can recompute the
// whole history from the few numbers the writer printed.
#ifndef WRITEBOOST_TESTS_KILL_KILL_WORKLOAD_H_
#define WRITEBOOST_TESTS_KILL_KILL_WORKLOAD_H_

#include <cstdint>

namespace wb::kill {

inline constexpr uint64_t kCacheBytes = 16 << 20;
inline constexpr uint64_t kOriginBytes = 4 << 20;
inline constexpr uint32_t kSegmentBytes = 128 << 10;
inline constexpr uint64_t kCycleSpan = 1'000'000'000;
inline constexpr char kCacheFile[] = "cache.img";
inline constexpr char kOriginFile[] = "origin.img";

struct KillWrite {
  uint64_t first;  // sector
  uint64_t count;  // sectors
  bool fua;
};

inline KillWrite WriteOf(uint64_t seq) {
  uint64_t h = seq * 0x9e3779b97f4a7c15ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  const uint64_t sectors = kOriginBytes / 512;
  KillWrite w;
  w.count = 1 + h % 64;  // up to 32 KiB, any sector alignment
  w.first = (h >> 8) % (sectors - w.count);
  if ((h >> 40) & 1) w.first %= sectors / 8;  // a hot eighth: overwrites
  w.fua = (h >> 48) % 16 == 0;
  return w;
}

}  // namespace wb::kill

#endif  // WRITEBOOST_TESTS_KILL_KILL_WORKLOAD_H_
