#include "server/core/util/uuid.h"

#include "absl/random/random.h"
#include "absl/strings/str_format.h"

namespace wb {

Uuid NewUuid() {
  absl::BitGen gen;
  Uuid u;
  for (auto& b : u) b = absl::Uniform<uint8_t>(gen);
  u[6] = (u[6] & 0x0f) | 0x40;  // version 4
  u[8] = (u[8] & 0x3f) | 0x80;  // RFC 4122 variant
  return u;
}

std::string UuidToString(const Uuid& u) {
  std::string s;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    absl::StrAppendFormat(&s, "%02x", u[i]);
  }
  return s;
}

}  // namespace wb
