// Read caching: staged read misses and written-back blocks serve reads as
// clean copies, a write always wins over them, and they never outlive the
// ring blocks they sit in or a restart. The origin is changed underneath the
// volume in some tests only to tell which copy a read was served from.
#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kCacheSize = 4 << 20;
constexpr uint64_t kOriginSize = 8 << 20;

std::string Fill(size_t n, char c) { return std::string(n, c); }

// Delivers every origin read late, so that writes land while it is in
// flight. Reads run on the caller's thread (MemDevice completes inline).
class SlowReadDevice final : public Device {
 public:
  explicit SlowReadDevice(Device* inner) : inner_(inner) {}
  void set_delay(absl::Duration d) { delay_ = d; }
  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override { return inner_->logical_block_size(); }
  std::string name() const override { return "slow-read"; }
  void Submit(const IoRequest& req, IoCallback done) override {
    if (req.op != IoOp::kRead) return inner_->Submit(req, std::move(done));
    // The data is taken first and delivered late, as a read that a write
    // overtakes on its way back.
    absl::Duration delay = delay_;
    inner_->Submit(req, [delay, done = std::move(done)](absl::Status st) mutable {
      absl::SleepFor(delay);
      std::move(done)(std::move(st));
    });
  }

 private:
  Device* const inner_;
  std::atomic<absl::Duration> delay_{absl::Microseconds(300)};
};

// Holds origin I/O until the test lets it go, so that a race lands where
// the test wants it. A held write has not reached the device yet; a held
// read has already taken its data from the device and only its completion
// waits (a read that a write overtakes on its way back).
class GateDevice final : public Device {
 public:
  explicit GateDevice(Device* inner) : inner_(inner) {}
  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override { return inner_->logical_block_size(); }
  std::string name() const override { return "gate"; }
  // Holds every later read (or write).
  void Hold(IoOp op) {
    absl::MutexLock l(&mu_);
    holding_[Kind(op)] = true;
  }
  // Waits until n reads (or writes) are held.
  void WaitHeld(IoOp op, size_t n) {
    absl::MutexLock l(&mu_);
    const std::vector<Step>& held = held_[Kind(op)];
    auto enough = [&held, n] { return held.size() >= n; };
    mu_.Await(absl::Condition(&enough));
  }
  // Stops holding reads (or writes) and lets the held ones go, in order.
  void Release(IoOp op) {
    std::vector<Step> go;
    {
      absl::MutexLock l(&mu_);
      holding_[Kind(op)] = false;
      go.swap(held_[Kind(op)]);
    }
    for (Step& step : go) std::move(step)();
  }
  void Submit(const IoRequest& req, IoCallback done) override {
    if (req.op == IoOp::kRead) {
      inner_->Submit(req, [this, done = std::move(done)](absl::Status st) mutable {
        Pass(IoOp::kRead, [done = std::move(done), st]() mutable { std::move(done)(st); });
      });
    } else if (req.op == IoOp::kWrite) {
      Pass(IoOp::kWrite, [this, req, done = std::move(done)]() mutable {
        inner_->Submit(req, std::move(done));
      });
    } else {
      inner_->Submit(req, std::move(done));
    }
  }

 private:
  using Step = absl::AnyInvocable<void() &&>;
  static int Kind(IoOp op) { return op == IoOp::kRead ? 0 : 1; }
  // Runs step now, or keeps it for Release.
  void Pass(IoOp op, Step step) {
    {
      absl::MutexLock l(&mu_);
      if (holding_[Kind(op)]) {
        held_[Kind(op)].push_back(std::move(step));
        return;
      }
    }
    std::move(step)();
  }
  Device* const inner_;
  absl::Mutex mu_;
  bool holding_[2] ABSL_GUARDED_BY(mu_) = {false, false};
  std::vector<Step> held_[2] ABSL_GUARDED_BY(mu_);
};

class ReadCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = std::make_unique<MemDevice>(kCacheSize, 512, "cache");
    origin_ = std::make_unique<MemDevice>(kOriginSize, 512, "origin");
    slow_origin_ = std::make_unique<SlowReadDevice>(origin_.get());
    FormatOptions fo;
    fo.segment_size = 64 * 1024;
    fo.origin_identity = "o";
    fo.tunables.writeback_threshold = 0;  // writeback only when asked
    fo.tunables.read_cache_threshold = 4;  // runs up to 16 KiB are cached
    ASSERT_TRUE(FormatCache(*cache_, *origin_, fo).ok());
  }
  std::unique_ptr<Volume> Open(bool slow = false) {
    return Open(slow ? static_cast<Device*>(slow_origin_.get()) : origin_.get());
  }
  std::unique_ptr<Volume> Open(Device* origin) {
    OpenOptions oo;
    oo.origin_identity = "o";
    oo.rambuf_size = 256 * 1024;
    auto v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                          std::make_unique<DeviceRef>(origin), oo);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::move(*v) : nullptr;
  }
  // Changes the origin behind the volume's back.
  void Clobber(uint64_t offset, char c, size_t n = 4096) {
    AlignedBuffer buf(n);
    std::memset(buf.data(), c, n);
    ASSERT_TRUE(origin_->Write(offset, buf.data(), n).ok());
  }
  std::string OriginAt(uint64_t offset, size_t n) {
    AlignedBuffer buf(n);
    EXPECT_TRUE(origin_->Read(offset, buf.data(), n).ok());
    return std::string(buf.data(), n);
  }
  std::string ReadAt(Volume& v, uint64_t offset, size_t n) {
    std::string out(n, 0);
    absl::Status st = v.Read(offset, absl::MakeSpan(out));
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }
  std::unique_ptr<MemDevice> cache_;
  std::unique_ptr<MemDevice> origin_;
  std::unique_ptr<SlowReadDevice> slow_origin_;
};

TEST_F(ReadCacheTest, AReadMissIsStagedAndServedFromTheCacheAfterwards) {
  Clobber(0, 'a', 8192);
  auto v = Open();
  EXPECT_TRUE(ReadAt(*v, 0, 8192) == Fill(8192, 'a'));
  VolumeStatus st = v->GetStatus();
  EXPECT_EQ(st.read_cache_staged, 2u);
  EXPECT_EQ(st.clean_blocks, 2u);
  EXPECT_EQ(st.nr_dirty_cache_blocks, 0u);  // clean copies are not dirty

  Clobber(0, 'z', 8192);  // only a cached copy still says 'a'
  EXPECT_TRUE(ReadAt(*v, 0, 8192) == Fill(8192, 'a'));
  EXPECT_EQ(v->GetStatus().read_cache_hits, 2u);

  // Once its segment is on the cache device the copy comes from there.
  ASSERT_TRUE(v->Flush().ok());
  EXPECT_TRUE(ReadAt(*v, 4096, 4096) == Fill(4096, 'a'));
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ReadCacheTest, LongSequentialRunsAndPartialBlocksAreNotStaged) {
  auto v = Open();
  ReadAt(*v, 1 << 20, 64 * 1024);  // one read longer than 16 KiB
  EXPECT_EQ(v->GetStatus().read_cache_staged, 0u);
  // A run of 4 KiB reads: the first four blocks fit under the threshold.
  for (int i = 0; i < 8; i++) ReadAt(*v, (2 << 20) + i * 4096, 4096);
  EXPECT_EQ(v->GetStatus().read_cache_staged, 4u);
  ReadAt(*v, 3 << 20, 512);  // part of a block
  EXPECT_EQ(v->GetStatus().read_cache_staged, 4u);

  ASSERT_TRUE(v->SetTunable("read_cache_threshold", 0).ok());  // off
  ReadAt(*v, 4 << 20, 4096);
  EXPECT_EQ(v->GetStatus().read_cache_staged, 4u);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ReadCacheTest, WritesWinOverCleanCopiesWholeOrInPart) {
  Clobber(0, 'a', 8192);
  auto v = Open();
  ReadAt(*v, 0, 8192);
  ASSERT_EQ(v->GetStatus().clean_blocks, 2u);
  std::string b = Fill(512, 'b');
  ASSERT_TRUE(v->Write(3 * 512, b, false).ok());  // inside staged block 0
  std::string c = Fill(4096, 'c');
  ASSERT_TRUE(v->Write(4096, c, false).ok());  // all of block 1
  std::string want0 = Fill(4096, 'a');
  want0.replace(3 * 512, 512, b);
  EXPECT_TRUE(ReadAt(*v, 0, 4096) == want0);
  EXPECT_TRUE(ReadAt(*v, 4096, 4096) == c);
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 2u);

  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  EXPECT_TRUE(OriginAt(0, 8192) == want0 + c);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ReadCacheTest, WrittenBackBlocksKeepServingReadsUntilTheRingReusesThem) {
  auto v = Open();
  std::string d = Fill(4096, 'd');
  ASSERT_TRUE(v->Write(0, d, false).ok());
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  VolumeStatus st = v->GetStatus();
  EXPECT_EQ(st.nr_dirty_cache_blocks, 0u);
  EXPECT_EQ(st.clean_blocks, 1u);
  Clobber(0, 'z');
  EXPECT_TRUE(ReadAt(*v, 0, 4096) == d);  // the retained clean copy

  // Write the ring full several times over elsewhere: the head reaches the
  // copy's ring block, so the block must come from the origin again.
  std::string e = Fill(64 * 1024, 'e');
  for (uint64_t n = 0; n < 3 * kCacheSize; n += e.size()) {
    ASSERT_TRUE(v->Write((1 << 20) + n % (4 << 20), e, false).ok());
    if (n % (1 << 20) == 0) {
      ASSERT_TRUE(v->SendMessage("drop_caches").ok());
    }
  }
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  std::string got = ReadAt(*v, 0, 4096);
  EXPECT_TRUE(got == Fill(4096, 'z')) << "read '" << got[0] << "'";
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ReadCacheTest, ARestartForgetsCleanCopies) {
  Clobber(0, 'a');
  auto v = Open();
  ReadAt(*v, 0, 4096);
  ASSERT_TRUE(v->Flush().ok());  // the CLEAN entry is in the durable log
  ASSERT_TRUE(v->Close().ok());
  Clobber(0, 'z');
  v = Open();
  EXPECT_TRUE(ReadAt(*v, 0, 4096) == Fill(4096, 'z'));
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 0u);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ReadCacheTest, AWriteAroundTheCacheDropsItsCleanCopy) {
  Clobber(0, 'a');
  auto v = Open();
  ReadAt(*v, 0, 4096);
  ASSERT_TRUE(v->SetTunable("write_around_mode", 1).ok());
  std::string w = Fill(4096, 'w');
  ASSERT_TRUE(v->Write(0, w, true).ok());
  EXPECT_TRUE(OriginAt(0, 4096) == w);  // it went around
  EXPECT_EQ(v->GetStatus().clean_blocks, 0u);
  EXPECT_TRUE(ReadAt(*v, 0, 4096) == w);  // and is staged afresh
  EXPECT_EQ(v->GetStatus().clean_blocks, 1u);
  ASSERT_TRUE(v->Close().ok());
}

// A write going around the cache starts; a read misses and takes the old
// bytes from the origin before the write lands; the write completes and is
// acknowledged; only then does the read finish. The read overlapped the
// write-around, so it must not be staged: the copy would be older than an
// acknowledged write, and every later read would return it.
TEST_F(ReadCacheTest, AReadOverlappingAWriteAroundThatEndsFirstIsNotStaged) {
  Clobber(0, 'a');
  GateDevice gate(origin_.get());
  auto v = Open(&gate);
  ASSERT_TRUE(v->SetTunable("write_around_mode", 1).ok());
  const std::string w = Fill(4096, 'w');

  gate.Hold(IoOp::kWrite);
  std::thread writer([&] { EXPECT_TRUE(v->Write(0, w, false).ok()); });
  gate.WaitHeld(IoOp::kWrite, 1);  // going around, not on the origin yet
  gate.Hold(IoOp::kRead);
  std::thread reader([&] { ReadAt(*v, 0, 4096); });
  gate.WaitHeld(IoOp::kRead, 1);  // the old bytes taken, not yet delivered
  gate.Release(IoOp::kWrite);
  writer.join();  // acknowledged
  gate.Release(IoOp::kRead);
  reader.join();

  EXPECT_EQ(v->GetStatus().read_cache_staged, 0u);
  std::string got = ReadAt(*v, 0, 4096);
  EXPECT_TRUE(got == w) << "read '" << got[0] << "' after the write of 'w' was acknowledged";
  ASSERT_TRUE(v->Close().ok());
}

// Readers stage blocks while writers (through the log, or around it) change
// them: after every write returns, and at the end, each block reads its last
// value. A staged stale copy would be served from then on.
void RaceReadersAndWriters(Volume* v, bool fua_some) {
  constexpr int kBlocks = 512;
  std::atomic<bool> stop{false};
  std::atomic<int> stale{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; r++) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(r);
      std::string out(4096, 0);
      while (!stop) {
        uint64_t block = rng() % kBlocks;
        ASSERT_TRUE(v->Read(block * 4096, absl::MakeSpan(out)).ok());
      }
    });
  }
  std::vector<char> last(kBlocks, 0);
  std::mt19937 rng(7);
  for (int i = 0; i < 1500; i++) {
    uint64_t block = rng() % kBlocks;
    char c = static_cast<char>('A' + i % 50);
    std::string data(4096, c);
    ASSERT_TRUE(v->Write(block * 4096, data, fua_some && i % 3 == 0).ok());
    last[block] = c;
    std::string out(4096, 0);
    ASSERT_TRUE(v->Read(block * 4096, absl::MakeSpan(out)).ok());
    if (out != data) stale++;
    // Make blocks uncached again now and then, so that reads miss.
    if (i % 100 == 99) {
      ASSERT_TRUE(v->SendMessage("drop_caches").ok());
    }
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(stale.load(), 0);
  for (int b = 0; b < kBlocks; b++) {
    if (last[b] == 0) continue;
    std::string out(4096, 0);
    ASSERT_TRUE(v->Read(b * 4096, absl::MakeSpan(out)).ok());
    EXPECT_TRUE(out == std::string(4096, last[b])) << "block " << b;
  }
  EXPECT_GT(v->GetStatus().read_cache_staged, 0u);
}

TEST_F(ReadCacheTest, StagingRacingWritesThroughTheLogNeverServesStaleData) {
  auto v = Open(/*slow=*/true);
  RaceReadersAndWriters(v.get(), false);
  ASSERT_TRUE(v->Close().ok());
}

TEST_F(ReadCacheTest, StagingRacingWritesAroundTheCacheNeverServesStaleData) {
  auto v = Open(/*slow=*/true);
  ASSERT_TRUE(v->SetTunable("write_around_mode", 1).ok());
  RaceReadersAndWriters(v.get(), true);
  ASSERT_TRUE(v->Close().ok());
}

// A partial write is forgotten once written back, so its block has no copy
// again: a read that fetched the block before the write must not stage it.
TEST_F(ReadCacheTest, StagingRacingPartialWritesWrittenBackNeverServesStaleData) {
  constexpr int kBlocks = 2;
  slow_origin_->set_delay(absl::Milliseconds(3));
  auto v = Open(/*slow=*/true);
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; r++) {
    readers.emplace_back([&, r] {
      std::string out(4096, 0);
      for (uint64_t i = r; !stop; i++) {
        ASSERT_TRUE(v->Read((i % kBlocks) * 4096, absl::MakeSpan(out)).ok());
      }
    });
  }
  int stale = 0;
  for (int i = 0; i < 150; i++) {
    uint64_t block = i % kBlocks;
    std::string data;
    // The first drain leaves the block uncached, so readers fetch it from
    // the origin while the second write lands and is written back.
    for (int w = 0; w < 2; w++) {
      data.assign(512, static_cast<char>('A' + (2 * i + w) % 50));
      ASSERT_TRUE(v->Write(block * 4096, data, false).ok());
      ASSERT_TRUE(v->SendMessage("drop_caches").ok());
    }
    // Let every read that was in flight during the writes finish staging.
    absl::SleepFor(absl::Milliseconds(8));
    std::string out(512, 0);
    ASSERT_TRUE(v->Read(block * 4096, absl::MakeSpan(out)).ok());
    stale += out != data;
  }
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(stale, 0);
  EXPECT_GT(v->GetStatus().read_cache_staged, 0u);
  ASSERT_TRUE(v->Close().ok());
}

}  // namespace
}  // namespace wb
