// The log fills: writers wait while writeback frees space, and fail with a
// clear UNAVAILABLE only when writeback makes no progress for io_timeout.
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/fault_device.h"
#include "server/core/device/mem_device.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kCacheSize = 2 << 20;  // ring of 256 blocks
constexpr uint64_t kOriginSize = 16 << 20;

class LogFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = std::make_unique<MemDevice>(kCacheSize);
    origin_ = std::make_unique<MemDevice>(kOriginSize);
    faulty_origin_ = std::make_unique<FaultDevice>(origin_.get());
    FormatOptions fo;
    fo.segment_size = 64 * 1024;
    fo.origin_identity = "o";
    fo.tunables.writeback_threshold = 0;  // write back only when urgent
    ASSERT_TRUE(FormatCache(*cache_, *origin_, fo).ok());
  }
  std::unique_ptr<Volume> Open(absl::Duration io_timeout) {
    OpenOptions oo;
    oo.origin_identity = "o";
    oo.rambuf_size = 128 * 1024;
    oo.io_timeout = io_timeout;
    auto v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                          std::make_unique<DeviceRef>(faulty_origin_.get()), oo);
    EXPECT_TRUE(v.ok()) << v.status();
    return std::move(*v);
  }
  std::unique_ptr<MemDevice> cache_, origin_;
  std::unique_ptr<FaultDevice> faulty_origin_;
};

TEST_F(LogFullTest, WritersWaitForWritebackAndNothingIsLost) {
  auto v = Open(absl::Seconds(30));
  EXPECT_EQ(v->GetStatus().log_full_waits, 0u);
  const uint64_t ring = v->GetStatus().ring_blocks * 4096;
  std::string data(kOriginSize, 0);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<char>(i * 13 + i / 4096);
  // Eight times the ring: impossible without writeback freeing space.
  for (uint64_t done = 0; done < 8 * ring; done += 4096) {
    uint64_t off = (done * 7) % kOriginSize / 4096 * 4096;
    ASSERT_TRUE(v->Write(off, {data.data() + off, 4096}, false).ok()) << done;
  }
  VolumeStatus st = v->GetStatus();
  EXPECT_GT(st.writeback_batches, 0u);
  EXPECT_GT(st.writeback_bytes, 0u);
  ASSERT_TRUE(v->DropCaches(nullptr).ok());
  // Every block written is on the origin; the rest is still zero.
  std::string img = origin_->Image();
  for (uint64_t done = 0; done < 8 * ring; done += 4096) {
    uint64_t off = (done * 7) % kOriginSize / 4096 * 4096;
    ASSERT_EQ(img.compare(off, 4096, data, off, 4096), 0) << off;
  }
}

TEST_F(LogFullTest, DeadOriginFailsWritersAfterIoTimeoutWithoutLosingData) {
  auto v = Open(absl::Seconds(2));
  faulty_origin_->FailAlways(FaultOp::kWrite);
  std::string block(4096, 'k');
  absl::Status last;
  uint64_t accepted = 0;
  absl::Time start = absl::Now();
  for (int i = 0; i < 4096 && last.ok(); i++) {
    last = v->Write(uint64_t(i) * 4096, block, false);
    if (last.ok()) accepted++;
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable) << last;
  EXPECT_NE(last.message().find("no progress"), std::string::npos) << last;
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  VolumeStatus st = v->GetStatus();
  EXPECT_GT(st.origin_errors, 0u);
  EXPECT_FALSE(st.last_origin_error.empty());
  EXPECT_FALSE(st.failed);  // origin trouble never fails the volume
  EXPECT_GT(st.log_full_waits, 0u);  // the last write waited for ring space
  // Acknowledged data is still readable and, once the origin heals, drains.
  std::string out(4096, 0);
  ASSERT_TRUE(v->Read(0, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, block);
  faulty_origin_->ClearFaults();
  ASSERT_TRUE(v->DropCaches(nullptr).ok());
  std::string img = origin_->Image();
  for (uint64_t i = 0; i < accepted; i++) {
    ASSERT_EQ(img.compare(i * 4096, 4096, block), 0) << i;
  }
}

TEST_F(LogFullTest, CacheWriteFailureFailsTheVolumeClearly) {
  FaultDevice faulty_cache(cache_.get());
  OpenOptions oo;
  oo.origin_identity = "o";
  oo.rambuf_size = 128 * 1024;
  auto v = Volume::Open(std::make_unique<DeviceRef>(&faulty_cache),
                        std::make_unique<DeviceRef>(origin_.get()), oo);
  ASSERT_TRUE(v.ok());
  std::string block(4096, 'a');
  ASSERT_TRUE((*v)->Write(0, block, true).ok());
  faulty_cache.FailAlways(FaultOp::kWrite);
  absl::Status s = (*v)->Write(4096, block, true);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE((*v)->GetStatus().failed);
  EXPECT_NE((*v)->GetStatus().failure.find("injected"), std::string::npos);
  // New writes are refused; nothing is retried into a false success.
  faulty_cache.ClearFaults();
  EXPECT_FALSE((*v)->Write(8192, block, false).ok());
  EXPECT_FALSE((*v)->Flush().ok());
  std::string out(4096, 0);
  ASSERT_TRUE((*v)->Read(0, absl::MakeSpan(out)).ok());
  EXPECT_EQ(out, block);
}

// Once the ring passes 75% full, urgent writeback carries on until it is
// back under 50%, even with autonomous writeback off (hysteresis).
TEST_F(LogFullTest, UrgentWritebackRunsDownToHalfFull) {
  auto v = Open(absl::Seconds(30));
  // Small batches, so that stopping at 75% would leave the ring well above
  // half full.
  ASSERT_TRUE(v->SetTunable("nr_max_batched_writeback", 1).ok());
  const uint64_t ring_blocks = v->GetStatus().ring_blocks;
  std::string block(4096, 'h');
  uint64_t off = 0;
  // 60 KiB, then a Flush: each round leaves one whole segment on the ring.
  while (v->GetStatus().free_blocks * 4 >= ring_blocks) {
    ASSERT_LT(off, kOriginSize) << "the ring never filled past 75%";
    for (int i = 0; i < 15; i++, off += 4096) {
      ASSERT_TRUE(v->Write(off, block, false).ok());
    }
    ASSERT_TRUE(v->Flush().ok());
  }
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  VolumeStatus st = v->GetStatus();
  while (st.free_blocks * 2 <= ring_blocks && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    st = v->GetStatus();
  }
  EXPECT_GT(st.free_blocks * 2, ring_blocks)
      << "writeback stopped with " << st.free_blocks << " of " << ring_blocks
      << " ring blocks free; dirty " << st.nr_dirty_cache_blocks << " wb id " << st.last_writeback_id << " cur " << st.current_id << " batches " << st.writeback_batches;
  // And it stops there: autonomous writeback is off, so data stays dirty.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_GT(v->GetStatus().nr_dirty_cache_blocks, 0u);
}

}  // namespace
}  // namespace wb
