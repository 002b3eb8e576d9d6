#include "server/core/volume.h"

#include <cstring>
#include <string>

#include "absl/random/random.h"
#include "gtest/gtest.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"

namespace wb {
namespace {

constexpr uint64_t kCacheSize = 8 << 20;
constexpr uint64_t kOriginSize = 4 << 20;

class VolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = std::make_unique<MemDevice>(kCacheSize, 512, "cache");
    origin_ = std::make_unique<MemDevice>(kOriginSize, 512, "origin");
    FormatOptions fo;
    fo.segment_size = 64 * 1024;
    fo.origin_identity = "test-origin";
    ASSERT_TRUE(FormatCache(*cache_, *origin_, fo).ok());
  }

  std::unique_ptr<Volume> OpenVolume(OpenOptions oo = {}) {
    oo.origin_identity = "test-origin";
    oo.rambuf_size = 256 * 1024;
    auto v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                          std::make_unique<DeviceRef>(origin_.get()), oo);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::move(*v) : nullptr;
  }

  std::unique_ptr<MemDevice> cache_;
  std::unique_ptr<MemDevice> origin_;
};

// Index of the first differing byte, or -1; keeps failure output short.
long FirstDiff(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i] != b[i]) return static_cast<long>(i);
  }
  return -1;
}

std::string Pattern(size_t n, char seed) {
  std::string s(n, 0);
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>(seed + i * 7 + i / 512);
  return s;
}

TEST_F(VolumeTest, WriteThenReadBack) {
  auto v = OpenVolume();
  std::string data = Pattern(12288, 'a');
  ASSERT_TRUE(v->Write(4096, data, false).ok());
  std::string out(12288, 0);
  ASSERT_TRUE(v->Read(4096, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, data);
}

TEST_F(VolumeTest, PartialSectorOverwriteKeepsOlderSectors) {
  auto v = OpenVolume();
  std::string full = Pattern(4096, 'x');
  ASSERT_TRUE(v->Write(0, full, false).ok());
  ASSERT_TRUE(v->Flush().ok());  // older copy now on the cache device
  std::string part = Pattern(1024, 'q');
  ASSERT_TRUE(v->Write(1024, part, false).ok());
  std::string expect = full;
  expect.replace(1024, 1024, part);
  std::string out(4096, 0);
  ASSERT_TRUE(v->Read(0, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, expect);
}

TEST_F(VolumeTest, MisalignedAndOutOfRangeAreRefused) {
  auto v = OpenVolume();
  std::string data(512, 'z');
  EXPECT_EQ(v->Write(100, data, false).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v->Write(kOriginSize, data, false).code(), absl::StatusCode::kOutOfRange);
  std::string out(1000, 0);
  EXPECT_EQ(v->Read(0, absl::MakeSpan(out)).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(VolumeTest, FlushedDataSurvivesReopen) {
  std::string data = Pattern(65536, 'r');
  {
    auto v = OpenVolume(OpenOptions{.enable_writeback = false});
    ASSERT_TRUE(v->Write(8192, data, true).ok());
    ASSERT_TRUE(v->Close().ok());
  }
  auto v = OpenVolume();
  std::string out(data.size(), 0);
  ASSERT_TRUE(v->Read(8192, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, data);
}

TEST_F(VolumeTest, DropCachesWritesEverythingToTheOrigin) {
  auto v = OpenVolume();
  std::string data = Pattern(100 * 4096, 'd');
  ASSERT_TRUE(v->Write(0, data, false).ok());
  ASSERT_TRUE(v->DropCaches(nullptr).ok());
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 0u);
  std::string img = origin_->Image();
  EXPECT_EQ(img.substr(0, data.size()), data);
}

TEST_F(VolumeTest, WrongOriginIsRefused) {
  OpenOptions oo;
  oo.origin_identity = "another-origin";
  auto v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                        std::make_unique<DeviceRef>(origin_.get()), oo);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(v.status().message().find("wrong origin"), std::string::npos);
  auto other = std::make_unique<MemDevice>(kOriginSize * 2, 512, "bigger");
  oo.origin_identity = "test-origin";
  v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()), std::move(other), oo);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(VolumeTest, UnformattedCacheIsRefused) {
  auto blank = std::make_unique<MemDevice>(kCacheSize, 512, "blank");
  OpenOptions oo;
  oo.origin_identity = "test-origin";
  auto v = Volume::Open(std::move(blank), std::make_unique<DeviceRef>(origin_.get()), oo);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("not a writeboost cache"), std::string::npos);
}

// Thousands of mixed operations against a trivial model: the volume must
// always read back exactly what the model holds, across log wrap-around,
// writeback and reopen.
TEST_F(VolumeTest, RandomizedAgainstModel) {
  std::string model(kOriginSize, 0);
  absl::BitGen rng;
  OpenOptions oo;
  oo.enable_writeback = getenv("WB_NOWB") == nullptr;
  auto v = OpenVolume(oo);
  for (int op = 0; op < 6000; op++) {
    int kind = absl::Uniform(rng, 0, 100);
    uint64_t sectors = absl::Uniform<uint64_t>(rng, 1, 65);
    uint64_t off = absl::Uniform<uint64_t>(rng, 0, kOriginSize / 512 - sectors) * 512;
    // Concentrate on a hot region half the time to force overwrites.
    if (absl::Bernoulli(rng, 0.5)) off %= 256 * 1024;
    uint64_t len = sectors * 512;
    if (kind < 55) {
      std::string d = Pattern(len, static_cast<char>(op));
      bool fua = absl::Bernoulli(rng, 0.05);
      ASSERT_TRUE(v->Write(off, d, fua).ok()) << op;
      model.replace(off, len, d);
    } else if (kind < 95) {
      std::string out(len, 0);
      ASSERT_TRUE(v->Read(off, absl::MakeSpan(out)).ok()) << op;
      ASSERT_EQ(FirstDiff(out, model.substr(off, len)), -1)
          << "op " << op << " off " << off << " len " << len;
    } else if (kind < 98) {
      ASSERT_TRUE(v->Flush().ok());
    } else if (kind < 99) {
      ASSERT_TRUE(v->Close().ok());
      v = OpenVolume(oo);
    } else {
      ASSERT_TRUE(v->WriteZeroes(off, len, false).ok());
      model.replace(off, len, std::string(len, 0));
    }
  }
  std::string all(kOriginSize, 0);
  ASSERT_TRUE(v->Read(0, absl::MakeSpan(all)).ok());
  EXPECT_EQ(FirstDiff(all, model), -1);
  ASSERT_TRUE(v->DropCaches(nullptr).ok());
  EXPECT_EQ(FirstDiff(origin_->Image(), model), -1);
}

}  // namespace
}  // namespace wb

namespace wb {
namespace {

// Restart is bounded only if headers carry a recent durable_through, so the
// flusher flushes the device on its own every few segments.
TEST_F(VolumeTest, FlushesInTheBackgroundWithoutWaiters) {
  auto v = OpenVolume(OpenOptions{.enable_writeback = false});
  std::string block(4096, 'b');
  for (int i = 0; i < 200; i++) {
    ASSERT_TRUE(v->Write(uint64_t(i) * 4096, block, false).ok());
  }
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (v->GetStatus().last_flushed_id < 8 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(v->GetStatus().last_flushed_id, 8u);
}

// sync_data_interval=0: no timer seals a partial buffer, writeback's
// one-second cut of an aged epoch included; a Flush still does.
TEST_F(VolumeTest, SyncDataIntervalZeroLeavesPartialBufferOpen) {
  auto v = OpenVolume();
  ASSERT_TRUE(v->SetTunable("sync_data_interval", 0).ok());
  ASSERT_TRUE(v->Write(0, std::string(4096, 'p'), false).ok());
  absl::SleepFor(absl::Milliseconds(2500));
  VolumeStatus st = v->GetStatus();
  EXPECT_EQ(st.nr_partial_flushed, 0u);
  EXPECT_EQ(st.last_writeback_id, 0u);
  ASSERT_TRUE(v->Flush().ok());
  EXPECT_EQ(v->GetStatus().nr_partial_flushed, 1u);
}

}  // namespace
}  // namespace wb
