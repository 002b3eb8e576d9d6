// Cache faults: a failed cache write or flush fails the volume (clearly,
// without hanging), and acknowledged data stays readable. A failed cache
// read is a cache error: it fails only that read, or writeback retries it
// a few times and then fails the volume the same safe way.
#include <cstring>
#include "tests/crash/io_fault_fixture.h"

namespace wb {
namespace {

// After the volume has failed: status says so, writes and flushes are
// refused, and every acknowledged byte still reads back.
void ExpectFailedButReadable(IoFaultTest* t) {
  ASSERT_TRUE(WaitFor([&] { return t->Status().failed; }))
      << "the volume did not enter the failed state";
  VolumeStatus st = t->Status();
  EXPECT_FALSE(st.failure.empty());
  EXPECT_GE(st.cache_errors, 1u);
  std::string data(4096, 'x');
  auto w = Bounded([&] { return t->volume_->Write(0, data, false); });
  ASSERT_TRUE(w.has_value());
  EXPECT_FALSE(w->ok()) << "a failed volume accepted a write";
  auto f = Bounded([&] { return t->volume_->Flush(); });
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->ok()) << "a failed volume acknowledged a flush";
  t->ExpectVolumeMatchesModel();
  // Closing a failed volume reports the failure and returns.
  auto c = Bounded([&] { return t->volume_->Close(); });
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->ok());
}

// Acknowledged data in three places: written and flushed, written to the
// cache but not flushed, and still in RAM.
void WriteAcknowledgedData(IoFaultTest* t) {
  ASSERT_TRUE(t->WriteData(0, 64 << 10, /*fua=*/true).ok());
  ASSERT_TRUE(t->WriteData(128 << 10, 60 << 10).ok());
  ASSERT_TRUE(t->WriteData(256 << 10, 8 << 10).ok());
}

class CacheFaultTest : public IoFaultTest,
                       public ::testing::WithParamInterface<bool> {};

TEST_P(CacheFaultTest, CacheWriteErrorFailsTheVolume) {
  Open();
  WriteAcknowledgedData(this);
  if (GetParam()) {
    cache_->FailAlways(FaultOp::kWrite);
  } else {
    cache_->FailNext(FaultOp::kWrite, 1);
  }
  // The next segment write fails; the FUA write riding on it must not be
  // acknowledged.
  const uint64_t failed_id = next_id_;
  absl::Status st = WriteData(512 << 10, 4096, /*fua=*/true);
  EXPECT_FALSE(st.ok()) << "FUA acknowledged over a failed cache write";
  // A write that failed leaves its range undefined (as on a real disk):
  // each sector reads as before or as the failed write's data, never
  // anything else. The model takes whichever the volume holds.
  std::string got(4096, 0);
  auto r = Bounded([&] { return volume_->Read(512 << 10, absl::MakeSpan(got)); });
  ASSERT_TRUE(r.has_value() && r->ok());
  for (uint64_t s = 0; s < 8; s++) {
    char fresh[512];
    crash::FillSector((512 << 10) / 512 + s, failed_id, fresh);
    bool old = got.compare(s * 512, 512, model_, (512 << 10) + s * 512, 512) == 0;
    bool now = std::memcmp(got.data() + s * 512, fresh, 512) == 0;
    ASSERT_TRUE(old || now) << "sector " << s << " of the failed write holds garbage";
  }
  model_.replace(512 << 10, 4096, got);
  ExpectFailedButReadable(this);
}

TEST_P(CacheFaultTest, CacheFlushErrorFailsTheVolume) {
  Open();
  WriteAcknowledgedData(this);
  if (GetParam()) {
    cache_->FailAlways(FaultOp::kFlush);
  } else {
    cache_->FailNext(FaultOp::kFlush, 1);
  }
  auto f = Bounded([&] { return volume_->Flush(); });
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->ok()) << "Flush acknowledged over a failed device flush";
  ExpectFailedButReadable(this);
}

INSTANTIATE_TEST_SUITE_P(TransientAndPersistent, CacheFaultTest,
                         ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? "Persistent" : "Transient";
                         });

// A failed cache read on the read path fails that read only, and counts as
// a cache error (never an origin one).
TEST_F(IoFaultTest, CacheReadErrorOnReadIsACacheError) {
  Open();
  ASSERT_TRUE(WriteData(0, 64 << 10, /*fua=*/true).ok());
  // Once written back, the blocks stay in the cache as clean copies and
  // writeback reads nothing more: the read below is the only cache read.
  ExpectDrainedToModel();
  cache_->FailNext(FaultOp::kRead, 1);
  std::string out(64 << 10, 0);
  auto st = Bounded([&] { return volume_->Read(0, absl::MakeSpan(out)); });
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(cache_->injected(IoOp::kRead), 1u) << "the read did not reach the cache";
  if (st->ok()) {
    EXPECT_TRUE(out == model_.substr(0, out.size()));
  }
  EXPECT_EQ(Status().cache_errors, 1u);
  EXPECT_EQ(Status().origin_errors, 0u);
  EXPECT_FALSE(Status().failed);
  ExpectVolumeMatchesModel();
}

// Writeback retries a failed segment read (kCacheReadRetries times) and
// counts every failure as a cache error; a transient one costs nothing.
TEST_F(IoFaultTest, CacheReadErrorsDuringWritebackAreCacheErrors) {
  Open();
  cache_->AddFault({.op = FaultOp::kRead,
                    .offset = 1 << 20,  // the ring, not the superblock
                    .count = 2});
  for (int i = 0; i < 8; i++) ASSERT_TRUE(WriteData(i * (64 << 10), 64 << 10).ok());
  ExpectDrainedToModel();
  EXPECT_EQ(cache_->injected(IoOp::kRead), 2u);
  VolumeStatus st = Status();
  EXPECT_EQ(st.cache_errors, 2u);
  EXPECT_EQ(st.origin_errors, 0u) << "cache read errors were blamed on the origin";
  EXPECT_FALSE(st.failed);
  ExpectVolumeMatchesModel();
}

// A cache that keeps failing to give back dirty data fails the volume
// safely: writes and flushes refused, nothing acknowledged lost, reads
// served where the cache still can, everything back after a reopen.
TEST_F(IoFaultTest, CacheReadErrorsThatPersistFailTheVolume) {
  Open();
  // Dirty data stays on the cache until the drain below.
  ASSERT_TRUE(volume_->SetTunable("writeback_threshold", 0).ok());
  WriteAcknowledgedData(this);
  ASSERT_TRUE(Bounded([&] { return volume_->Flush(); }).value_or(
      absl::DeadlineExceededError("hung")).ok());
  cache_->AddFault({.op = FaultOp::kRead, .offset = 1 << 20, .persistent = true});
  auto drained = Bounded([&] { return volume_->DropCaches(nullptr); },
                         absl::Seconds(10));
  ASSERT_TRUE(drained.has_value())
      << "writeback kept retrying a cache that cannot be read (cache_errors "
      << Status().cache_errors << ", origin_errors " << Status().origin_errors << ")";
  EXPECT_FALSE(drained->ok());
  VolumeStatus st = Status();
  EXPECT_TRUE(st.failed);
  EXPECT_GE(st.cache_errors, 4u);  // the read and its three retries
  EXPECT_EQ(st.origin_errors, 0u);
  EXPECT_NE(st.failure.find("cache"), std::string::npos) << st.failure;
  std::string data(4096, 'x');
  auto w = Bounded([&] { return volume_->Write(0, data, false); });
  ASSERT_TRUE(w.has_value());
  EXPECT_FALSE(w->ok()) << "a failed volume accepted a write";
  // The device heals: every acknowledged byte reads back, and a restart
  // writes it all back.
  cache_->ClearFaults();
  ExpectVolumeMatchesModel();
  auto c = Bounded([&] { return volume_->Close(); });
  ASSERT_TRUE(c.has_value());
  EXPECT_FALSE(c->ok());
  volume_.reset();
  Open();
  ExpectVolumeMatchesModel();
  ExpectDrainedToModel();
}

TEST_F(IoFaultTest, ReopenAfterCacheFailureRecoversAcknowledgedData) {
  Open();
  WriteAcknowledgedData(this);
  ASSERT_TRUE(Bounded([&] { return volume_->Flush(); }).value_or(
      absl::DeadlineExceededError("hung")).ok());
  cache_->FailAlways(FaultOp::kFlush);
  EXPECT_FALSE(WriteData(512 << 10, 4096, /*fua=*/true).ok());
  ASSERT_TRUE(WaitFor([&] { return Status().failed; }));
  // The operator fixes the device and restarts: flushed data is all there.
  auto c = Bounded([&] { return volume_->Close(); });
  ASSERT_TRUE(c.has_value());
  volume_.reset();
  cache_->ClearFaults();
  Open();
  // The refused FUA write may or may not have reached the cache; write it
  // again so that the model knows its range.
  ASSERT_TRUE(WriteData(512 << 10, 4096).ok());
  ExpectVolumeMatchesModel();
  ExpectDrainedToModel();
}

}  // namespace
}  // namespace wb
