// WriteZeroes and Trim as ZERO and TRIM log entries: they cost the log no
// data blocks, read as zeroes, order correctly against writes in the same
// segment, survive a restart, and reach the origin at writeback as zeroes
// or (trims, where that reads back as zeroes) as discards.
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/format/layout.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kCacheSize = 4 << 20;  // a ring of 768 blocks
constexpr uint64_t kOriginSize = 16 << 20;

// An origin whose discard is counted and may not zero (like a block device
// or an NBD server): it does nothing to the data.
class CountingDiscardDevice final : public Device {
 public:
  CountingDiscardDevice(Device* inner, bool zeroes) : inner_(inner), zeroes_(zeroes) {}
  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override { return inner_->logical_block_size(); }
  std::string name() const override { return "counting"; }
  bool supports_discard() const override { return true; }
  bool discard_zeroes() const override { return zeroes_; }
  void Submit(const IoRequest& req, IoCallback done) override {
    if (req.op == IoOp::kDiscard) {
      discarded_ += req.length;
      if (!zeroes_) return std::move(done)(absl::OkStatus());
    }
    inner_->Submit(req, std::move(done));
  }
  uint64_t discarded() const { return discarded_; }

 private:
  Device* const inner_;
  const bool zeroes_;
  std::atomic<uint64_t> discarded_{0};
};

class ZeroTrimTest : public ::testing::Test {
 protected:
  void SetUp() override { Format(kCacheSize); }
  void Format(uint64_t cache_size) {
    cache_ = std::make_unique<MemDevice>(cache_size, 512, "cache");
    origin_ = std::make_unique<MemDevice>(kOriginSize, 512, "origin");
    FormatOptions fo;
    fo.segment_size = 64 * 1024;
    fo.origin_identity = "o";
    fo.tunables.writeback_threshold = 0;  // writeback only when asked
    ASSERT_TRUE(FormatCache(*cache_, *origin_, fo).ok());
    Fill(0, kOriginSize, 'o');  // the origin's old data everywhere
  }
  std::unique_ptr<Volume> Open(Device* origin = nullptr) {
    OpenOptions oo;
    oo.origin_identity = "o";
    oo.rambuf_size = 256 * 1024;
    auto v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                          std::make_unique<DeviceRef>(origin ? origin : origin_.get()), oo);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::move(*v) : nullptr;
  }
  void Fill(uint64_t offset, uint64_t n, char c) {
    AlignedBuffer buf(n);
    std::memset(buf.data(), c, n);
    ASSERT_TRUE(origin_->Write(offset, buf.data(), n).ok());
  }
  // The first byte in [offset, offset + n) of the volume that differs from
  // want, or -1.
  static int64_t FirstNot(Volume& v, uint64_t offset, uint64_t n, char want) {
    std::string out(n, 0);
    EXPECT_TRUE(v.Read(offset, absl::MakeSpan(out)).ok());
    for (uint64_t i = 0; i < n; i++) {
      if (out[i] != want) return static_cast<int64_t>(i);
    }
    return -1;
  }
  int64_t OriginFirstNot(uint64_t offset, uint64_t n, char want) {
    AlignedBuffer buf(n);
    EXPECT_TRUE(origin_->Read(offset, buf.data(), n).ok());
    for (uint64_t i = 0; i < n; i++) {
      if (buf.data()[i] != want) return static_cast<int64_t>(i);
    }
    return -1;
  }
  // Runs op on a thread of its own; false if it has not returned within a
  // generous deadline. A hang then fails the test instead of hanging the
  // binary: the stuck thread keeps the volume and the devices (leaked).
  bool ReturnsInTime(std::unique_ptr<Volume>& v, std::function<void(Volume*)> op) {
    auto done = std::make_shared<absl::Notification>();
    std::thread([raw = v.get(), op, done] {
      op(raw);
      done->Notify();
    }).detach();
    if (done->WaitForNotificationWithTimeout(absl::Seconds(60))) return true;
    static_cast<void>(v.release());
    static_cast<void>(cache_.release());
    static_cast<void>(origin_.release());
    return false;
  }
  // A cache whose ring has exactly three full segments' worth of virtual
  // ids: 64 KiB segments take 252 entries, and there is one id per ring
  // block. A large Trim seals the third segment, opens a fourth and finds
  // no id left for it.
  static constexpr uint64_t kEntriesPerSegment = 252;
  static constexpr uint64_t kBoundaryRing = 3 * kEntriesPerSegment;
  void FormatAtIdBoundary() { Format((kRingStartBlock + kBoundaryRing) * kBlockSize); }
  std::unique_ptr<MemDevice> cache_;
  std::unique_ptr<MemDevice> origin_;
};

TEST_F(ZeroTrimTest, WholeBlocksOfWriteZeroesTakeNoDataBlocksInTheLog) {
  auto v = Open();
  const uint64_t free_before = v->GetStatus().free_blocks;
  ASSERT_TRUE(v->WriteZeroes(1 << 20, 512 * 1024, false).ok());
  ASSERT_TRUE(v->Flush().ok());
  VolumeStatus st = v->GetStatus();
  EXPECT_EQ(st.zero_blocks, 128u);
  EXPECT_EQ(st.nr_dirty_cache_blocks, 128u);
  // 128 entries fit in the metadata of one or two segments: a few blocks
  // of log, not 128 (the open segment reserves one segment's worth).
  EXPECT_LT(free_before - st.free_blocks, 40u);
  EXPECT_EQ(FirstNot(*v, 1 << 20, 512 * 1024, 0), -1);
  EXPECT_EQ(FirstNot(*v, (1 << 20) - 4096, 4096, 'o'), -1);  // neighbours kept

  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  EXPECT_EQ(OriginFirstNot(1 << 20, 512 * 1024, 0), -1);
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 0u);
  EXPECT_EQ(FirstNot(*v, 1 << 20, 512 * 1024, 0), -1);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ZeroTrimTest, PartialBlocksAreZeroedAsDataAroundTheWholeOnes) {
  auto v = Open();
  ASSERT_TRUE(v->WriteZeroes(512, 3 * 4096, false).ok());
  EXPECT_EQ(v->GetStatus().zero_blocks, 2u);  // blocks 1 and 2
  EXPECT_EQ(FirstNot(*v, 0, 512, 'o'), -1);
  EXPECT_EQ(FirstNot(*v, 512, 3 * 4096, 0), -1);
  EXPECT_EQ(FirstNot(*v, 512 + 3 * 4096, 4096 - 512, 'o'), -1);
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  EXPECT_EQ(OriginFirstNot(512, 3 * 4096, 0), -1);
  EXPECT_EQ(OriginFirstNot(0, 512, 'o'), -1);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ZeroTrimTest, WritesBeforeAndAfterZeroesInOneSegmentKeepTheirOrder) {
  auto v = Open();
  std::string a(4096, 'a');
  std::string b(512, 'b');
  ASSERT_TRUE(v->Write(0, a, false).ok());        // data entry
  ASSERT_TRUE(v->WriteZeroes(0, 4096, false).ok());  // ZERO, same segment
  ASSERT_TRUE(v->Write(1024, b, false).ok());     // newer again
  std::string want(4096, 0);
  want.replace(1024, 512, b);
  auto check = [&](Volume& vol) {
    std::string out(4096, 0);
    ASSERT_TRUE(vol.Read(0, absl::MakeSpan(out)).ok());
    EXPECT_TRUE(out == want);
  };
  check(*v);
  ASSERT_TRUE(v->Close().ok());  // replay puts them back in the same order
  v = Open();
  check(*v);
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  AlignedBuffer on_origin(4096);
  ASSERT_TRUE(origin_->Read(0, on_origin.data(), 4096).ok());
  EXPECT_TRUE(std::string(on_origin.data(), 4096) == want);
  check(*v);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ZeroTrimTest, ATrimIsDiscardedOnAnOriginWhoseDiscardReadsAsZeroes) {
  CountingDiscardDevice counting(origin_.get(), /*zeroes=*/true);
  auto v = Open(&counting);
  ASSERT_TRUE(v->Trim(4096, 64 * 1024).ok());
  EXPECT_EQ(v->GetStatus().trim_blocks, 16u);
  EXPECT_EQ(FirstNot(*v, 4096, 64 * 1024, 0), -1);  // trimmed reads as zeroes
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  EXPECT_EQ(counting.discarded(), 64u * 1024);
  EXPECT_EQ(v->GetStatus().discarded_blocks, 16u);
  EXPECT_EQ(OriginFirstNot(4096, 64 * 1024, 0), -1);
  EXPECT_EQ(FirstNot(*v, 4096, 64 * 1024, 0), -1);  // the same after the drain
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ZeroTrimTest, ATrimOverDataInTheSameBatchWritesZeroesInstead) {
  CountingDiscardDevice counting(origin_.get(), /*zeroes=*/true);
  auto v = Open(&counting);
  std::string a(8192, 'a');
  ASSERT_TRUE(v->Write(0, a, false).ok());
  ASSERT_TRUE(v->Trim(0, 8192).ok());
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  // A discard might keep the origin's 'o', older than the 'a' just before
  // the trim: zeroes are written.
  EXPECT_EQ(counting.discarded(), 0u);
  EXPECT_EQ(OriginFirstNot(0, 8192, 0), -1);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ZeroTrimTest, ATrimOnAnOriginWhoseDiscardMayKeepDataWritesZeroes) {
  CountingDiscardDevice counting(origin_.get(), /*zeroes=*/false);
  auto v = Open(&counting);
  ASSERT_TRUE(v->Trim(0, 32 * 1024).ok());
  EXPECT_EQ(FirstNot(*v, 0, 32 * 1024, 0), -1);
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  // Reads said zeroes before the drain; they must not change after it.
  EXPECT_EQ(counting.discarded(), 0u);
  EXPECT_EQ(FirstNot(*v, 0, 32 * 1024, 0), -1);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ZeroTrimTest, PartialTrimsKeepDataAndLargeOnesStopAtTheIndexLimit) {
  auto v = Open();
  ASSERT_TRUE(v->Trim(512, 2048).ok());  // inside one block: nothing to do
  EXPECT_EQ(v->GetStatus().trim_blocks, 0u);
  EXPECT_EQ(FirstNot(*v, 0, 4096, 'o'), -1);

  // More blocks than there are virtual cache blocks (one per ring block):
  // WriteZeroes writes the rest as zero data, all of it reads as zeroes.
  ASSERT_TRUE(v->WriteZeroes(0, 8 << 20, false).ok());
  VolumeStatus st = v->GetStatus();
  EXPECT_GT(st.zero_blocks, 0u);
  EXPECT_LE(st.zero_blocks, st.ring_blocks);
  EXPECT_EQ(FirstNot(*v, 0, 8 << 20, 0), -1);
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  EXPECT_EQ(OriginFirstNot(0, 8 << 20, 0), -1);
  EXPECT_EQ(OriginFirstNot(8 << 20, 4096, 'o'), -1);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ZeroTrimTest, ATrimRunningOutOfIdsAtASegmentBoundaryLetsCloseReturn) {
  FormatAtIdBoundary();
  auto v = Open();
  ASSERT_EQ(v->GetStatus().ring_blocks, kBoundaryRing);
  ASSERT_TRUE(v->Trim(0, kOriginSize).ok());  // a whole-volume discard
  VolumeStatus st = v->GetStatus();
  EXPECT_EQ(st.trim_blocks, kBoundaryRing);  // every id, in three segments
  EXPECT_EQ(st.current_id, 3u) << "an empty segment was left open";
  ASSERT_TRUE(ReturnsInTime(v, [](Volume* v) { EXPECT_TRUE(v->Close().ok()); }))
      << "Close did not return";
}

TEST_F(ZeroTrimTest, ATrimRunningOutOfIdsAtASegmentBoundaryLetsDropCachesDrain) {
  FormatAtIdBoundary();
  auto v = Open();
  ASSERT_TRUE(v->Trim(0, kOriginSize).ok());
  ASSERT_TRUE(ReturnsInTime(v, [](Volume* v) { EXPECT_TRUE(v->DropCaches(nullptr).ok()); }))
      << "drop_caches did not return";
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 0u);
  // The trimmed blocks reached the origin (MemDevice's discard zeroes);
  // the ones past the ids kept their data.
  EXPECT_EQ(OriginFirstNot(0, kBoundaryRing * kBlockSize, 0), -1);
  EXPECT_EQ(OriginFirstNot(kBoundaryRing * kBlockSize, kBlockSize, 'o'), -1);
  ASSERT_TRUE(v->Close().ok());
}

}  // namespace
}  // namespace wb
