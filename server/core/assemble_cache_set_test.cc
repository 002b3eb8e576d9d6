#include "server/core/assemble_cache_set.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/core/device/crash_device.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/format_cache_set.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kOriginSize = 4 << 20;

std::vector<std::unique_ptr<Device>> Refs(std::vector<Device*> devs) {
  std::vector<std::unique_ptr<Device>> out;
  for (Device* d : devs) out.push_back(std::make_unique<DeviceRef>(d));
  return out;
}

OpenOptions Options() {
  OpenOptions oo;
  oo.origin_identity = "o";
  oo.rambuf_size = 256 << 10;
  oo.enable_writeback = false;
  return oo;
}

std::string Block(int i) { return std::string(4096, static_cast<char>('a' + i % 26)); }

// A power cut that left the segments written since the last flush on member
// a and not on member b. Recovery accepts them from a; after a Flush they
// are durable, so b alone must hold them too.
TEST(AssembleCacheSetTest, MembersAgreeOnTheUnflushedTail) {
  CrashDevice a(4 << 20, {.name = "a"}), b(4 << 20, {.name = "b"});
  MemDevice origin(kOriginSize, 512, "origin");
  FormatOptions fo;
  fo.segment_size = 64 << 10;
  fo.origin_identity = "o";
  ASSERT_TRUE(FormatCacheSet({&a, &b}, kLayoutMirror, origin, fo).ok());
  {
    auto set = AssembleCacheSet(Refs({&a, &b}));
    ASSERT_TRUE(set.ok()) << set.status();
    auto v = Volume::Open(std::move(*set), std::make_unique<DeviceRef>(&origin),
                          Options());
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE((*v)->Write(0, Block(0), /*fua=*/true).ok());
    // 40 blocks: two full segments are sealed and written, not flushed.
    for (int i = 1; i <= 40; i++) {
      ASSERT_TRUE((*v)->Write(i * 4096, Block(i), false).ok());
    }
    for (int t = 0; t < 500 && a.uncovered_writes() < 2; t++) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_GE(a.uncovered_writes(), 2u);
    // The cut: a kept every write, b none of the unflushed ones.
    auto cut_a = MemDevice::FromImage(a.Image(), 512, "a");
    auto cut_b = MemDevice::FromImage(b.DurableImage(), 512, "b");
    a.PowerOff();
    b.PowerOff();
    v->reset();

    auto set2 = AssembleCacheSet(Refs({cut_a.get(), cut_b.get()}));
    ASSERT_TRUE(set2.ok()) << set2.status();
    auto v2 = Volume::Open(std::move(*set2),
                           std::make_unique<DeviceRef>(&origin), Options());
    ASSERT_TRUE(v2.ok()) << v2.status();
    std::string seen(41 * 4096, 0);
    ASSERT_TRUE((*v2)->Read(0, absl::MakeSpan(seen)).ok());
    // Recovery took the tail from a: at least the first sealed segment.
    ASSERT_EQ(seen.substr(4096, 4096), Block(1));
    ASSERT_TRUE((*v2)->Flush().ok());  // all of it durable from here on
    ASSERT_TRUE((*v2)->Close().ok());
    v2->reset();

    // b alone (a recorded failed) must serve the same.
    CacheSetOpenOptions force;
    force.allow_missing = true;
    auto b_only = AssembleCacheSet(Refs({cut_b.get()}), force);
    ASSERT_TRUE(b_only.ok()) << b_only.status();
    auto v3 = Volume::Open(std::move(*b_only),
                           std::make_unique<DeviceRef>(&origin), Options());
    ASSERT_TRUE(v3.ok()) << v3.status();
    std::string back(41 * 4096, 0);
    ASSERT_TRUE((*v3)->Read(0, absl::MakeSpan(back)).ok());
    for (int i = 0; i <= 40; i++) {
      EXPECT_EQ(back.substr(i * 4096, 4096), seen.substr(i * 4096, 4096))
          << "block " << i;
    }
  }
}

}  // namespace
}  // namespace wb
