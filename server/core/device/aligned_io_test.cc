#include "server/core/device/aligned_io.h"

#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/core/device/crash_device.h"
#include "server/core/device/fault_device.h"
#include "server/core/device/mem_device.h"

namespace wb {
namespace {

std::string Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(AlignedBufferTest, AlignedZeroedMovable) {
  AlignedBuffer a(10000);
  ASSERT_NE(a.data(), nullptr);
  EXPECT_TRUE(IsIoAligned(a.data()));
  EXPECT_EQ(a.size(), 10000u);
  EXPECT_EQ(std::string(a.data(), a.size()), std::string(10000, '\0'));
  a.data()[9999] = 'z';

  AlignedBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.size(), 10000u);
  EXPECT_EQ(b.data()[9999], 'z');

  AlignedBuffer c(4096);
  c = std::move(b);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(c.data()[9999], 'z');

  AlignedBuffer empty;
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);
}

class AlignedIoTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(AlignedIoTest, ReadAnyUnalignedBufferAndRange) {
  const uint32_t lbs = GetParam();
  const std::string image = Pattern(4 << 20, 1);
  auto dev = MemDevice::FromImage(image, lbs);
  std::vector<char> out(3 << 20);
  // Odd buffer address, 512-aligned but not lbs-aligned range, spanning
  // several bounce chunks.
  char* p = out.data() + 3;
  const uint64_t offset = 512 * 7;
  const uint64_t len = (2 << 20) + 512 * 5;
  ASSERT_TRUE(ReadAny(*dev, offset, p, len).ok());
  EXPECT_EQ(std::string(p, len), image.substr(offset, len));

  // The last sector of the device.
  ASSERT_TRUE(ReadAny(*dev, image.size() - 512, p, 512).ok());
  EXPECT_EQ(std::string(p, 512), image.substr(image.size() - 512));
}

TEST_P(AlignedIoTest, WriteSectorsMatchesModel) {
  const uint32_t lbs = GetParam();
  const uint64_t size = 256 * 1024;
  std::string model = Pattern(size, 2);
  auto dev = MemDevice::FromImage(model, lbs);
  std::mt19937 rng(3);
  std::vector<char> src(size + 16);
  for (int i = 0; i < 300; ++i) {
    const uint64_t sectors = size / 512;
    const uint64_t first = rng() % sectors;
    const uint64_t count = 1 + rng() % std::min<uint64_t>(40, sectors - first);
    const std::string data = Pattern(count * 512, 100 + i);
    char* p = src.data() + rng() % 16;  // Usually unaligned.
    std::memcpy(p, data.data(), data.size());
    ASSERT_TRUE(WriteSectors(*dev, first * 512, p, data.size()).ok());
    model.replace(first * 512, data.size(), data);
  }
  EXPECT_TRUE(dev->Image() == model);
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, AlignedIoTest,
                         ::testing::Values(512u, 4096u));

TEST(AlignedIoTest, WriteSectorsDirectWhenAligned) {
  CrashDevice dev(1 << 20);
  AlignedBuffer buf(8192);
  std::memset(buf.data(), 'q', buf.size());
  ASSERT_TRUE(WriteSectors(dev, 4096, buf.data(), 8192).ok());
  EXPECT_EQ(dev.writes(), 1u);
  // Unaligned source, aligned range: bounced, still whole writes.
  std::vector<char> v(8192 + 1, 'r');
  ASSERT_TRUE(WriteSectors(dev, 4096, v.data() + 1, 8192).ok());
  EXPECT_EQ(dev.writes(), 2u);
  EXPECT_EQ(dev.Image().substr(4096, 8192), std::string(8192, 'r'));
}

TEST(AlignedIoTest, ReadModifyWriteKeepsNeighbours) {
  CrashDeviceOptions opts;
  opts.logical_block_size = 4096;
  auto dev = CrashDevice::FromImage(std::string(16384, 'o'), opts);
  const std::string data(512, 'n');
  ASSERT_TRUE(WriteSectors(*dev, 4096 + 1536, data.data(), 512).ok());
  EXPECT_EQ(dev->writes(), 1u);  // One block rewritten.
  std::string want(16384, 'o');
  want.replace(4096 + 1536, 512, data);
  EXPECT_EQ(dev->Image(), want);
}

TEST(AlignedIoTest, RejectsBadRanges) {
  MemDevice dev(1 << 16, 4096);
  char buf[1024];
  EXPECT_EQ(ReadAny(dev, 100, buf, 512).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadAny(dev, 0, buf, 100).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteSectors(dev, (1 << 16) - 512, buf, 1024).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(ReadAny(dev, 512, buf, 0).ok());
}

TEST(AlignedIoTest, ReadErrorStopsReadModifyWrite) {
  MemDevice mem(1 << 16, 4096);
  FaultDevice dev(&mem);
  dev.FailNext(FaultOp::kRead);
  const std::string data(512, 'x');
  absl::Status s = WriteSectors(dev, 512, data.data(), 512);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(mem.Image(), std::string(1 << 16, '\0'));  // Nothing written.
  EXPECT_TRUE(WriteSectors(dev, 512, data.data(), 512).ok());
  EXPECT_EQ(mem.Image().substr(512, 512), data);
}

}  // namespace
}  // namespace wb
