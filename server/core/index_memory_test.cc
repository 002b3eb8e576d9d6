// Measures what the index costs per cached 4 KiB block, as the growth of
// process RSS between an empty cache and one 50% and ~100% full of unique
// blocks (the definition), and holds it to 16 bytes.
#include <fstream>
#include <string>
#include <unistd.h>

#include "gtest/gtest.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/volume.h"

namespace wb {
namespace {

// A device that keeps only its first MiB (superblock and progress records)
// and drops everything else, so that a large cache costs no memory of its
// own and the RSS growth is the index alone.
class SparseHeadDevice final : public Device {
 public:
  explicit SparseHeadDevice(uint64_t size) : size_(size), head_(1 << 20, 512) {}
  uint64_t size() const override { return size_; }
  uint32_t logical_block_size() const override { return 512; }
  std::string name() const override { return "sparse-head"; }
  void Submit(const IoRequest& req, IoCallback done) override {
    if (req.op == IoOp::kFlush || req.offset + req.length <= head_.size()) {
      head_.Submit(req, std::move(done));
      return;
    }
    if (req.op == IoOp::kRead) std::memset(req.buf, 0, req.length);
    std::move(done)(absl::OkStatus());
  }

 private:
  uint64_t size_;
  MemDevice head_;
};

uint64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total, pages_resident;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

TEST(IndexMemoryTest, AtMost16BytesPerCachedBlock) {
  constexpr uint64_t kCacheSize = 4ull << 30;  // ~1M cache blocks
  SparseHeadDevice cache(kCacheSize);
  SparseHeadDevice origin(8ull << 30);
  FormatOptions fo;
  fo.origin_identity = "mem";
  // Formatting zeroes the whole (discarding) device: cheap here.
  ASSERT_TRUE(FormatCache(cache, origin, fo).ok());
  OpenOptions oo;
  oo.origin_identity = "mem";
  oo.enable_writeback = false;
  oo.rambuf_size = 4 << 20;
  auto v = Volume::Open(std::make_unique<DeviceRef>(&cache),
                        std::make_unique<DeviceRef>(&origin), oo);
  ASSERT_TRUE(v.ok()) << v.status();
  const uint64_t capacity = (*v)->GetStatus().nr_cache_blocks;
  std::string block(4096, 'x');
  uint64_t written = 0;
  auto fill_to = [&](uint64_t target) {
    for (; written < target; written++) {
      // Unique, scattered origin blocks.
      uint64_t ob = (written * 2654435761ull) % (origin.size() / 4096);
      ASSERT_TRUE((*v)->Write(ob * 4096, block, false).ok());
    }
  };
  const uint64_t empty_rss = RssBytes();
  fill_to(capacity / 2);
  const uint64_t half_rss = RssBytes();
  fill_to(capacity * 97 / 100);  // the last segments stay free for the log
  const uint64_t full_rss = RssBytes();
  double half = static_cast<double>(half_rss - empty_rss) / (capacity / 2);
  double full = static_cast<double>(full_rss - empty_rss) / (capacity * 97 / 100);
  std::printf("index memory: %.2f bytes/block at 50%%, %.2f at 97%% "
              "(%llu cache blocks)\n",
              half, full, static_cast<unsigned long long>(capacity));
  EXPECT_LE(half, 16.0);
  EXPECT_LE(full, 16.0);
  ASSERT_TRUE((*v)->Close().ok());
}

}  // namespace
}  // namespace wb
