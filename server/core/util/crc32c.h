// crc32c (Castagnoli), the checksum of every on-disk structure.
// Backed by ISA-L's crc32_iscsi, which uses the SSE4.2/PCLMUL instructions.
#ifndef WRITEBOOST_CORE_UTIL_CRC32C_H_
#define WRITEBOOST_CORE_UTIL_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace wb {

// Standard crc32c of data[0, n): initial value ~0, final complement.
// crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(const void* data, size_t n);

// Continues a crc32c: Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

}  // namespace wb

#endif  // WRITEBOOST_CORE_UTIL_CRC32C_H_
