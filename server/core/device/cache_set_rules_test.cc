// The membership rules of docs/FORMAT.md ("Cache sets"), each test named
// after the rule it checks.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/core/device/cache_set.h"
#include "server/core/device/cache_set_internal.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/fault_device.h"
#include "server/core/device/mem_device.h"
#include "server/core/format_cache_set.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kMember = 4 << 20;
constexpr uint64_t kOriginSize = 1 << 20;
constexpr uint64_t kRingStart = kRingStartBlock * kBlockSize;

std::vector<std::unique_ptr<Device>> Refs(std::vector<Device*> devs) {
  std::vector<std::unique_ptr<Device>> out;
  for (Device* d : devs) out.push_back(std::make_unique<DeviceRef>(d));
  return out;
}

FormatOptions Options() {
  FormatOptions fo;
  fo.segment_size = 64 * 1024;
  fo.origin_identity = "test-origin";
  return fo;
}

// The membership generation a member holds in block blk, or 0 if none.
uint32_t GenerationAt(const MemDevice& d, uint64_t blk) {
  const std::string image = d.Image();
  absl::StatusOr<Superblock> sb =
      Superblock::DecodeAnyLayout(image.data() + blk * kBlockSize);
  return sb.ok() ? sb->device_generation : 0;
}

// Generation g lives in block 0 when odd, in block 3 when even.
void ExpectParity(const MemDevice& d) {
  const uint32_t g0 = GenerationAt(d, 0), g3 = GenerationAt(d, 3);
  EXPECT_TRUE(g0 == 0 || g0 % 2 == 1)
      << d.name() << ": block 0 holds generation " << g0;
  EXPECT_TRUE(g3 == 0 || g3 % 2 == 0)
      << d.name() << ": block 3 holds generation " << g3;
}

TEST(CacheSetRule, GenerationParityHoldsAfterResilver) {
  MemDevice a(kMember, 512, "a"), b(kMember, 512, "b");
  MemDevice origin(kOriginSize, 512, "origin");
  ASSERT_TRUE(FormatCacheSet({&a, &b}, kLayoutMirror, origin, Options()).ok());
  {
    FaultDevice fb(&b);
    auto set = CacheSet::Open(Refs({&a, &fb}));
    ASSERT_TRUE(set.ok()) << set.status();
    fb.FailAlways(FaultOp::kWrite);
    AlignedBuffer buf(kBlockSize);
    ASSERT_TRUE((*set)->Write(kRingStart, buf.data(), kBlockSize).ok());
    EXPECT_EQ((*set)->GetStatus().generation, 2u);
  }
  ExpectParity(a);
  auto set = CacheSet::Open(Refs({&a, &b}));
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_TRUE((*set)->Resilver(1).ok());
  EXPECT_EQ((*set)->GetStatus().generation, 3u);
  ExpectParity(a);
  ExpectParity(b);
  EXPECT_EQ(GenerationAt(b, 0), 3u);
  EXPECT_EQ(GenerationAt(b, 3), 0u);  // blanked before the copy, left so

  // The next record (generation 4) goes to block 3; tearing it leaves 3.
  set->reset();
  FaultDevice fa(&a);
  auto again = CacheSet::Open(Refs({&fa, &b}));
  ASSERT_TRUE(again.ok()) << again.status();
  fa.FailAlways(FaultOp::kWrite);
  AlignedBuffer buf(kBlockSize);
  ASSERT_TRUE((*again)->Write(kRingStart, buf.data(), kBlockSize).ok());
  EXPECT_EQ(GenerationAt(b, 3), 4u);
  EXPECT_EQ(GenerationAt(b, 0), 3u);
  ExpectParity(b);
}

// A member failing while the set is formatted raises the generation to 2
// before the superblock is written: every copy of it must go to block 3.
TEST(CacheSetRule, GenerationParityHoldsForASuperblockWrittenThroughTheSet) {
  MemDevice a(kMember, 512, "a"), b(kMember, 512, "b");
  MemDevice origin(kOriginSize, 512, "origin");
  FaultDevice fb(&b);
  fb.FailAlways(FaultOp::kWrite);
  ASSERT_TRUE(
      FormatCacheSet({&a, &fb}, kLayoutMirror, origin, Options()).ok());
  ExpectParity(a);
  EXPECT_EQ(GenerationAt(a, 3), 2u);
  EXPECT_EQ(GenerationAt(a, 0), 0u);
  fb.ClearFaults();
  // It opens, with b failed, and the core reads the logical superblock.
  auto set = CacheSet::Open(Refs({&a, &b}));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->GetStatus().members[1].health, MemberHealth::kFailed);
  OpenOptions oo;
  oo.origin_identity = "test-origin";
  auto v = Volume::Open(std::move(*set), std::make_unique<DeviceRef>(&origin),
                        oo);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE((*v)->Close().ok());
}

// The stripe writes each member's superblock through the same path.
TEST(CacheSetRule, GenerationParityHoldsForAStripeFormat) {
  MemDevice a(kMember, 512, "a"), b(kMember, 512, "b");
  MemDevice origin(kOriginSize, 512, "origin");
  ASSERT_TRUE(FormatCacheSet({&a, &b}, kLayoutStripe, origin, Options()).ok());
  ExpectParity(a);
  ExpectParity(b);
  EXPECT_EQ(GenerationAt(a, 0), 1u);
  EXPECT_EQ(GenerationAt(b, 0), 1u);
}

TEST(CacheSetRule, FormatRefusesASetOfOneDevice) {
  MemDevice a(kMember, 512, "a");
  MemDevice origin(kOriginSize, 512, "origin");
  for (uint32_t layout : {kLayoutStripe, kLayoutMirror}) {
    absl::Status s = FormatCacheSet({&a}, layout, origin, Options());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
  EXPECT_EQ(GenerationAt(a, 0), 0u);  // nothing written
}

// Formats before the 2 … 16 rule could write a set of one; it still opens.
TEST(CacheSetRule, ASetOfOneWrittenBeforeTheRuleStillOpens) {
  MemDevice a(kMember, 512, "a");
  MemDevice origin(kOriginSize, 512, "origin");
  // Turn a two-member format into what such a format wrote: one member,
  // nr_devices 1, slot 1 unused.
  MemDevice b(kMember, 512, "b");
  ASSERT_TRUE(FormatCacheSet({&a, &b}, kLayoutMirror, origin, Options()).ok());
  std::string image = a.Image();
  absl::StatusOr<Superblock> sb = Superblock::DecodeAnyLayout(image.data());
  ASSERT_TRUE(sb.ok());
  sb->nr_devices = 1;
  sb->slots[1] = MemberSlot{};
  AlignedBuffer block(kBlockSize);
  sb->EncodeTo(block.data());
  ASSERT_TRUE(a.Write(0, block.data(), kBlockSize).ok());
  auto set = CacheSet::Open(Refs({&a}));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->GetStatus().members.size(), 1u);
  OpenOptions oo;
  oo.origin_identity = "test-origin";
  auto v = Volume::Open(std::move(*set), std::make_unique<DeviceRef>(&origin),
                        oo);
  ASSERT_TRUE(v.ok()) << v.status();
}

}  // namespace
}  // namespace wb
