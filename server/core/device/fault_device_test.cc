#include "server/core/device/fault_device.h"

#include <cstring>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/mem_device.h"

namespace wb {
namespace {

class FaultDeviceTest : public ::testing::Test {
 protected:
  FaultDeviceTest() : mem_(1 << 20, 512, "inner"), dev_(&mem_), buf_(8192) {
    std::memset(buf_.data(), 'w', buf_.size());
  }

  absl::Status Write(uint64_t offset, uint64_t len = 4096) {
    return dev_.Write(offset, buf_.data(), len);
  }

  MemDevice mem_;
  FaultDevice dev_;
  AlignedBuffer buf_;
};

TEST_F(FaultDeviceTest, ForwardsGeometry) {
  EXPECT_EQ(dev_.size(), mem_.size());
  EXPECT_EQ(dev_.logical_block_size(), 512u);
  EXPECT_EQ(dev_.name(), "inner");
  EXPECT_TRUE(dev_.supports_discard());
  EXPECT_EQ(dev_.inner(), &mem_);
}

TEST_F(FaultDeviceTest, FailNextWritesNeverReachInner) {
  dev_.FailNext(FaultOp::kWrite, 2);
  absl::Status s = Write(0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "injected I/O error");
  EXPECT_EQ(Write(4096).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(mem_.Image(), std::string(1 << 20, '\0'));
  // Reads and flushes were never affected; the third write goes through.
  EXPECT_TRUE(dev_.Read(0, buf_.data(), 4096).ok());
  EXPECT_TRUE(dev_.Flush().ok());
  std::memset(buf_.data(), 'w', buf_.size());
  EXPECT_TRUE(Write(0).ok());
  EXPECT_EQ(mem_.Image().substr(0, 4096), std::string(4096, 'w'));
  EXPECT_EQ(dev_.injected(IoOp::kWrite), 2u);
  EXPECT_EQ(dev_.injected(IoOp::kRead), 0u);
  EXPECT_EQ(dev_.injected_total(), 2u);
}

TEST_F(FaultDeviceTest, RangeRules) {
  FaultRule rule;
  rule.op = FaultOp::kAny;
  rule.offset = 8192;
  rule.length = 4096;
  rule.persistent = true;
  rule.status = absl::DataLossError("bad sector");
  dev_.AddFault(rule);
  EXPECT_TRUE(Write(4096).ok());       // Ends where the range starts.
  EXPECT_TRUE(Write(12288).ok());      // Starts where it ends.
  absl::Status s = Write(4096, 8192);  // Overlaps its first half.
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(dev_.Read(8192 + 512, buf_.data(), 512).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(dev_.Discard(0, 1 << 20).code(), absl::StatusCode::kDataLoss);
  // A ranged kAny rule does not fail flushes.
  EXPECT_TRUE(dev_.Flush().ok());
  EXPECT_EQ(dev_.injected(IoOp::kWrite), 1u);
  EXPECT_EQ(dev_.injected(IoOp::kRead), 1u);
  EXPECT_EQ(dev_.injected(IoOp::kDiscard), 1u);
  dev_.ClearFaults();
  EXPECT_TRUE(Write(8192).ok());
  EXPECT_EQ(dev_.injected_total(), 3u);  // Counters survive ClearFaults.
}

TEST_F(FaultDeviceTest, PersistentUntilCleared) {
  dev_.FailAlways(FaultOp::kFlush);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(dev_.Flush().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_TRUE(Write(0).ok());
  EXPECT_EQ(dev_.injected(IoOp::kFlush), 5u);
  dev_.ClearFaults();
  EXPECT_TRUE(dev_.Flush().ok());
}

TEST_F(FaultDeviceTest, AnyOpWholeDeviceIncludesFlush) {
  dev_.FailNext(FaultOp::kAny, 3);
  EXPECT_FALSE(dev_.Flush().ok());
  EXPECT_FALSE(dev_.Read(0, buf_.data(), 512).ok());
  EXPECT_FALSE(dev_.Discard(0, 512).ok());
  EXPECT_TRUE(dev_.Flush().ok());
}

TEST_F(FaultDeviceTest, OldestMatchingRuleApplies) {
  FaultRule first;
  first.op = FaultOp::kRead;
  first.status = absl::InternalError("first");
  FaultRule second = first;
  second.status = absl::InternalError("second");
  dev_.AddFault(first);
  dev_.AddFault(second);
  EXPECT_EQ(dev_.Read(0, buf_.data(), 512).message(), "first");
  EXPECT_EQ(dev_.Read(0, buf_.data(), 512).message(), "second");
  EXPECT_TRUE(dev_.Read(0, buf_.data(), 512).ok());
}

TEST_F(FaultDeviceTest, InvalidRequestsAreNotFaults) {
  dev_.FailNext(FaultOp::kWrite);
  EXPECT_EQ(Write(1 << 20).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(dev_.injected_total(), 0u);
  EXPECT_EQ(Write(0).code(), absl::StatusCode::kUnavailable);
}

TEST(FaultDeviceOwnedTest, OwnsInner) {
  FaultDevice dev(std::make_unique<MemDevice>(1 << 16, 4096, "owned"));
  EXPECT_EQ(dev.name(), "owned");
  EXPECT_EQ(dev.logical_block_size(), 4096u);
  AlignedBuffer b(4096);
  EXPECT_TRUE(dev.Write(0, b.data(), 4096).ok());
}

}  // namespace
}  // namespace wb
