// The recovery fuzzer's input format: bytes that describe a small cache
// image, and the fixed machine the image is recovered on.
//
// Input:
//   byte 0   flags (kFix*, kBigSectors)
//   then records, each
//     u16  block: cache blocks 0, 1, 2 are 0, 1, 2; ring block r is 3 + r
//          (taken modulo kImageBlocks, so every value names a block)
//     u16  length in bytes (low 13 bits, at most 4096) | kRepeat
//     ...  that many bytes (fewer if the input ends first)
//   Without kRepeat the block is the bytes followed by zeroes; with it the
//   bytes are repeated to fill the block (zero length: a zero block). A
//   later record for the same block replaces an earlier one.
// The reserved blocks between the progress records and the ring are left
// out: they are zero. Only non-zero blocks need a record, so a mostly empty
// 2 MiB cache is a few hundred bytes of input.
//
// The fix flags recompute checksums after decoding, so that a mutated field
// reaches the rule behind its checksum instead of failing the crc. They fix
// what a block claims to be (any block with the segment magic is fixed as a
// segment header), whatever the rest of the image says.
#ifndef WRITEBOOST_TESTS_FUZZ_FUZZ_IMAGE_H_
#define WRITEBOOST_TESTS_FUZZ_FUZZ_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace wb::fuzz {

// The machine: a 2 MiB cache (256 ring blocks) in front of a 1 MiB origin.
inline constexpr uint64_t kCacheSize = 2 << 20;
inline constexpr uint64_t kOriginSize = 1 << 20;
inline constexpr char kOriginIdentity[] = "uuid:fuzz-origin";
inline constexpr uint64_t kRingStart = 256;                       // blocks
inline constexpr uint64_t kRingBlocks = kCacheSize / 4096 - kRingStart;
inline constexpr uint64_t kImageBlocks = 3 + kRingBlocks;         // encoded

// Flag bits (byte 0).
inline constexpr uint8_t kFixSuperblockCrc = 1 << 0;
inline constexpr uint8_t kFixProgressCrc = 1 << 1;
inline constexpr uint8_t kFixSegmentCrc = 1 << 2;  // header + entries
inline constexpr uint8_t kFixDataCrc = 1 << 3;     // entries' data crcs, then header
inline constexpr uint8_t kBigSectors = 1 << 4;     // 4096-byte logical blocks
inline constexpr uint8_t kAllFixes =
    kFixSuperblockCrc | kFixProgressCrc | kFixSegmentCrc | kFixDataCrc;

inline constexpr uint16_t kRepeat = 0x8000;

// The input's flags byte (0 for an empty input).
uint8_t InputFlags(const uint8_t* data, size_t size);

// Decodes an input into *image (resized to kCacheSize) and applies its fix
// flags. Every input decodes to some image.
void DecodeImage(const uint8_t* data, size_t size, std::string* image);

// Encodes a kCacheSize image as an input with the given flags: one record
// per non-zero block of blocks 0-2 and the ring, in the shorter of the two
// forms. Blocks 3-255 must be zero. DecodeImage(EncodeImage(x)) == x when
// flags fix nothing.
std::string EncodeImage(const std::string& image, uint8_t flags);

// The origin every input is recovered on: each 512-byte sector names
// itself, so that a read from the wrong place never passes.
std::string OriginImage();

}  // namespace wb::fuzz

#endif  // WRITEBOOST_TESTS_FUZZ_FUZZ_IMAGE_H_
