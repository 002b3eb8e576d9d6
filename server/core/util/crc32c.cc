#include "server/core/util/crc32c.h"

#include <isa-l/crc.h>

namespace wb {

// ISA-L's crc32_iscsi neither inverts its seed nor its result, so the
// standard pre- and post-complement are applied here (the ancestor once
// shipped a crc without its final complement).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  return ~crc32_iscsi(static_cast<unsigned char*>(const_cast<void*>(data)),
                      static_cast<int>(n), ~crc);
}

uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

}  // namespace wb
