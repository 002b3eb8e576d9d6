// read_latency_target_ms: non-urgent writeback waits while foreground reads
// that miss to the origin are slower than the target, and runs once the
// target is lifted. The origin is the HDD model, so every random read costs
// a seek and a rotation (well over 1 ms).
#include <atomic>
#include <random>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/hdd_model_device.h"
#include "server/core/device/mem_device.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kOriginSize = 64 << 20;

TEST(WritebackPacingTest, SlowForegroundReadsHoldBackWriteback) {
  MemDevice cache(16 << 20);
  MemDevice disk(kOriginSize);
  HddModelDevice hdd(&disk);
  FormatOptions fo;
  fo.origin_identity = "o";
  fo.tunables.writeback_threshold = 100;  // utilisation alone never stops it
  fo.tunables.read_latency_target_ms = 1;
  ASSERT_TRUE(FormatCache(cache, hdd, fo).ok());
  OpenOptions oo;
  oo.origin_identity = "o";
  oo.rambuf_size = 4 << 20;  // writers never wait (that would be urgent)
  auto opened = Volume::Open(std::make_unique<DeviceRef>(&cache),
                             std::make_unique<DeviceRef>(&hdd), oo);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<Volume> v = std::move(*opened);

  // A reader missing to the origin in the upper half, with pauses so that
  // the origin is far from fully used.
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    std::mt19937_64 rng(1);
    std::string buf(4096, '\0');
    while (!stop) {
      uint64_t block = kOriginSize / 4096 / 2 + rng() % (kOriginSize / 4096 / 2);
      ASSERT_TRUE(v->Read(block * 4096, absl::MakeSpan(buf)).ok());
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  // Let the volume take a latency sample first.
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (v->GetStatus().origin_read_latency_ms < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GE(v->GetStatus().origin_read_latency_ms, 1);

  std::string block(4096, 'd');
  for (uint64_t b = 0; b < 256; b++) ASSERT_TRUE(v->Write(b * 4096 * 8, block, false).ok());
  ASSERT_TRUE(v->Flush().ok());
  absl::SleepFor(absl::Seconds(2));
  VolumeStatus held = v->GetStatus();
  EXPECT_EQ(held.writeback_batches, 0u)
      << "writeback ran while reads took " << held.origin_read_latency_ms << " ms";
  EXPECT_EQ(held.nr_dirty_cache_blocks, 256u);

  ASSERT_TRUE(v->SetTunable("read_latency_target_ms", 0).ok());
  deadline = absl::Now() + absl::Seconds(30);
  while (v->GetStatus().nr_dirty_cache_blocks > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(v->GetStatus().nr_dirty_cache_blocks, 0u)
      << "writeback did not resume when the target was lifted";
  stop = true;
  reader.join();
  ASSERT_TRUE(v->Close().ok());
}

}  // namespace
}  // namespace wb
