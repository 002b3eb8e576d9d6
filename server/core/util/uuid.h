// 16-byte random identifiers for cache sets.
#ifndef WRITEBOOST_CORE_UTIL_UUID_H_
#define WRITEBOOST_CORE_UTIL_UUID_H_

#include <array>
#include <cstdint>
#include <string>

namespace wb {

using Uuid = std::array<uint8_t, 16>;

// A random version-4 UUID.
Uuid NewUuid();

// The canonical 8-4-4-4-12 lower-case hex form.
std::string UuidToString(const Uuid& u);

}  // namespace wb

#endif  // WRITEBOOST_CORE_UTIL_UUID_H_
