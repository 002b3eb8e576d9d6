// Writeback never sizes memory by a field read from the cache, and
// recovery refuses what the format reserves (docs/FORMAT.md, Entry). Each
// case used to kill the process (a 16 TiB allocation, bad_alloc), so each
// runs in a child process that must exit normally.
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/format/layout.h"
#include "server/core/format/segment.h"
#include "server/core/recovery.h"
#include "server/core/util/crc32c.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr char kIdentity[] = "uuid:segment-bounds";

// An origin of any size that keeps only the blocks written to it (reads of
// the rest are zeroes).
class SparseDevice final : public Device {
 public:
  explicit SparseDevice(uint64_t size) : size_(size) {}
  uint64_t size() const override { return size_; }
  uint32_t logical_block_size() const override { return 512; }
  std::string name() const override { return "sparse-origin"; }
  void Submit(const IoRequest& req, IoCallback done) override {
    char* buf = static_cast<char*>(req.buf);
    absl::MutexLock l(&mu_);
    for (uint64_t at = 0; at < req.length; at += 512) {
      if (req.op == IoOp::kWrite) {
        sectors_[(req.offset + at) / 512].assign(buf + at, 512);
      } else if (req.op == IoOp::kRead) {
        auto it = sectors_.find((req.offset + at) / 512);
        if (it == sectors_.end()) {
          std::memset(buf + at, 0, 512);
        } else {
          std::memcpy(buf + at, it->second.data(), 512);
        }
      }
    }
    std::move(done)(absl::OkStatus());
  }

 private:
  const uint64_t size_;
  absl::Mutex mu_;
  std::map<uint64_t, std::string> sectors_ ABSL_GUARDED_BY(mu_);
};

class SegmentBoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }

  // A cache of 2 MiB formatted for an origin of origin_size bytes.
  void Format(uint64_t origin_size) {
    cache_ = std::make_unique<MemDevice>(2 << 20);
    origin_ = std::make_unique<SparseDevice>(origin_size);
    FormatOptions f;
    f.segment_size = 64 << 10;
    f.origin_identity = kIdentity;
    ASSERT_TRUE(FormatCache(*cache_, *origin_, f).ok());
  }

  absl::StatusOr<std::unique_ptr<Volume>> Open(bool writeback = true) {
    OpenOptions o;
    o.enable_writeback = writeback;
    o.origin_identity = kIdentity;
    o.rambuf_size = 256 << 10;
    o.io_timeout = absl::Seconds(10);
    return Volume::Open(std::make_unique<DeviceRef>(cache_.get()),
                        std::make_unique<DeviceRef>(origin_.get()), o);
  }

  // Rewrites the metadata of the segment at ring position pos with entries
  // changed by edit, crc and all.
  template <typename Edit>
  void EditSegment(uint64_t pos, Edit edit) {
    absl::StatusOr<CacheHead> head = ReadCacheHead(*cache_);
    ASSERT_TRUE(head.ok()) << head.status();
    const Geometry& g = head->geo;
    std::string meta(uint64_t{g.meta_blocks} * kBlockSize, '\0');
    ASSERT_TRUE(ReadAny(*cache_, Geometry::RingOffset(pos), meta.data(), meta.size()).ok());
    absl::StatusOr<SegmentHeader> h = DecodeSegmentMeta(meta.data(), g, head->sb.uuid);
    ASSERT_TRUE(h.ok()) << h.status();
    edit(&h->entries);
    EncodeSegmentMeta(h->id, head->sb.uuid, h->durable_through, h->gen, h->flags,
                      h->entries, g, meta.data());
    ASSERT_TRUE(WriteSectors(*cache_, Geometry::RingOffset(pos), meta.data(), meta.size()).ok());
  }

  std::unique_ptr<MemDevice> cache_;
  std::unique_ptr<SparseDevice> origin_;
};

// A LAYOUT entry (reserved) with the largest aux, behind a dirty block:
// recovery used to accept it and writeback sized its staging buffer by it.
// Now the segment is refused, as the end of the log.
TEST_F(SegmentBoundsTest, ReservedLayoutEntryIsRefused) {
  Format(1 << 20);
  {
    // Without writeback, so the block stays dirty on the cache.
    auto v = Open(/*writeback=*/false);
    ASSERT_TRUE(v.ok()) << v.status();
    const std::string data(kBlockSize, 'd');
    ASSERT_TRUE((*v)->Write(0, data, /*fua=*/true).ok());
    ASSERT_TRUE((*v)->Close().ok());
  }
  EditSegment(0, [](std::vector<SegmentEntry>* entries) {
    entries->push_back({7, 0xff, EntryKind::kLayout, 0, 0xffffffffu});
  });
  absl::StatusOr<CacheHead> head = ReadCacheHead(*cache_);
  ASSERT_TRUE(head.ok());
  absl::StatusOr<ReplayReport> report = ReplayLog(*cache_, *head, {}, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->segments_accepted, 0u);
  EXPECT_NE(report->stop_reason.find("reserved kind"), std::string::npos)
      << report->stop_reason;
  EXPECT_EXIT(
      {
        auto v = Open();
        if (!v.ok()) std::exit(2);
        absl::Status drained = (*v)->DropCaches(nullptr);
        std::exit(drained.ok() ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

// Data entries carry no aux: a non-zero one is refused like a bad kind.
TEST_F(SegmentBoundsTest, DataEntryWithAuxIsRefused) {
  Format(1 << 20);
  {
    auto v = Open(/*writeback=*/false);
    ASSERT_TRUE(v.ok()) << v.status();
    const std::string data(kBlockSize, 'd');
    ASSERT_TRUE((*v)->Write(0, data, /*fua=*/true).ok());
    ASSERT_TRUE((*v)->Close().ok());
  }
  EditSegment(0, [](std::vector<SegmentEntry>* entries) {
    (*entries)[0].aux = 0xffffffffu;
  });
  absl::StatusOr<CacheHead> head = ReadCacheHead(*cache_);
  ASSERT_TRUE(head.ok());
  absl::StatusOr<ReplayReport> report = ReplayLog(*cache_, *head, {}, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->segments_accepted, 0u) << "a DIRTY entry with aux was accepted";
}

// A ZERO run whose length on the cache changed after it was indexed (here
// to 2^32 - 1 blocks of a 16 TiB origin, which the format allows): the
// batch is refused as corrupt and the volume fails cleanly, instead of
// staging a block per run block.
TEST_F(SegmentBoundsTest, ZeroRunLongerThanIndexedFailsCleanly) {
  Format(uint64_t{1} << 44);
  EXPECT_EXIT(
      {
        auto v = Open();
        if (!v.ok()) std::exit(2);
        if (!(*v)->SetTunable("writeback_threshold", 0).ok()) std::exit(3);
        if (!(*v)->WriteZeroes(0, kBlockSize, /*fua=*/true).ok()) std::exit(4);
        if ((*v)->GetStatus().zero_blocks != 1) std::exit(5);
        EditSegment(0, [](std::vector<SegmentEntry>* entries) {
          for (SegmentEntry& e : *entries) {
            if (e.kind == EntryKind::kZero) e.aux = 0xffffffffu;
          }
        });
        absl::Status drained = (*v)->DropCaches(nullptr);
        if (drained.ok()) std::exit(6);
        VolumeStatus st = (*v)->GetStatus();
        std::exit(st.failed && st.failure.find("corrupt") != std::string::npos ? 0 : 7);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace wb
