// An origin whose size is not a multiple of 4 KiB ends in a partial block.
// Its sectors past the origin's end are outside every mask, and sectors
// outside a mask are zero in the log (docs/FORMAT.md), even when a write
// covers all of the block's valid sectors and lands in a RAM buffer slot
// that held another block's data before.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/format/layout.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kTailSectors = 3;
constexpr uint64_t kOriginSize = (4 << 20) + kTailSectors * 512;

TEST(TailBlockTest, SectorsPastTheOriginsEndAreZeroInTheLog) {
  MemDevice cache(8 << 20, 512, "cache");
  MemDevice origin(kOriginSize, 512, "origin");
  FormatOptions fo;
  fo.segment_size = 64 * 1024;  // one metadata block, then the data
  fo.origin_identity = "o";
  fo.tunables.writeback_threshold = 0;  // the log keeps everything
  ASSERT_TRUE(FormatCache(cache, origin, fo).ok());
  OpenOptions oo;
  oo.origin_identity = "o";
  oo.rambuf_size = 256 * 1024;
  auto v = Volume::Open(std::make_unique<DeviceRef>(&cache),
                        std::make_unique<DeviceRef>(&origin), oo);
  ASSERT_TRUE(v.ok()) << v.status();

  // Every slot of the RAM buffers used so far holds other data; the next
  // segment recycles one of them.
  const std::string junk(1 << 20, 'x');
  ASSERT_TRUE((*v)->Write(0, junk, false).ok());
  ASSERT_TRUE((*v)->Flush().ok());
  const uint64_t pos = (*v)->GetStatus().cursor_pos;  // the next segment's

  // All the valid sectors of the tail block: a "full" block for the volume.
  const uint64_t tail_block = kOriginSize / kBlockSize;
  const std::string tail(kTailSectors * 512, 't');
  ASSERT_TRUE((*v)->Write(tail_block * kBlockSize, tail, false).ok());
  ASSERT_TRUE((*v)->Flush().ok());

  // The segment's first data block, as written to the cache device.
  AlignedBuffer got(kBlockSize);
  ASSERT_TRUE(cache.Read(Geometry::RingOffset(pos + 1), got.data(), kBlockSize).ok());
  ASSERT_TRUE(std::string(got.data(), tail.size()) == tail) << "not the tail block";
  size_t nonzero = 0;
  for (size_t i = tail.size(); i < kBlockSize; i++) nonzero += got.data()[i] != 0;
  EXPECT_EQ(nonzero, 0u) << "bytes past the origin's end carry a recycled slot's data";
  ASSERT_TRUE((*v)->Close().ok());
}

}  // namespace
}  // namespace wb
