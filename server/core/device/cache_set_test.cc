#include "server/core/device/cache_set.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/core/device/cache_set_internal.h"
#include "server/core/device/crash_device.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/fault_device.h"
#include "server/core/device/mem_device.h"
#include "server/core/format_cache_set.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint32_t kSeg = 64 * 1024;
constexpr uint64_t kRingStart = kRingStartBlock * kBlockSize;
constexpr uint64_t kOriginSize = 4 << 20;

std::string Pattern(size_t n, char seed) {
  std::string s(n, 0);
  for (size_t i = 0; i < n; i++) {
    s[i] = static_cast<char>(seed + i * 7 + i / 512);
  }
  return s;
}

std::vector<std::unique_ptr<Device>> Refs(std::vector<Device*> devs) {
  std::vector<std::unique_ptr<Device>> out;
  for (Device* d : devs) out.push_back(std::make_unique<DeviceRef>(d));
  return out;
}

FormatOptions Options() {
  FormatOptions fo;
  fo.segment_size = kSeg;
  fo.origin_identity = "test-origin";
  return fo;
}

// The newer of a member's two superblock copies, read straight off it.
Superblock MemberSuperblock(const std::string& image) {
  Superblock best;
  bool any = false;
  for (uint64_t blk : {uint64_t{0}, kMembershipCopyBlock}) {
    auto sb = Superblock::DecodeAnyLayout(image.data() + blk * kBlockSize);
    if (sb.ok() && (!any || sb->device_generation > best.device_generation)) {
      best = *sb;
      any = true;
    }
  }
  EXPECT_TRUE(any) << "no valid member superblock";
  return best;
}

TEST(CacheSetTest, StripeAddressMap) {
  // Two members, 64 KiB chunks: chunks alternate 0, 1, 0, 1, ...
  StripeLocation a = MapStripeOffset(kRingStart, kSeg, 2);
  EXPECT_EQ(a.member, 0u);
  EXPECT_EQ(a.member_offset, kRingStart);
  StripeLocation b = MapStripeOffset(kRingStart + kSeg + 4096, kSeg, 2);
  EXPECT_EQ(b.member, 1u);
  EXPECT_EQ(b.member_offset, kRingStart + 4096);
  EXPECT_EQ(b.in_chunk, 4096u);
  StripeLocation c = MapStripeOffset(kRingStart + 5 * kSeg + 512, kSeg, 3);
  EXPECT_EQ(c.member, 2u);  // chunk 5 of 3 members
  EXPECT_EQ(c.member_offset, kRingStart + kSeg + 512);
}

TEST(CacheSetTest, StripeSplitsIoAndMirrorsTheHeader) {
  MemDevice m0(4 << 20, 512, "m0"), m1(5 << 20, 512, "m1");
  auto set = CacheSet::CreateForFormat(Refs({&m0, &m1}), kLayoutStripe, kSeg);
  ASSERT_TRUE(set.ok()) << set.status();
  // 256 header blocks + 2 × the smaller member's ring in whole chunks.
  const uint64_t ring0 = (4 << 20) - kRingStart;
  EXPECT_EQ((*set)->size(), kRingStart + 2 * (ring0 / kSeg * kSeg));

  // Header block 1: on every member.
  std::string hdr = Pattern(4096, 'h');
  AlignedBuffer hb(4096);
  std::memcpy(hb.data(), hdr.data(), 4096);
  ASSERT_TRUE((*set)->Write(4096, hb.data(), 4096).ok());
  EXPECT_EQ(m0.Image().substr(4096, 4096), hdr);
  EXPECT_EQ(m1.Image().substr(4096, 4096), hdr);

  // 192 KiB from the middle of chunk 0: crosses into chunks 1, 2 and 3.
  const uint64_t off = kRingStart + kSeg / 2;
  const size_t len = 3 * kSeg;
  std::string data = Pattern(len, 'd');
  AlignedBuffer buf(len);
  std::memcpy(buf.data(), data.data(), len);
  ASSERT_TRUE((*set)->Write(off, buf.data(), len).ok());
  AlignedBuffer back(len);
  ASSERT_TRUE((*set)->Read(off, back.data(), len).ok());
  EXPECT_EQ(std::string(back.data(), len), data);

  // The pieces landed where the map says.
  const std::string i0 = m0.Image(), i1 = m1.Image();
  const size_t h = kSeg / 2;
  EXPECT_EQ(i0.substr(kRingStart + h, h), data.substr(0, h));          // c0
  EXPECT_EQ(i1.substr(kRingStart, kSeg), data.substr(h, kSeg));        // c1
  EXPECT_EQ(i0.substr(kRingStart + kSeg, kSeg),                        // c2
            data.substr(h + kSeg, kSeg));
  EXPECT_EQ(i1.substr(kRingStart + kSeg, h),                           // c3
            data.substr(h + 2 * kSeg, h));
}

TEST(CacheSetTest, MirrorWritesReachEveryMember) {
  MemDevice m0(4 << 20, 512, "m0"), m1(4 << 20, 4096, "m1");
  auto set = CacheSet::CreateForFormat(Refs({&m0, &m1}), kLayoutMirror, kSeg);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->logical_block_size(), 4096u);
  std::string data = Pattern(8192, 'm');
  AlignedBuffer buf(8192);
  std::memcpy(buf.data(), data.data(), 8192);
  ASSERT_TRUE((*set)->Write(kRingStart + 40960, buf.data(), 8192).ok());
  ASSERT_TRUE((*set)->Flush().ok());
  EXPECT_EQ(m0.Image().substr(kRingStart + 40960, 8192), data);
  EXPECT_EQ(m1.Image().substr(kRingStart + 40960, 8192), data);
}

TEST(CacheSetTest, FormatGivesEachMemberItsOwnSuperblock) {
  MemDevice m0(4 << 20, 512, "m0"), m1(4 << 20, 512, "m1");
  MemDevice origin(kOriginSize, 512, "origin");
  ASSERT_TRUE(FormatCacheSet({&m0, &m1}, kLayoutMirror, origin, Options()).ok());
  Superblock s0 = MemberSuperblock(m0.Image());
  Superblock s1 = MemberSuperblock(m1.Image());
  EXPECT_EQ(s0.uuid, s1.uuid);
  EXPECT_EQ(s0.layout, kLayoutMirror);
  EXPECT_EQ(s0.nr_devices, 2u);
  EXPECT_EQ(s0.device_index, 0u);
  EXPECT_EQ(s1.device_index, 1u);
  EXPECT_EQ(s0.device_generation, 1u);
  EXPECT_NE(s0.member_uuid, s1.member_uuid);
  EXPECT_EQ(s0.slots[1].uuid, s1.member_uuid);
  EXPECT_EQ(s0.slots[0].state, kMemberInSync);
  EXPECT_EQ(s0.slots[1].state, kMemberInSync);
  EXPECT_EQ(s0.slots[2].state, kMemberAbsent);
  // A member alone is not a cache the core may open.
  auto alone = Volume::Open(std::make_unique<DeviceRef>(&m0),
                            std::make_unique<DeviceRef>(&origin), {});
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(alone.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(alone.status().message().find("member 0 of a 2-device mirror"),
            std::string::npos)
      << alone.status();
}

// A mirror of two whose member 1 can be made to fail.
class MirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        FormatCacheSet({&a_, &b_}, kLayoutMirror, origin_, Options()).ok());
  }
  std::unique_ptr<CacheSet> OpenSet(std::vector<Device*> devs,
                                    CacheSetOpenOptions o = {}) {
    auto set = CacheSet::Open(Refs(devs), o);
    EXPECT_TRUE(set.ok()) << set.status();
    return set.ok() ? std::move(*set) : nullptr;
  }
  absl::Status WriteAt(Device& d, uint64_t off, const std::string& data) {
    AlignedBuffer buf(data.size());
    std::memcpy(buf.data(), data.data(), data.size());
    return d.Write(off, buf.data(), data.size());
  }
  std::string ReadAt(Device& d, uint64_t off, size_t len) {
    AlignedBuffer buf(len);
    EXPECT_TRUE(d.Read(off, buf.data(), len).ok());
    return std::string(buf.data(), len);
  }

  CrashDevice a_{4 << 20, {.name = "a"}};
  MemDevice b_{4 << 20, 512, "b"};
  FaultDevice fa_{&a_};
  FaultDevice fb_{&b_};
  MemDevice origin_{kOriginSize, 512, "origin"};
};

TEST_F(MirrorTest, FailureIsDurableOnSurvivorBeforeTheWriteCompletes) {
  auto set = OpenSet({&a_, &fb_});
  ASSERT_NE(set, nullptr);
  fb_.FailAlways(FaultOp::kWrite);
  const std::string data = Pattern(4096, 'w');
  AlignedBuffer buf(4096);
  std::memcpy(buf.data(), data.data(), 4096);
  absl::Notification done;
  absl::Status status;
  std::string durable_at_ack;
  IoRequest req{IoOp::kWrite, kRingStart, 4096, buf.data()};
  set->Submit(req, [&](absl::Status s) {
    status = s;
    durable_at_ack = a_.DurableImage();  // what survives a power cut now
    done.Notify();
  });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status;
  Superblock sb = MemberSuperblock(durable_at_ack);
  EXPECT_EQ(sb.device_generation, 2u);
  EXPECT_EQ(sb.slots[0].state, kMemberInSync);
  EXPECT_EQ(sb.slots[1].state, kMemberFailed);
  EXPECT_EQ(sb.slots[1].changed_generation, 2u);
  EXPECT_EQ(ReadAt(*set, kRingStart, 4096), data);
  CacheSetStatus st = set->GetStatus();
  EXPECT_TRUE(st.degraded);
  EXPECT_EQ(st.generation, 2u);
  EXPECT_EQ(st.members[1].health, MemberHealth::kFailed);
  EXPECT_GE(st.members[1].errors, 1u);
  // b never got the write.
  EXPECT_NE(b_.Image().substr(kRingStart, 4096), data);
}

TEST_F(MirrorTest, LosingEveryMemberFailsTheIo) {
  FaultDevice fa(&a_);
  auto set = OpenSet({&fa, &fb_});
  ASSERT_NE(set, nullptr);
  fa.FailAlways(FaultOp::kAny);
  fb_.FailAlways(FaultOp::kAny);
  AlignedBuffer buf(4096);
  absl::Status s = set->Write(kRingStart, buf.data(), 4096);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("every member"), std::string::npos) << s;
}

TEST_F(MirrorTest, ReadFailsOverToTheOtherMember) {
  auto set = OpenSet({&fa_, &fb_});
  ASSERT_NE(set, nullptr);
  const std::string data = Pattern(4096, 'r');
  ASSERT_TRUE(WriteAt(*set, kRingStart, data).ok());
  fa_.FailAlways(FaultOp::kRead);  // a is the member reads go to first
  EXPECT_EQ(ReadAt(*set, kRingStart, 4096), data);
  EXPECT_EQ(fa_.injected(IoOp::kRead), 1u);
  EXPECT_EQ(set->GetStatus().members[0].health, MemberHealth::kFailed);
  EXPECT_EQ(MemberSuperblock(b_.Image()).slots[0].state, kMemberFailed);
}

// a (member 0, the one reads prefer) misses a write and becomes stale.
TEST_F(MirrorTest, StaleMemberIsNeverReadAndResilverBringsItBack) {
  const std::string old_data = Pattern(8192, 'o');
  const std::string new_data = Pattern(8192, 'n');
  {
    auto set = OpenSet({&fa_, &fb_});
    ASSERT_NE(set, nullptr);
    ASSERT_TRUE(WriteAt(*set, kRingStart, old_data).ok());
    fa_.FailAlways(FaultOp::kAny);
    ASSERT_TRUE(WriteAt(*set, kRingStart, new_data).ok());
    ASSERT_TRUE(set->Flush().ok());
  }
  fa_.ClearFaults();
  EXPECT_EQ(a_.Image().substr(kRingStart, 8192), old_data);

  // a alone: it believes b is in sync, and b may be newer: refused.
  auto alone = CacheSet::Open(Refs({&a_}));
  ASSERT_FALSE(alone.ok());
  EXPECT_EQ(alone.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(alone.status().message().find("was not given"), std::string::npos)
      << alone.status();
  // With both, a is stale and never read, in either order.
  for (bool swap : {false, true}) {
    auto set = swap ? OpenSet({&b_, &a_}) : OpenSet({&a_, &b_});
    ASSERT_NE(set, nullptr);
    CacheSetStatus st = set->GetStatus();
    EXPECT_EQ(st.members[0].health, MemberHealth::kStale);
    EXPECT_EQ(st.members[0].name, "a");
    EXPECT_EQ(st.members[1].health, MemberHealth::kInSync);
    EXPECT_EQ(ReadAt(*set, kRingStart, 8192), new_data);
  }

  auto set = OpenSet({&a_, &b_});
  ASSERT_NE(set, nullptr);
  ASSERT_TRUE(set->Resilver(0).ok());
  CacheSetStatus st = set->GetStatus();
  EXPECT_FALSE(st.degraded);
  EXPECT_EQ(st.generation, 3u);
  EXPECT_EQ(a_.Image().substr(kRingStart, 8192), new_data);
  // Everything but the two superblock copies now matches.
  const std::string ia = a_.Image(), ib = b_.Image();
  EXPECT_EQ(ia.substr(kBlockSize, 2 * kBlockSize),
            ib.substr(kBlockSize, 2 * kBlockSize));
  EXPECT_EQ(ia.substr(4 * kBlockSize), ib.substr(4 * kBlockSize));
  set.reset();

  // a is now trusted on its own (with b recorded missing).
  CacheSetOpenOptions force;
  force.allow_missing = true;
  auto a_only = OpenSet({&a_}, force);
  ASSERT_NE(a_only, nullptr);
  EXPECT_EQ(ReadAt(*a_only, kRingStart, 8192), new_data);
  EXPECT_EQ(a_only->GetStatus().members[1].health, MemberHealth::kFailed);
}

TEST_F(MirrorTest, BlankStandInIsFailedAndCanBeResilvered) {
  MemDevice blank(4 << 20, 512, "blank");
  auto set = OpenSet({&a_, &blank});
  ASSERT_NE(set, nullptr);
  CacheSetStatus st = set->GetStatus();
  EXPECT_EQ(st.members[1].health, MemberHealth::kFailed);
  EXPECT_EQ(st.generation, 2u);
  EXPECT_EQ(MemberSuperblock(a_.Image()).slots[1].state, kMemberFailed);
  ASSERT_TRUE(set->Resilver(1).ok());
  EXPECT_FALSE(set->GetStatus().degraded);
  Superblock sb = MemberSuperblock(blank.Image());
  EXPECT_EQ(sb.device_index, 1u);
  EXPECT_EQ(sb.device_generation, 3u);
}

TEST(CacheSetTest, StripeRefusesAMissingMember) {
  MemDevice m0(4 << 20, 512, "m0"), m1(4 << 20, 512, "m1");
  MemDevice origin(kOriginSize, 512, "origin");
  ASSERT_TRUE(FormatCacheSet({&m0, &m1}, kLayoutStripe, origin, Options()).ok());
  auto set = CacheSet::Open(Refs({&m1}));
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(set.status().message().find("stripe member 0"), std::string::npos)
      << set.status();
  MemDevice other(4 << 20, 512, "other");
  set = CacheSet::Open(Refs({&m1, &other}));
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().message().find("other is not a member"),
            std::string::npos)
      << set.status();
}

TEST(CacheSetTest, StripeMemberFailureFailsTheIoNamingIt) {
  MemDevice m0(4 << 20, 512, "m0"), m1(4 << 20, 512, "m1");
  FaultDevice f1(&m1);
  auto set = CacheSet::CreateForFormat(Refs({&m0, &f1}), kLayoutStripe, kSeg);
  ASSERT_TRUE(set.ok());
  f1.FailAlways(FaultOp::kWrite);
  AlignedBuffer buf(2 * kSeg);
  absl::Status s = (*set)->Write(kRingStart, buf.data(), 2 * kSeg);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("stripe member 1 (m1)"), std::string::npos) << s;
  EXPECT_NE(s.message().find("no redundancy"), std::string::npos) << s;
  EXPECT_EQ((*set)->GetStatus().members[1].health, MemberHealth::kFailed);
}

// Format, write, close, reopen through a Volume for each layout.
class CacheSetVolumeTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(CacheSetVolumeTest, DataSurvivesCloseAndReopen) {
  MemDevice m0(4 << 20, 512, "m0"), m1(6 << 20, 512, "m1");
  MemDevice origin(kOriginSize, 512, "origin");
  ASSERT_TRUE(FormatCacheSet({&m0, &m1}, GetParam(), origin, Options()).ok());
  OpenOptions oo;
  oo.origin_identity = "test-origin";
  oo.rambuf_size = 256 * 1024;
  oo.enable_writeback = false;  // keep the data in the cache set
  std::vector<std::string> written;
  {
    auto set = CacheSet::Open(Refs({&m0, &m1}));
    ASSERT_TRUE(set.ok()) << set.status();
    auto v = Volume::Open(std::move(*set), std::make_unique<DeviceRef>(&origin),
                          oo);
    ASSERT_TRUE(v.ok()) << v.status();
    for (int i = 0; i < 64; i++) {
      written.push_back(Pattern(16384, static_cast<char>('A' + i)));
      ASSERT_TRUE((*v)->Write(i * 16384 * 3 % kOriginSize, written.back(),
                              i % 7 == 0)
                      .ok());
    }
    ASSERT_TRUE((*v)->Flush().ok());
    ASSERT_TRUE((*v)->Close().ok());
  }
  // The log really is spread over (stripe) or copied to (mirror) both.
  const std::string i0 = m0.Image(), i1 = m1.Image();
  const std::string zero_chunk(kSeg, 0);
  EXPECT_NE(i0.substr(kRingStart, kSeg), zero_chunk);
  if (GetParam() == kLayoutStripe) {
    EXPECT_NE(i1.substr(kRingStart, kSeg), zero_chunk);
    EXPECT_NE(i0.substr(kRingStart, kSeg), i1.substr(kRingStart, kSeg));
  } else {
    EXPECT_EQ(i0.substr(kRingStart, 1 << 20), i1.substr(kRingStart, 1 << 20));
  }
  auto set = CacheSet::Open(Refs({&m1, &m0}));
  ASSERT_TRUE(set.ok()) << set.status();
  auto v = Volume::Open(std::move(*set), std::make_unique<DeviceRef>(&origin),
                        oo);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_GT((*v)->GetStatus().nr_dirty_cache_blocks, 0u);
  for (int i = 0; i < 64; i++) {
    std::string out(16384, 0);
    ASSERT_TRUE((*v)->Read(i * 16384 * 3 % kOriginSize, absl::MakeSpan(out))
                    .ok());
    // Later writes may overlap earlier ones; check only those not
    // overwritten afterwards.
    bool overwritten = false;
    for (int j = i + 1; j < 64; j++) {
      uint64_t a = i * 16384 * 3 % kOriginSize, b = j * 16384 * 3 % kOriginSize;
      overwritten |= a < b + 16384 && b < a + 16384;
    }
    if (!overwritten) {
      EXPECT_EQ(out, written[i]) << "write " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, CacheSetVolumeTest,
                         ::testing::Values(kLayoutStripe, kLayoutMirror),
                         [](const auto& info) {
                           return std::string(LayoutName(info.param));
                         });

}  // namespace
}  // namespace wb
