// I/O error injection (FaultDevice) on the cache and the origin: reads,
// writes and flushes, transient and persistent. What must hold
// (ARCHITECTURE.md, "Backpressure and errors"):
// - origin failures are retried with backoff and the data stays dirty; once
//   the origin heals, drop_caches leaves exactly the acknowledged data there;
// - writes keep being accepted until the log is full, then fail after
//   io_timeout instead of hanging;
// - a failed cache write or flush puts the volume in a failed state: writes
//   and flushes are refused, reads of acknowledged data still work.
// Every call runs under a deadline, so a hang fails the test.
#ifndef WRITEBOOST_TESTS_CRASH_IO_FAULT_FIXTURE_H_
#define WRITEBOOST_TESTS_CRASH_IO_FAULT_FIXTURE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/fault_device.h"
#include "server/core/device/mem_device.h"
#include "server/core/volume.h"
#include "tests/crash/value_model.h"

namespace wb {

constexpr uint64_t kCacheSize = 4 << 20;  // a ring of 48 segments
constexpr uint64_t kOriginSize = 1 << 20;
constexpr char kIdentity[] = "fault-origin";

// Runs fn on its own thread; a call still running after `limit` is a hang:
// the test fails and the thread is left behind (it can never be joined).
inline std::optional<absl::Status> Bounded(std::function<absl::Status()> fn,
                                    absl::Duration limit = absl::Seconds(20)) {
  auto result = std::make_shared<absl::Status>();
  auto done = std::make_shared<absl::Notification>();
  std::thread([fn, result, done] {
    *result = fn();
    done->Notify();
  }).detach();
  if (!done->WaitForNotificationWithTimeout(limit)) {
    ADD_FAILURE() << "call did not return within " << limit;
    return std::nullopt;
  }
  return *result;
}

inline bool WaitFor(const std::function<bool()>& cond,
             absl::Duration limit = absl::Seconds(20)) {
  for (absl::Time end = absl::Now() + limit; absl::Now() < end;) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return cond();
}

// Members are public so that shared check helpers can drive the fixture.
class IoFaultTest : public ::testing::Test {
 public:
  void SetUp() override {
    cache_mem_ = std::make_unique<MemDevice>(kCacheSize, 512, "cache");
    model_ = crash::InitialOriginImage(kOriginSize);
    origin_mem_ = MemDevice::FromImage(model_, 512, "origin");
    cache_ = std::make_unique<FaultDevice>(cache_mem_.get());
    origin_ = std::make_unique<FaultDevice>(origin_mem_.get());
    FormatOptions fo;
    fo.segment_size = 64 << 10;
    fo.origin_identity = kIdentity;
    ASSERT_TRUE(FormatCache(*cache_, *origin_, fo).ok());
  }

  void Open(absl::Duration io_timeout = absl::Seconds(60)) {
    OpenOptions oo;
    oo.origin_identity = kIdentity;
    oo.rambuf_size = 256 << 10;
    oo.io_timeout = io_timeout;
    auto v = Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                          std::make_unique<DeviceRef>(origin_.get()), oo);
    ASSERT_TRUE(v.ok()) << v.status();
    volume_ = std::move(*v);
  }

  void TearDown() override {
    // A hung volume cannot be closed; leave it (and its devices) behind.
    if (HasFailure() && volume_ != nullptr) {
      volume_.release();
      cache_.release();
      origin_.release();
      cache_mem_.release();
      origin_mem_.release();
    }
  }

  // Writes a fresh pattern to [offset, offset + len) and mirrors it.
  absl::Status WriteData(uint64_t offset, uint64_t len, bool fua = false) {
    std::string data(len, 0);
    for (uint64_t s = 0; s < len / 512; s++) {
      crash::FillSector(offset / 512 + s, next_id_, data.data() + s * 512);
    }
    next_id_++;
    auto st = Bounded([&] { return volume_->Write(offset, data, fua); });
    if (!st.has_value()) return absl::DeadlineExceededError("hung");
    if (st->ok()) model_.replace(offset, len, data);
    return *st;
  }

  // The whole volume must read back as the model.
  void ExpectVolumeMatchesModel() {
    std::string out(kOriginSize, 0);
    auto st = Bounded([&] { return volume_->Read(0, absl::MakeSpan(out)); });
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE(st->ok()) << *st;
    ASSERT_TRUE(out == model_) << "the volume does not read back what was acknowledged";
  }

  void ExpectDrainedToModel() {
    auto st = Bounded([&] { return volume_->DropCaches(nullptr); });
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE(st->ok()) << *st;
    EXPECT_EQ(volume_->GetStatus().nr_dirty_cache_blocks, 0u);
    EXPECT_TRUE(origin_mem_->Image() == model_)
        << "after drop_caches the origin does not hold the acknowledged data";
  }

  VolumeStatus Status() { return volume_->GetStatus(); }

  std::unique_ptr<MemDevice> cache_mem_;
  std::unique_ptr<MemDevice> origin_mem_;
  std::unique_ptr<FaultDevice> cache_;
  std::unique_ptr<FaultDevice> origin_;
  std::unique_ptr<Volume> volume_;
  std::string model_;
  uint64_t next_id_ = 2;
};

}  // namespace wb

#endif  // WRITEBOOST_TESTS_CRASH_IO_FAULT_FIXTURE_H_
