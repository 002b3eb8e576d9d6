// Close returns whatever state the log is in: with an open segment holding
// data that a failed volume can no longer write.
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/fault_device.h"
#include "server/core/device/mem_device.h"
#include "server/core/volume.h"

namespace wb {
namespace {

TEST(CloseTest, AFailedVolumeWithDataInItsOpenSegmentCloses) {
  // Leaked if Close hangs: the stuck thread keeps using them.
  auto* cache = new MemDevice(4 << 20, 512, "cache");
  auto* origin = new MemDevice(4 << 20, 512, "origin");
  auto* faulty_cache = new FaultDevice(cache);
  FormatOptions fo;
  fo.segment_size = 64 * 1024;
  fo.origin_identity = "o";
  fo.tunables.writeback_threshold = 0;
  fo.tunables.sync_data_interval = 0;  // no timer seals the open segment
  ASSERT_TRUE(FormatCache(*cache, *origin, fo).ok());
  OpenOptions oo;
  oo.origin_identity = "o";
  oo.rambuf_size = 256 * 1024;
  auto opened = Volume::Open(std::make_unique<DeviceRef>(faulty_cache),
                             std::make_unique<DeviceRef>(origin), oo);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Volume* v = opened->release();

  // Acknowledged, still in the open RAM buffer.
  ASSERT_TRUE(v->Write(0, std::string(4096, 'a'), false).ok());
  // The progress record a tunable change writes fails: the volume fails
  // with the segment still open.
  faulty_cache->FailAlways(FaultOp::kWrite);
  EXPECT_FALSE(v->SetTunable("writeback_threshold", 10).ok());
  ASSERT_TRUE(v->GetStatus().failed);

  auto closed = std::make_shared<absl::Notification>();
  std::thread([v, closed] {
    EXPECT_FALSE(v->Close().ok());  // the failure, not a hang
    closed->Notify();
  }).detach();
  ASSERT_TRUE(closed->WaitForNotificationWithTimeout(absl::Seconds(60)))
      << "Close did not return";
  delete v;
  delete faulty_cache;
  delete origin;
  delete cache;
}

}  // namespace
}  // namespace wb
