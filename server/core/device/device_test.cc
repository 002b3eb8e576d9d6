#include "server/core/device/device.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/mem_device.h"

namespace wb {
namespace {

TEST(DeviceTest, IoOpNames) {
  EXPECT_STREQ(IoOpName(IoOp::kRead), "read");
  EXPECT_STREQ(IoOpName(IoOp::kWrite), "write");
  EXPECT_STREQ(IoOpName(IoOp::kFlush), "flush");
  EXPECT_STREQ(IoOpName(IoOp::kDiscard), "discard");
}

TEST(DeviceTest, ValidateRequestRanges) {
  MemDevice dev(1 << 20, 4096, "disk7");
  AlignedBuffer buf(8192);
  IoRequest req;
  req.op = IoOp::kWrite;
  req.buf = buf.data();

  req.offset = 4096;
  req.length = 8192;
  EXPECT_TRUE(ValidateRequest(dev, req).ok());
  req.offset = (1 << 20) - 8192;
  EXPECT_TRUE(ValidateRequest(dev, req).ok());

  req.offset = (1 << 20) - 4096;
  absl::Status s = ValidateRequest(dev, req);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  // The message names device, offset, length and size.
  EXPECT_NE(s.message().find("disk7"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("1044480"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("8192"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("1048576"), absl::string_view::npos) << s;

  // offset + length would overflow.
  req.offset = std::numeric_limits<uint64_t>::max() - 4095;
  req.length = 8192;
  EXPECT_EQ(ValidateRequest(dev, req).code(), absl::StatusCode::kOutOfRange);

  req.offset = 512;  // 512-aligned but not 4096.
  req.length = 4096;
  EXPECT_EQ(ValidateRequest(dev, req).code(),
            absl::StatusCode::kInvalidArgument);
  req.offset = 0;
  req.length = 512;
  EXPECT_EQ(ValidateRequest(dev, req).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DeviceTest, ValidateRequestBuffers) {
  MemDevice dev(1 << 20);
  AlignedBuffer buf(8192);
  IoRequest req;
  req.op = IoOp::kRead;
  req.length = 512;
  req.buf = nullptr;
  EXPECT_EQ(ValidateRequest(dev, req).code(),
            absl::StatusCode::kInvalidArgument);
  req.buf = buf.data() + 512;  // Sector-aligned, not kIoAlignment-aligned.
  EXPECT_EQ(ValidateRequest(dev, req).code(),
            absl::StatusCode::kInvalidArgument);
  req.buf = buf.data();
  EXPECT_TRUE(ValidateRequest(dev, req).ok());

  // Flush has no range; discard has no buffer.
  IoRequest flush;
  flush.op = IoOp::kFlush;
  flush.offset = 3;
  EXPECT_TRUE(ValidateRequest(dev, flush).ok());
  IoRequest discard;
  discard.op = IoOp::kDiscard;
  discard.offset = 4096;
  discard.length = 4096;
  EXPECT_TRUE(ValidateRequest(dev, discard).ok());
  discard.length = 1 << 20;
  EXPECT_EQ(ValidateRequest(dev, discard).code(),
            absl::StatusCode::kOutOfRange);
}

TEST(DeviceTest, SyncHelpersReportErrors) {
  MemDevice dev(1 << 16);
  AlignedBuffer buf(4096);
  EXPECT_EQ(dev.Write(1 << 16, buf.data(), 4096).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(dev.Read(100, buf.data(), 512).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(dev.Flush().ok());
  EXPECT_TRUE(dev.Discard(0, 4096).ok());
}

}  // namespace
}  // namespace wb
