// Little-endian fixed-width encoding of on-disk integers (docs/FORMAT.md:
// every integer on disk is little-endian).
#ifndef WRITEBOOST_CORE_UTIL_CODING_H_
#define WRITEBOOST_CORE_UTIL_CODING_H_

#include <bit>
#include <cstdint>
#include <cstring>

namespace wb {

static_assert(std::endian::native == std::endian::little,
              "writeboost's on-disk coding assumes a little-endian host");

inline void PutFixed16(char* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void PutFixed32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void PutFixed64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }

inline uint16_t GetFixed16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t GetFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t GetFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace wb

#endif  // WRITEBOOST_CORE_UTIL_CODING_H_
