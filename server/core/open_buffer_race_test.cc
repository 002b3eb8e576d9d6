// Reads racing rewrites of blocks in the open RAM buffer. Both copy data
// with the volume mutex released, so a rewrite while a read may copy takes a
// new slot instead of overwriting in place. Under ThreadSanitizer these tests
// are the proof that no read copies a slot while it is written; elsewhere
// they check that reads are never torn and that the extra entries replay and
// write back with the last value.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kCacheSize = 8 << 20;
constexpr uint64_t kOriginSize = 1 << 20;
constexpr uint64_t kBlock = 4096;
constexpr uint64_t kSector = 512;
constexpr int kBlocks = 4;  // few, so that rewrites hit the open buffer

class OpenBufferRaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = std::make_unique<MemDevice>(kCacheSize, 512, "cache");
    origin_ = std::make_unique<MemDevice>(kOriginSize, 512, "origin");
    FormatOptions fo;
    fo.segment_size = 64 * 1024;
    fo.origin_identity = "test-origin";
    ASSERT_TRUE(FormatCache(*cache_, *origin_, fo).ok());
  }

  std::unique_ptr<Volume> OpenVolume(bool writeback) {
    OpenOptions oo;
    oo.origin_identity = "test-origin";
    oo.rambuf_size = 256 * 1024;
    oo.enable_writeback = writeback;
    auto v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                          std::make_unique<DeviceRef>(origin_.get()), oo);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::move(*v) : nullptr;
  }

  std::unique_ptr<MemDevice> cache_;
  std::unique_ptr<MemDevice> origin_;
};

// Every 4-byte word of a sector holds the number of the write that wrote it.
void FillSectors(char* p, uint64_t sectors, uint32_t value) {
  for (uint64_t i = 0; i < sectors * kSector; i += 4) std::memcpy(p + i, &value, 4);
}

// The value of each sector of a block, or -1 for a torn sector.
std::vector<int64_t> SectorValues(const char* p) {
  std::vector<int64_t> values;
  for (uint64_t s = 0; s < kBlock / kSector; s++) {
    uint32_t first;
    std::memcpy(&first, p + s * kSector, 4);
    int64_t v = first;
    for (uint64_t i = 4; i < kSector; i += 4) {
      uint32_t w;
      std::memcpy(&w, p + s * kSector + i, 4);
      if (w != first) v = -1;
    }
    values.push_back(v);
  }
  return values;
}

// One writer rewrites a few blocks, whole or in part, while readers read
// them. Returns the value the writer left in each sector.
std::vector<uint32_t> RaceReaders(Volume* v, int writes) {
  std::vector<uint32_t> model(kBlocks * kBlock / kSector, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> backwards{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; r++) {
    readers.emplace_back([&, r] {
      std::string out(kBlocks * kBlock, 0);
      std::vector<int64_t> seen(model.size(), 0);
      for (int i = r; !stop; i++) {
        // Whole-range reads and single-block reads.
        uint64_t first = i % 2 == 0 ? 0 : i % kBlocks;
        uint64_t n = i % 2 == 0 ? kBlocks : 1;
        ASSERT_TRUE(v->Read(first * kBlock, absl::MakeSpan(out.data(), n * kBlock)).ok());
        for (uint64_t b = 0; b < n; b++) {
          std::vector<int64_t> got = SectorValues(out.data() + b * kBlock);
          for (size_t s = 0; s < got.size(); s++) {
            int64_t& last = seen[(first + b) * got.size() + s];
            if (got[s] < 0) torn++;
            // One writer: a sector's value never goes back in time.
            if (got[s] >= 0 && got[s] < last) backwards++;
            if (got[s] >= 0) last = got[s];
          }
        }
      }
    });
  }
  std::string data(kBlock, 0);
  for (int i = 1; i <= writes; i++) {
    uint64_t block = i % kBlocks;
    // Every third write covers only some sectors: a partial rewrite links
    // to the copy beneath it.
    uint64_t first = i % 3 == 0 ? (i / 3) % 8 : 0;
    uint64_t sectors = i % 3 == 0 ? 8 - first : 8;
    FillSectors(data.data(), sectors, static_cast<uint32_t>(i));
    absl::Status st = v->Write(block * kBlock + first * kSector,
                               {data.data(), sectors * kSector}, false);
    if (!st.ok()) {
      ADD_FAILURE() << st;
      break;
    }
    for (uint64_t s = first; s < first + sectors; s++) model[block * 8 + s] = i;
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  return model;
}

void ExpectValues(Volume* v, const std::vector<uint32_t>& model) {
  std::string out(kBlocks * kBlock, 0);
  ASSERT_TRUE(v->Read(0, absl::MakeSpan(out)).ok());
  for (int b = 0; b < kBlocks; b++) {
    std::vector<int64_t> got = SectorValues(out.data() + b * kBlock);
    for (size_t s = 0; s < got.size(); s++) {
      EXPECT_EQ(got[s], model[b * 8 + s]) << "block " << b << " sector " << s;
    }
  }
}

TEST_F(OpenBufferRaceTest, ReadsNeverSeeATornSectorWhileItIsRewritten) {
  auto v = OpenVolume(/*writeback=*/true);
  ASSERT_NE(v, nullptr);
  std::vector<uint32_t> model = RaceReaders(v.get(), 20000);
  ExpectValues(v.get(), model);
  ASSERT_TRUE(v->Close().ok());
}

// The rewrites that took new slots leave several entries of a block in one
// segment: replay and writeback must both keep the last.
TEST_F(OpenBufferRaceTest, RewrittenBlocksReplayAndWriteBackTheirLastValue) {
  auto v = OpenVolume(/*writeback=*/false);
  ASSERT_NE(v, nullptr);
  // Bounded so that the log, never written back here, does not fill.
  std::vector<uint32_t> model = RaceReaders(v.get(), 600);
  ASSERT_TRUE(v->Close().ok());
  v.reset();

  v = OpenVolume(/*writeback=*/true);
  ASSERT_NE(v, nullptr);
  ExpectValues(v.get(), model);
  ASSERT_TRUE(v->SendMessage("drop_caches").ok());
  ASSERT_TRUE(v->Close().ok());
  v.reset();
  AlignedBuffer origin(kBlocks * kBlock);
  ASSERT_TRUE(origin_->Read(0, origin.data(), origin.size()).ok());
  for (int b = 0; b < kBlocks; b++) {
    std::vector<int64_t> got = SectorValues(origin.data() + b * kBlock);
    for (size_t s = 0; s < got.size(); s++) {
      EXPECT_EQ(got[s], model[b * 8 + s]) << "origin block " << b << " sector " << s;
    }
  }
}

}  // namespace
}  // namespace wb
