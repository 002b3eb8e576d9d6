#include "server/core/format/segment.h"

#include <cstring>

#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/format/progress.h"
#include "server/core/format/superblock.h"
#include "server/core/util/crc32c.h"

namespace wb {
namespace {

Geometry TestGeometry(uint32_t segment_size = kDefaultSegmentSize) {
  auto g = Geometry::Make(segment_size, 64ull << 20, 16ull << 20);
  EXPECT_TRUE(g.ok());
  return *g;
}

TEST(GeometryTest, MetaBlocksAsDocumented) {
  EXPECT_EQ(TestGeometry(512 * 1024).meta_blocks, 1u);
  EXPECT_EQ(TestGeometry(512 * 1024).max_data_blocks, 127u);
  EXPECT_EQ(TestGeometry(1024 * 1024).meta_blocks, 2u);
  EXPECT_EQ(TestGeometry(64 * 1024).meta_blocks, 1u);
}

TEST(GeometryTest, RefusesBadSegmentSizesWithTheRange) {
  for (uint32_t bad : {0u, 4096u, 3u * 65536u, 8u << 20}) {
    auto g = Geometry::Make(bad, 64ull << 20, 16ull << 20);
    ASSERT_FALSE(g.ok()) << bad;
    EXPECT_NE(g.status().message().find("power of two"), std::string::npos);
  }
}

TEST(GeometryTest, NextPosWrapsBeforeTheEnd) {
  Geometry g = TestGeometry(64 * 1024);  // 16-block segments
  EXPECT_EQ(g.NextPos(0, 5), 5u);
  uint64_t near_end = g.ring_blocks - 20;
  EXPECT_EQ(g.NextPos(near_end, 5), 0u);  // 15 left < 16
  EXPECT_EQ(g.NextPos(near_end, 4), near_end + 4);
}

TEST(GeometryTest, PartialLastOriginBlock) {
  auto g = Geometry::Make(kDefaultSegmentSize, 64ull << 20, (16ull << 20) + 1536);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->ValidSectorMask(g->origin_blocks - 1), 0x07);
  EXPECT_EQ(g->ValidSectorMask(0), 0xff);
}

class SegmentMetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    geo_ = TestGeometry();
    uuid_ = NewUuid();
    entries_ = {{7, 0xff, EntryKind::kDirty, 0x11223344, 0},
                {9, 0x0f, EntryKind::kDirty, 0x55667788, 0},
                {4095, 0x80, EntryKind::kDirty, 0x99aabbcc, 0}};
    meta_ = AlignedBuffer(geo_.meta_blocks * kBlockSize);
    EncodeSegmentMeta(42, uuid_, 40, 3, kSegmentStartsEpoch, entries_, geo_,
                      meta_.data());
  }
  Geometry geo_;
  Uuid uuid_;
  std::vector<SegmentEntry> entries_;
  AlignedBuffer meta_;
};

TEST_F(SegmentMetaTest, RoundTrip) {
  auto h = DecodeSegmentMeta(meta_.data(), geo_, uuid_);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->id, 42u);
  EXPECT_EQ(h->durable_through, 40u);
  EXPECT_EQ(h->gen, 3u);
  EXPECT_TRUE(h->starts_epoch());
  EXPECT_EQ(h->data_blocks, 3u);
  ASSERT_EQ(h->entries.size(), 3u);
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(h->entries[i].origin_block, entries_[i].origin_block);
    EXPECT_EQ(h->entries[i].mask, entries_[i].mask);
    EXPECT_EQ(h->entries[i].data_crc, entries_[i].data_crc);
  }
  EXPECT_EQ(PeekSegmentId(meta_.data()), 42u);
}

// Every bit of the header and the used entries is covered: flipping any
// one of them must make the segment unacceptable.
TEST_F(SegmentMetaTest, AnyFlippedBitIsRejected) {
  size_t covered = kSegmentHeaderSize + entries_.size() * kEntrySize;
  for (size_t byte = 0; byte < covered; byte++) {
    for (int bit = 0; bit < 8; bit++) {
      meta_.data()[byte] ^= static_cast<char>(1 << bit);
      auto h = DecodeSegmentMeta(meta_.data(), geo_, uuid_);
      EXPECT_FALSE(h.ok()) << "byte " << byte << " bit " << bit;
      if (h.ok()) return;
      EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss);
      meta_.data()[byte] ^= static_cast<char>(1 << bit);
    }
  }
  EXPECT_TRUE(DecodeSegmentMeta(meta_.data(), geo_, uuid_).ok());
}

TEST_F(SegmentMetaTest, OtherCacheSetIsRejected) {
  auto h = DecodeSegmentMeta(meta_.data(), geo_, NewUuid());
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("another cache set"), std::string::npos);
}

TEST_F(SegmentMetaTest, EntryBeyondOriginIsRejected) {
  std::vector<SegmentEntry> bad = {{geo_.origin_blocks, 0xff, EntryKind::kDirty, 0, 0}};
  EncodeSegmentMeta(1, uuid_, 0, 1, 0, bad, geo_, meta_.data());
  EXPECT_FALSE(DecodeSegmentMeta(meta_.data(), geo_, uuid_).ok());
}

// FORMAT.md: header bytes 60-63 are reserved and zero. A header that is
// otherwise valid, checksum included, is still refused when they are not.
TEST_F(SegmentMetaTest, HeaderReservedBytesMustBeZero) {
  meta_.data()[61] = 1;
  size_t covered = kSegmentHeaderSize - 8 + entries_.size() * kEntrySize;
  uint32_t crc = Crc32c(meta_.data() + 8, covered);
  std::memcpy(meta_.data() + 4, &crc, 4);  // little-endian, as PutFixed32
  auto h = DecodeSegmentMeta(meta_.data(), geo_, uuid_);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(h.status().message().find("60-63"), std::string::npos) << h.status();
}

TEST_F(SegmentMetaTest, EmptyMaskIsRejected) {
  std::vector<SegmentEntry> bad = {{1, 0, EntryKind::kDirty, 0, 0}};
  EncodeSegmentMeta(1, uuid_, 0, 1, 0, bad, geo_, meta_.data());
  EXPECT_FALSE(DecodeSegmentMeta(meta_.data(), geo_, uuid_).ok());
}

TEST(SuperblockTest, RoundTripAndVersionChecks) {
  Superblock sb;
  sb.version = kFormatVersion;
  sb.uuid = NewUuid();
  sb.segment_size = kDefaultSegmentSize;
  sb.ring_blocks = 1000;
  sb.origin_size = 1 << 30;
  sb.origin_identity = "xattr:1234";
  AlignedBuffer block(kBlockSize);
  sb.EncodeTo(block.data());
  auto back = Superblock::Decode(block.data());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->uuid, sb.uuid);
  EXPECT_EQ(back->origin_identity, "xattr:1234");
  EXPECT_EQ(back->ring_blocks, 1000u);

  sb.version = kFormatVersion + 1;
  sb.EncodeTo(block.data());
  auto newer = Superblock::Decode(block.data());
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.status().message().find("newer"), std::string::npos);

  sb.version = kFormatVersion;
  sb.EncodeTo(block.data());
  block.data()[200] ^= 1;
  EXPECT_EQ(Superblock::Decode(block.data()).status().code(),
            absl::StatusCode::kDataLoss);
  std::memset(block.data(), 0, kBlockSize);
  EXPECT_NE(Superblock::Decode(block.data()).status().message().find(
                "not a writeboost cache"),
            std::string::npos);
}

TEST(ProgressRecordTest, RoundTripAndCorruption) {
  ProgressRecord r;
  r.seq = 5;
  r.uuid = NewUuid();
  r.last_writeback_id = 77;
  r.next_pos = 1234;
  r.gen = 9;
  r.gen_start_id = 70;
  r.tunables.writeback_threshold = 33;
  AlignedBuffer block(kBlockSize);
  r.EncodeTo(block.data());
  auto back = ProgressRecord::Decode(block.data(), r.uuid);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->last_writeback_id, 77u);
  EXPECT_EQ(back->gen_start_id, 70u);
  EXPECT_EQ(back->tunables, r.tunables);
  EXPECT_EQ(back->copy(), 1);
  block.data()[40] ^= 4;
  EXPECT_FALSE(ProgressRecord::Decode(block.data(), r.uuid).ok());
}

}  // namespace
}  // namespace wb
