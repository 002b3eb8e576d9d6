// write_around_mode: writes bypass the log once nothing is dirty, keep the
// block contract (FUA and Flush reach the origin's durable image), and fall
// back to the log whenever going around could reorder the origin.
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/core/device/crash_device.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kCacheSize = 8 << 20;
constexpr uint64_t kOriginSize = 4 << 20;

std::string Pattern(size_t n, char seed) {
  std::string s(n, 0);
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>(seed + i * 7 + i / 512);
  return s;
}

class WriteAroundTest : public ::testing::Test {
 protected:
  void Format(uint32_t origin_block_size = 512) {
    cache_ = std::make_unique<MemDevice>(kCacheSize, 512, "cache");
    CrashDeviceOptions co;
    co.logical_block_size = origin_block_size;
    origin_ = std::make_unique<CrashDevice>(kOriginSize, co);
    FormatOptions fo;
    fo.segment_size = 64 * 1024;
    fo.origin_identity = "o";
    fo.tunables.writeback_threshold = 0;  // no writeback unless asked
    ASSERT_TRUE(FormatCache(*cache_, *origin_, fo).ok());
  }
  std::unique_ptr<Volume> Open() {
    OpenOptions oo;
    oo.origin_identity = "o";
    oo.rambuf_size = 256 * 1024;
    auto v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                          std::make_unique<DeviceRef>(origin_.get()), oo);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::move(*v) : nullptr;
  }
  std::string OriginAt(uint64_t offset, size_t n) const {
    return origin_->Image().substr(offset, n);
  }
  std::unique_ptr<MemDevice> cache_;
  std::unique_ptr<CrashDevice> origin_;
};

TEST_F(WriteAroundTest, SwitchingOnDrainsThenWritesGoToTheOrigin) {
  Format();
  auto v = Open();
  std::string a = Pattern(8192, 'a');
  ASSERT_TRUE(v->Write(0, a, false).ok());
  EXPECT_GT(v->GetStatus().nr_dirty_cache_blocks, 0u);
  EXPECT_NE(OriginAt(0, a.size()), a);  // only in the cache so far

  ASSERT_TRUE(v->SetTunable("write_around_mode", 1).ok());
  VolumeStatus st = v->GetStatus();
  EXPECT_EQ(st.nr_dirty_cache_blocks, 0u);  // drained before returning
  EXPECT_EQ(OriginAt(0, a.size()), a);
  const uint64_t segments = st.current_id;

  std::string b = Pattern(12288, 'b');
  ASSERT_TRUE(v->Write(65536, b, false).ok());
  EXPECT_EQ(OriginAt(65536, b.size()), b);  // on the origin at once
  st = v->GetStatus();
  EXPECT_EQ(st.nr_dirty_cache_blocks, 0u);
  EXPECT_EQ(st.current_id, segments);  // no log segment written for it
  std::string out(b.size(), 0);
  ASSERT_TRUE(v->Read(65536, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, b);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(WriteAroundTest, FuaAndFlushMakeWritesDurableOnTheOrigin) {
  Format();
  auto v = Open();
  ASSERT_TRUE(v->SetTunable("write_around_mode", 1).ok());
  std::string fua = Pattern(4096, 'f');
  std::string plain = Pattern(4096, 'p');
  ASSERT_TRUE(v->Write(0, fua, /*fua=*/true).ok());
  ASSERT_TRUE(v->Write(8192, plain, false).ok());
  // Before the Flush only the FUA write is certain to survive a power cut.
  EXPECT_EQ(origin_->DurableImage().substr(0, 4096), fua);
  EXPECT_NE(origin_->DurableImage().substr(8192, 4096), plain);
  ASSERT_TRUE(v->Flush().ok());
  EXPECT_EQ(origin_->DurableImage().substr(8192, 4096), plain);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(WriteAroundTest, WritesSmallerThanTheOriginsBlocksUseTheLogUntilDrained) {
  Format(/*origin_block_size=*/4096);
  auto v = Open();
  ASSERT_TRUE(v->SetTunable("write_around_mode", 1).ok());
  // 512 bytes into a 4 KiB-sector origin: a read-modify-write there would
  // race other writes to the block, so the log takes it.
  std::string small = Pattern(512, 's');
  ASSERT_TRUE(v->Write(1024, small, false).ok());
  // While it is dirty, an aligned write takes the log too: going around
  // would put it on the origin before the older dirty sector, which
  // writeback would then lay over it.
  std::string big = Pattern(4096, 'g');
  ASSERT_TRUE(v->Write(0, big, false).ok());
  // Writeback drains it by itself (writeback_threshold is 0: only because
  // write-around wants nothing dirty).
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (v->GetStatus().nr_dirty_cache_blocks != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(v->GetStatus().nr_dirty_cache_blocks, 0u);
  EXPECT_EQ(OriginAt(0, 4096), big);
  // Nothing dirty: aligned writes go around again.
  std::string next = Pattern(4096, 'n');
  ASSERT_TRUE(v->Write(32768, next, false).ok());
  EXPECT_EQ(OriginAt(32768, 4096), next);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(WriteAroundTest, SwitchingBackLogsWritesAgainAndTheModePersists) {
  Format();
  {
    auto v = Open();
    ASSERT_TRUE(v->SetTunable("write_around_mode", 1).ok());
    ASSERT_TRUE(v->Close().ok());
  }
  auto v = Open();
  EXPECT_EQ(v->GetStatus().tunables.write_around_mode, 1u);
  std::string a = Pattern(4096, 'a');
  ASSERT_TRUE(v->Write(0, a, false).ok());
  EXPECT_EQ(OriginAt(0, 4096), a);
  ASSERT_TRUE(v->SetTunable("write_around_mode", 0).ok());
  std::string b = Pattern(4096, 'b');
  ASSERT_TRUE(v->Write(0, b, false).ok());
  EXPECT_GT(v->GetStatus().nr_dirty_cache_blocks, 0u);
  EXPECT_EQ(OriginAt(0, 4096), a);  // the new value is in the cache only
  std::string out(4096, 0);
  ASSERT_TRUE(v->Read(0, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, b);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(WriteAroundTest, SequentialRunsPastTheCutoffBypassTheLogWhileNothingIsDirty) {
  Format();
  auto v = Open();
  ASSERT_TRUE(v->SetTunable("sequential_cutoff", 64 << 10).ok());
  std::string chunk = Pattern(16 << 10, 'q');
  // The first 64 KiB of the run are an ordinary write-back stream.
  for (uint64_t off = 0; off < (64 << 10); off += chunk.size()) {
    ASSERT_TRUE(v->Write(off, chunk, false).ok());
  }
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 16u);
  // Past the cutoff, but dirty data exists: the log still takes it.
  ASSERT_TRUE(v->Write(64 << 10, chunk, false).ok());
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 20u);
  ASSERT_TRUE(v->DropCaches(nullptr).ok());
  // Clean now: the run goes to the origin.
  const uint64_t segments = v->GetStatus().current_id;
  for (uint64_t off = 80 << 10; off < (160 << 10); off += chunk.size()) {
    ASSERT_TRUE(v->Write(off, chunk, false).ok());
    EXPECT_EQ(OriginAt(off, chunk.size()), chunk) << off;
  }
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 0u);
  EXPECT_EQ(v->GetStatus().current_id, segments);
  // A write elsewhere starts a new, short run: back to the log.
  std::string other = Pattern(4096, 'r');
  ASSERT_TRUE(v->Write(1 << 20, other, false).ok());
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 1u);
  std::string out(4096, 0);
  ASSERT_TRUE(v->Read(1 << 20, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, other);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(WriteAroundTest, ConcurrentWritersReadTheirLastValue) {
  Format(/*origin_block_size=*/4096);
  auto v = Open();
  ASSERT_TRUE(v->SetTunable("write_around_mode", 1).ok());
  // Each thread owns a range and mixes aligned writes (around) with
  // sector writes (log), so both paths and the drain between them race.
  constexpr int kThreads = 4;
  constexpr uint64_t kRange = 256 << 10;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::string model(kRange, 0);
      uint64_t base = t * kRange;
      uint32_t x = 12345 + t;
      for (int i = 0; i < 300 && errors[t].empty(); i++) {
        x = x * 1103515245 + 12345;
        bool sector = (x >> 8) % 4 == 0;
        uint64_t len = sector ? 512 : 4096 * (1 + (x >> 12) % 4);
        uint64_t off = ((x >> 16) % (kRange - len)) / len * len;
        std::string data = Pattern(len, static_cast<char>(i + t));
        if (absl::Status s = v->Write(base + off, data, i % 16 == 0); !s.ok()) {
          errors[t] = s.ToString();
          break;
        }
        model.replace(off, len, data);
        std::string out(len, 0);
        if (absl::Status s = v->Read(base + off, absl::MakeSpan(out)); !s.ok() ||
                                                                        out != data) {
          errors[t] = "read after write differs at " + std::to_string(base + off);
        }
      }
      std::string all(kRange, 0);
      if (errors[t].empty() &&
          (!v->Read(base, absl::MakeSpan(all)).ok() || all != model)) {
        errors[t] = "final read of the range differs";
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; t++) EXPECT_EQ(errors[t], "") << "thread " << t;
  ASSERT_TRUE(v->DropCaches(nullptr).ok());
  ASSERT_TRUE(v->Close().ok());
}

}  // namespace
}  // namespace wb
