// The superblock and progress-record rules of docs/FORMAT.md, one test per
// rule, each named after it. Images are formatted for real and then patched
// (checksum recomputed, so that only the rule under test is broken).
#include <cstring>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/cache_set.h"
#include "server/core/device/mem_device.h"
#include "server/core/format/layout.h"
#include "server/core/format/progress.h"
#include "server/core/format/superblock.h"
#include "server/core/recovery.h"
#include "server/core/util/coding.h"
#include "server/core/util/crc32c.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kCacheSize = 4 << 20;
constexpr uint64_t kOriginSize = 1 << 20;
constexpr uint32_t kSeg = 64 * 1024;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

class FormatRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FormatOptions fo;
    fo.segment_size = kSeg;
    fo.origin_identity = "test-origin";
    ASSERT_TRUE(FormatCache(cache_, origin_, fo).ok());
  }

  std::string Block(uint64_t b) {
    AlignedBuffer buf(kBlockSize);
    EXPECT_TRUE(cache_.Read(b * kBlockSize, buf.data(), kBlockSize).ok());
    return std::string(buf.data(), kBlockSize);
  }
  // Writes block b back with a valid checksum over the patched bytes.
  void PutBlock(uint64_t b, std::string block) {
    PutFixed32(block.data() + 4, Crc32c(block.data() + 8, kBlockSize - 8));
    AlignedBuffer buf(kBlockSize);
    std::memcpy(buf.data(), block.data(), kBlockSize);
    ASSERT_TRUE(cache_.Write(b * kBlockSize, buf.data(), kBlockSize).ok());
  }
  void Patch32(uint64_t b, size_t off, uint32_t v) {
    std::string blk = Block(b);
    PutFixed32(blk.data() + off, v);
    PutBlock(b, blk);
  }
  void Patch64(uint64_t b, size_t off, uint64_t v) {
    std::string blk = Block(b);
    PutFixed64(blk.data() + off, v);
    PutBlock(b, blk);
  }
  void PatchByte(uint64_t b, size_t off, char v) {
    std::string blk = Block(b);
    blk[off] = v;
    PutBlock(b, blk);
  }
  // Both progress copies (format writes seq 0 and 1).
  void PatchProgress64(size_t off, uint64_t v) {
    Patch64(kProgressBlock[0], off, v);
    Patch64(kProgressBlock[1], off, v);
  }
  absl::Status Head() { return ReadCacheHead(cache_).status(); }

  MemDevice cache_{kCacheSize, 512, "cache"};
  MemDevice origin_{kOriginSize, 512, "origin"};
};

// --- Superblock (recovery rule 1 and the superblock table) ---

TEST_F(FormatRulesTest, FormattedCacheIsAccepted) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(cache_);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->progress_copies_valid, 2);
  EXPECT_EQ(head->progress.seq, 1u);
}

TEST_F(FormatRulesTest, SuperblockBadMagicIsNotAWriteboostCache) {
  std::string b = Block(0);
  b[0] ^= 1;
  PutBlock(0, b);
  EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(Msg(Head()).find("not a writeboost cache"), std::string::npos);
}

TEST_F(FormatRulesTest, SuperblockBadCrcIsRefused) {
  std::string b = Block(0);
  b[100] ^= 1;
  AlignedBuffer buf(kBlockSize);
  std::memcpy(buf.data(), b.data(), kBlockSize);  // crc left stale
  ASSERT_TRUE(cache_.Write(0, buf.data(), kBlockSize).ok());
  EXPECT_EQ(Head().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FormatRulesTest, SuperblockVersionZeroIsRefused) {
  Patch32(0, 8, 0);
  EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(Msg(Head()).find("version 0"), std::string::npos) << Head();
}

TEST_F(FormatRulesTest, SuperblockNewerVersionIsRefusedNamingBoth) {
  Patch32(0, 8, kFormatVersion + 1);
  EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(Msg(Head()).find("version 2 is newer"), std::string::npos);
  EXPECT_NE(Msg(Head()).find("(1)"), std::string::npos) << Head();
}

TEST_F(FormatRulesTest, SuperblockOtherBlockSizeIsRefused) {
  Patch32(0, 12, 512);
  EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FormatRulesTest, SuperblockOtherRingStartIsRefused) {
  Patch32(0, 36, 128);
  EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FormatRulesTest, SuperblockSegmentSizeOutOfRangeIsRefused) {
  for (uint32_t bad : {32u * 1024, 8u << 20, 3u * 64 * 1024}) {
    Patch32(0, 32, bad);
    EXPECT_FALSE(Head().ok()) << bad;
  }
}

TEST_F(FormatRulesTest, SuperblockRingBlocksMustMatchTheDevice) {
  std::string b = Block(0);
  Patch64(0, 40, GetFixed64(b.data() + 40) - 1);
  EXPECT_NE(Msg(Head()).find("size changed since format"), std::string::npos)
      << Head();
}

TEST_F(FormatRulesTest, SuperblockOtherOriginIsRefused) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(cache_);
  ASSERT_TRUE(head.ok());
  EXPECT_TRUE(CheckOrigin(head->sb, kOriginSize, "test-origin").ok());
  EXPECT_FALSE(CheckOrigin(head->sb, kOriginSize + 4096, "test-origin").ok());
  EXPECT_FALSE(CheckOrigin(head->sb, kOriginSize, "test-origin2").ok());
}

TEST_F(FormatRulesTest, SuperblockUnknownLayoutIsRefused) {
  Patch32(0, 64, 3);
  EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition);
}

// Fields 68 … 95 and the member slots of a single device are fixed.
TEST_F(FormatRulesTest, SuperblockSingleDeviceMembershipFieldsAreFixed) {
  const std::string good = Block(0);
  struct Case {
    size_t off;
    uint32_t v;
  };
  for (Case c : {Case{68, 2}, Case{72, 1}, Case{76, 2}, Case{76, 0},
                 Case{80, 1}, Case{92, 1}, Case{224, 1}, Case{240, 1},
                 Case{244, 1}, Case{224 + 15 * 32, 1}}) {
    std::string b = good;
    PutFixed32(b.data() + c.off, c.v);
    PutBlock(0, b);
    EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition)
        << "offset " << c.off;
  }
  PutBlock(0, good);
  EXPECT_TRUE(Head().ok());
}

TEST_F(FormatRulesTest, SuperblockTrailingBytesMustBeZero) {
  for (size_t off : {size_t{736}, size_t{2000}, size_t{4095}}) {
    std::string b = Block(0);
    PatchByte(0, off, 1);
    EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition) << off;
    EXPECT_NE(Msg(Head()).find("736"), std::string::npos) << Head();
    PatchByte(0, off, 0);
  }
  EXPECT_TRUE(Head().ok());
}

TEST_F(FormatRulesTest, SuperblockOriginIdentityIsNulPadded) {
  // "test-origin" is 11 bytes at 96: a byte after its NUL is refused.
  PatchByte(0, 96 + 20, 'x');
  EXPECT_NE(Msg(Head()).find("NUL-padded"), std::string::npos) << Head();
  PatchByte(0, 96 + 20, 0);
  // 128 bytes with no NUL at all: the writer never writes more than 127.
  std::string b = Block(0);
  std::memset(b.data() + 96, 'a', kOriginIdentityMax);
  PutBlock(0, b);
  EXPECT_NE(Msg(Head()).find("NUL-padded"), std::string::npos) << Head();
}

TEST(SuperblockWriter, WritesZeroesWhereTheFormatSaysZero) {
  Superblock sb;
  sb.version = kFormatVersion;
  sb.segment_size = kSeg;
  sb.ring_blocks = 1000;
  sb.origin_size = kOriginSize;
  sb.origin_identity = std::string(200, 'i');  // longer than the field
  for (auto& slot : sb.slots) {  // junk the writer must not put on disk
    slot.uuid = NewUuid();
    slot.state = kMemberInSync;
    slot.changed_generation = 7;
  }
  AlignedBuffer block(kBlockSize);
  sb.EncodeTo(block.data());
  const char* p = block.data();
  for (size_t i = 224; i < kBlockSize; i++) ASSERT_EQ(p[i], 0) << i;
  EXPECT_EQ(p[96 + kOriginIdentityMax - 1], 0);
  EXPECT_TRUE(Superblock::Decode(p).ok());

  // A set of two: slots 2 … 15 and every slot's bytes 24 … 31 stay zero.
  sb.layout = kLayoutMirror;
  sb.nr_devices = 2;
  sb.EncodeTo(block.data());
  for (size_t i = 224 + 2 * 32; i < kBlockSize; i++) ASSERT_EQ(p[i], 0) << i;
  for (size_t s = 0; s < 2; s++) {
    for (size_t i = 24; i < 32; i++) ASSERT_EQ(p[224 + s * 32 + i], 0);
  }
  EXPECT_TRUE(Superblock::DecodeAnyLayout(p).ok());
}

// A member superblock of a mirror, encoded by hand.
std::string MemberBlock(uint32_t nr_devices, uint32_t index = 0) {
  Superblock sb;
  sb.version = kFormatVersion;
  sb.uuid = NewUuid();
  sb.segment_size = kSeg;
  sb.ring_blocks = 1000;
  sb.origin_size = kOriginSize;
  sb.layout = kLayoutMirror;
  sb.nr_devices = nr_devices;
  sb.device_index = index;
  sb.member_uuid = NewUuid();
  for (uint32_t i = 0; i < nr_devices && i < kMaxCacheDevices; i++) {
    sb.slots[i].uuid = i == index ? sb.member_uuid : NewUuid();
    sb.slots[i].state = kMemberInSync;
    sb.slots[i].changed_generation = 1;
  }
  std::string out(kBlockSize, 0);
  sb.EncodeTo(out.data());
  return out;
}

void Recrc(std::string* b) {
  PutFixed32(b->data() + 4, Crc32c(b->data() + 8, kBlockSize - 8));
}

// "2 … 16" is what a format writes; a set of one, which formats before
// that rule could write, is still read.
TEST(CacheSetRule, SetHasTwoToSixteenDevicesAndOneIsStillRead) {
  EXPECT_TRUE(Superblock::DecodeAnyLayout(MemberBlock(2).data()).ok());
  EXPECT_TRUE(Superblock::DecodeAnyLayout(MemberBlock(16, 15).data()).ok());
  EXPECT_TRUE(Superblock::DecodeAnyLayout(MemberBlock(1).data()).ok());
  for (uint32_t bad : {0u, 17u}) {
    std::string b = MemberBlock(2);
    PutFixed32(b.data() + 68, bad);
    Recrc(&b);
    EXPECT_EQ(Superblock::DecodeAnyLayout(b.data()).status().code(),
              absl::StatusCode::kFailedPrecondition)
        << bad;
  }
  absl::StatusOr<std::unique_ptr<CacheSet>> one = CacheSet::CreateForFormat(
      [&] {
        std::vector<std::unique_ptr<Device>> v;
        v.push_back(std::make_unique<MemDevice>(kCacheSize, 512, "m"));
        return v;
      }(),
      kLayoutMirror, kSeg);
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(one.status()).find("2 to 16"), std::string::npos)
      << one.status();
}

TEST(CacheSetRule, MemberIndexIsBelowTheDeviceCount) {
  std::string b = MemberBlock(2, 1);
  PutFixed32(b.data() + 72, 2);
  Recrc(&b);
  EXPECT_FALSE(Superblock::DecodeAnyLayout(b.data()).ok());
}

TEST(CacheSetRule, SlotsBelowTheCountAreUsedAndTheRestZero) {
  std::string b = MemberBlock(2);
  PutFixed32(b.data() + 224 + 32 + 16, kMemberAbsent);  // slot 1 unused
  Recrc(&b);
  EXPECT_FALSE(Superblock::DecodeAnyLayout(b.data()).ok());
  b = MemberBlock(2);
  PutFixed32(b.data() + 224 + 2 * 32 + 16, kMemberInSync);  // slot 2 used
  Recrc(&b);
  EXPECT_FALSE(Superblock::DecodeAnyLayout(b.data()).ok());
  b = MemberBlock(2);
  PutFixed32(b.data() + 224 + 32 + 16, 3);  // unknown state
  Recrc(&b);
  EXPECT_FALSE(Superblock::DecodeAnyLayout(b.data()).ok());
  b = MemberBlock(2);
  b[224 + 5 * 32] = 1;  // a unused slot's uuid
  Recrc(&b);
  EXPECT_FALSE(Superblock::DecodeAnyLayout(b.data()).ok());
  b = MemberBlock(2);
  b[224 + 32 + 24] = 1;  // a used slot's reserved bytes
  Recrc(&b);
  EXPECT_FALSE(Superblock::DecodeAnyLayout(b.data()).ok());
}

TEST(CacheSetRule, MemberOpenedAloneIsRefused) {
  absl::StatusOr<Superblock> sb = Superblock::Decode(MemberBlock(2).data());
  ASSERT_FALSE(sb.ok());
  EXPECT_NE(Msg(sb.status()).find("member 0 of a 2-device mirror"),
            std::string::npos);
}

// --- Progress record (recovery rule 2 and the progress table) ---

TEST_F(FormatRulesTest, ProgressValidCopyWithHighestSeqIsTaken) {
  Patch64(kProgressBlock[0], 8, 4);  // copy 0 now seq 4, copy 1 seq 1
  Patch64(kProgressBlock[0], 32, 0);
  absl::StatusOr<CacheHead> head = ReadCacheHead(cache_);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->progress.seq, 4u);
  // A torn copy 0 (bad crc) leaves copy 1.
  std::string b = Block(kProgressBlock[0]);
  b[40] ^= 1;
  AlignedBuffer buf(kBlockSize);
  std::memcpy(buf.data(), b.data(), kBlockSize);
  ASSERT_TRUE(cache_.Write(kProgressBlock[0] * kBlockSize, buf.data(),
                           kBlockSize).ok());
  head = ReadCacheHead(cache_);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->progress.seq, 1u);
  EXPECT_EQ(head->progress_copies_valid, 1);
}

TEST_F(FormatRulesTest, ProgressNeitherCopyValidIsRefused) {
  for (uint64_t blk : kProgressBlock) {
    std::string b = Block(blk);
    b[0] ^= 1;
    PutBlock(blk, b);
  }
  EXPECT_EQ(Head().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FormatRulesTest, ProgressOfAnotherCacheSetIsNotValid) {
  for (uint64_t blk : kProgressBlock) {
    std::string b = Block(blk);
    b[16] ^= 1;
    PutBlock(blk, b);
  }
  EXPECT_EQ(Head().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FormatRulesTest, ProgressNextPosInTheRingTailIsRefused) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(cache_);
  ASSERT_TRUE(head.ok());
  const uint64_t last_ok = head->geo.ring_blocks - head->geo.seg_blocks;
  PatchProgress64(40, last_ok);
  EXPECT_TRUE(Head().ok()) << Head();
  PatchProgress64(40, last_ok + 1);
  EXPECT_EQ(Head().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FormatRulesTest, ProgressIdOrGenerationOf2To62IsRefused) {
  PatchProgress64(32, (uint64_t{1} << 62) - 1);
  PatchProgress64(56, (uint64_t{1} << 62));
  EXPECT_TRUE(Head().ok()) << Head();
  PatchProgress64(32, uint64_t{1} << 62);
  EXPECT_EQ(Head().code(), absl::StatusCode::kDataLoss);
  PatchProgress64(32, 0);
  PatchProgress64(56, 1);
  PatchProgress64(48, uint64_t{1} << 62);
  EXPECT_EQ(Head().code(), absl::StatusCode::kDataLoss);
}

TEST_F(FormatRulesTest, ProgressGenStartIdBeyondTheRingIsRefused) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(cache_);
  ASSERT_TRUE(head.ok());
  const uint64_t ring = head->geo.ring_blocks;
  PatchProgress64(32, 10);            // last_writeback_id
  PatchProgress64(56, 10 + 1 + ring);  // the largest allowed
  EXPECT_TRUE(Head().ok()) << Head();
  PatchProgress64(56, 10 + 2 + ring);
  EXPECT_EQ(Head().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(Msg(Head()).find("inconsistent"), std::string::npos) << Head();
}

TEST_F(FormatRulesTest, ProgressInvalidStoredTunablesAreRefused) {
  Patch32(kProgressBlock[0], 64, 1000);  // writeback_threshold > 100 %
  Patch32(kProgressBlock[1], 64, 1000);
  EXPECT_EQ(Head().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(Msg(Head()).find("tunables"), std::string::npos) << Head();
}

TEST_F(FormatRulesTest, ProgressReservedBytesMustBeZero) {
  // In either copy, and even when the other copy is valid: a checksum that
  // covers bytes this reader does not know is not a torn write.
  for (size_t off : {size_t{104}, size_t{127}, size_t{128}, size_t{4095}}) {
    PatchByte(kProgressBlock[0], off, 1);
    EXPECT_EQ(Head().code(), absl::StatusCode::kFailedPrecondition) << off;
    EXPECT_NE(Msg(Head()).find("reserved"), std::string::npos) << Head();
    PatchByte(kProgressBlock[0], off, 0);
  }
  EXPECT_TRUE(Head().ok());
}

TEST(ProgressWriter, WritesZeroesWhereTheFormatSaysZero) {
  ProgressRecord r;
  r.seq = 3;
  r.uuid = NewUuid();
  AlignedBuffer block(kBlockSize);
  std::memset(block.data(), 0x5a, kBlockSize);
  r.EncodeTo(block.data());
  for (size_t i = 104; i < kBlockSize; i++) ASSERT_EQ(block.data()[i], 0) << i;
  EXPECT_TRUE(ProgressRecord::Decode(block.data(), r.uuid).ok());
}

}  // namespace
}  // namespace wb
