// Regression test for a flusher stall the crash harness found: a sealed
// segment collected for writing in the same flusher pass that then seals
// the open buffer for a waiting FUA write (or for sync_data_interval) was
// marked kWriting but never submitted, so completed_through_ stopped there
// and every later FUA write and Flush waited forever.
//
// It needs a FUA write arriving while a device flush is in flight (so it
// waits on the seal deadline) and full segments sealed by other writers at
// the same time: slow asynchronous flushes, FUA writers and bulk writers.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/core/device/crash_device.h"
#include "server/core/device/device_ref.h"
#include "server/core/volume.h"

namespace wb {
namespace {

TEST(FlusherStall, FuaWaitingOnSealDeadlineDoesNotStrandSealedSegments) {
  CrashDeviceOptions co;
  co.async_completion = true;
  co.max_delay = absl::Milliseconds(1);  // long flushes
  // Leaked on purpose: if the volume hangs, its threads still use them.
  auto* cache = new CrashDevice(4 << 20, co);
  auto* origin = new CrashDevice(1 << 20);
  FormatOptions fo;
  fo.segment_size = 64 << 10;
  fo.origin_identity = "stall-origin";
  fo.tunables.barrier_deadline_ms = 1;  // FUA writers hit the deadline often
  fo.tunables.sync_data_interval = 1;   // and the periodic seal once a second
  ASSERT_TRUE(FormatCache(*cache, *origin, fo).ok());
  OpenOptions oo;
  oo.origin_identity = "stall-origin";
  oo.rambuf_size = 256 << 10;
  auto opened = Volume::Open(std::make_unique<DeviceRef>(cache),
                             std::make_unique<DeviceRef>(origin), oo);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<Volume> v = std::move(*opened);

  std::atomic<uint64_t> done{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::atomic<int> exited{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 5; t++) {
    threads.emplace_back([&, t] {
      // Threads 0 and 1 fill whole segments; 2 to 4 write 4 KiB with FUA.
      const bool bulk = t < 2;
      std::string data(bulk ? 60 << 10 : 4096, static_cast<char>('a' + t));
      for (uint64_t i = 0; !stop.load(); i++) {
        uint64_t off = bulk ? (t * 4 + i % 4) * (64 << 10)
                            : (512 << 10) + t * 65536 + (i % 16) * 4096;
        if (!v->Write(off, data, !bulk).ok()) failed = true;
        done++;
      }
      exited++;
    });
  }
  // Ten seconds of traffic; an op blocked for five seconds is a stall.
  const absl::Time end = absl::Now() + absl::Seconds(10);
  uint64_t seen = done.load();
  absl::Time progress = absl::Now();
  bool stalled = false;
  while (exited.load() < 5) {
    absl::SleepFor(absl::Milliseconds(50));
    if (absl::Now() >= end) stop = true;
    if (done.load() != seen) {
      seen = done.load();
      progress = absl::Now();
    } else if (absl::Now() - progress > absl::Seconds(5)) {
      stalled = true;
      break;
    }
  }
  stop = true;
  if (stalled) {
    VolumeStatus st = v->GetStatus();
    ADD_FAILURE() << absl::StrFormat(
        "writes stalled after %u ops: current_id %u, last_flushed_id %u, "
        "writers_waiting %u (a sealed segment was never written)",
        seen, st.current_id, st.last_flushed_id, st.writers_waiting);
    // The stuck threads can never finish: leave them and the volume.
    for (auto& t : threads) t.detach();
    v.release();
    return;
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(failed.load());
  EXPECT_TRUE(v->Close().ok());
  v.reset();
  delete cache;
  delete origin;
}

}  // namespace
}  // namespace wb
