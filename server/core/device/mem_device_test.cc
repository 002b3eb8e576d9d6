#include "server/core/device/mem_device.h"

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"

namespace wb {
namespace {

TEST(MemDeviceTest, Geometry) {
  MemDevice dev(1 << 20, 4096, "m0");
  EXPECT_EQ(dev.size(), 1u << 20);
  EXPECT_EQ(dev.logical_block_size(), 4096u);
  EXPECT_EQ(dev.name(), "m0");
  EXPECT_TRUE(dev.supports_discard());
  EXPECT_EQ(dev.Image(), std::string(1 << 20, '\0'));
}

TEST(MemDeviceTest, WriteReadDiscard) {
  MemDevice dev(1 << 16);
  AlignedBuffer w(8192), r(8192);
  std::memset(w.data(), 'a', 8192);
  ASSERT_TRUE(dev.Write(4096, w.data(), 8192).ok());
  ASSERT_TRUE(dev.Read(4096, r.data(), 8192).ok());
  EXPECT_EQ(std::memcmp(w.data(), r.data(), 8192), 0);
  std::string image = dev.Image();
  EXPECT_EQ(image.substr(4096, 8192), std::string(8192, 'a'));
  EXPECT_EQ(image.substr(0, 4096), std::string(4096, '\0'));

  ASSERT_TRUE(dev.Discard(4096 + 512, 1024).ok());
  image = dev.Image();
  EXPECT_EQ(image.substr(4096, 512), std::string(512, 'a'));
  EXPECT_EQ(image.substr(4096 + 512, 1024), std::string(1024, '\0'));
  EXPECT_EQ(image.substr(4096 + 1536, 8192 - 1536),
            std::string(8192 - 1536, 'a'));
}

TEST(MemDeviceTest, FromImage) {
  std::string image(8192, 'x');
  image[4096] = 'y';
  auto dev = MemDevice::FromImage(image, 4096, "img");
  EXPECT_EQ(dev->size(), 8192u);
  EXPECT_EQ(dev->name(), "img");
  AlignedBuffer r(4096);
  ASSERT_TRUE(dev->Read(4096, r.data(), 4096).ok());
  EXPECT_EQ(r.data()[0], 'y');
  EXPECT_EQ(dev->Image(), image);
}

TEST(MemDeviceTest, CompletesInlineAndValidates) {
  MemDevice dev(1 << 16);
  AlignedBuffer buf(4096);
  bool ran = false;
  IoRequest req;
  req.op = IoOp::kRead;
  req.offset = 1 << 16;
  req.length = 4096;
  req.buf = buf.data();
  absl::Status got;
  dev.Submit(req, [&](absl::Status s) {
    ran = true;
    got = s;
  });
  EXPECT_TRUE(ran);  // Inline, before Submit returned.
  EXPECT_EQ(got.code(), absl::StatusCode::kOutOfRange);
}

TEST(MemDeviceTest, ConcurrentWriters) {
  MemDevice dev(64 * 4096);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&dev, t] {
      AlignedBuffer b(4096);
      for (int i = 0; i < 200; ++i) {
        const int block = t * 8 + i % 8;
        std::memset(b.data(), 'A' + t, 4096);
        ASSERT_TRUE(dev.Write(block * 4096, b.data(), 4096).ok());
        AlignedBuffer r(4096);
        ASSERT_TRUE(dev.Read(block * 4096, r.data(), 4096).ok());
        ASSERT_EQ(std::memcmp(b.data(), r.data(), 4096), 0);
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string image = dev.Image();
  for (int block = 0; block < 64; ++block) {
    EXPECT_EQ(image[block * 4096], 'A' + block / 8);
  }
}

}  // namespace
}  // namespace wb
