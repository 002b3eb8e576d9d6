// Origin faults: writeback retries with backoff, dirty data is never
// dropped, and writes are accepted until the log is full.
#include "tests/crash/io_fault_fixture.h"

namespace wb {
namespace {

// Writes 64 KiB pieces over the first half of the volume, with a Flush.
void WriteSome(IoFaultTest* t, int pieces, uint64_t base = 0) {
  for (int i = 0; i < pieces; i++) {
    ASSERT_TRUE(t->WriteData(base + (i % 8) * (64 << 10), 64 << 10).ok());
  }
}

TEST_F(IoFaultTest, TransientOriginWriteErrorsAreRetried) {
  Open();
  origin_->FailNext(FaultOp::kWrite, 3);
  WriteSome(this, 12);
  ExpectDrainedToModel();
  EXPECT_GE(Status().origin_errors, 1u);
  EXPECT_EQ(origin_->injected(IoOp::kWrite), 3u);
  ExpectVolumeMatchesModel();
}

// For each kind of persistent origin failure: writeback keeps failing and
// backing off, the data stays dirty and readable, and once the origin heals
// everything acknowledged reaches it.
void PersistentOriginFailure(IoFaultTest* t, FaultOp op) {
  t->Open();
  t->origin_->FailAlways(op);
  WriteSome(t, 12);
  ASSERT_TRUE(Bounded([&] { return t->volume_->Flush(); }).value_or(
      absl::DeadlineExceededError("hung")).ok());
  ASSERT_TRUE(WaitFor([&] { return t->Status().origin_errors >= 2; }))
      << "writeback never retried";
  // Backoff: retries keep coming, but not in a tight loop.
  uint64_t before = t->Status().origin_errors;
  absl::SleepFor(absl::Milliseconds(600));
  uint64_t during = t->Status().origin_errors - before;
  EXPECT_GE(during, 1u);
  EXPECT_LE(during, 6u) << "writeback retries without backing off";
  VolumeStatus st = t->Status();
  EXPECT_FALSE(st.failed) << "an origin failure must not fail the volume";
  EXPECT_GT(st.nr_dirty_cache_blocks, 0u);
  EXPECT_FALSE(st.last_origin_error.empty());
  t->ExpectVolumeMatchesModel();
  t->origin_->ClearFaults();
  t->ExpectDrainedToModel();
}

TEST_F(IoFaultTest, PersistentOriginWriteErrorKeepsDataDirty) {
  PersistentOriginFailure(this, FaultOp::kWrite);
}

TEST_F(IoFaultTest, PersistentOriginFlushErrorKeepsDataDirty) {
  PersistentOriginFailure(this, FaultOp::kFlush);
}

TEST_F(IoFaultTest, WritesAreAcceptedUntilTheLogIsFull) {
  Open(absl::Seconds(1));
  origin_->FailAlways(FaultOp::kWrite);
  // Each 60 KiB write lands outside the open buffer, so it takes new log
  // space even where it overwrites a block written before.
  const uint64_t ring_bytes = kCacheSize - (1 << 20);
  uint64_t accepted = 0;
  uint64_t off = 0;
  absl::Status last;
  for (uint64_t i = 0; accepted < 2 * ring_bytes; i++) {
    off = (i * (60 << 10)) % (kOriginSize - (60 << 10));
    off -= off % 4096;
    last = WriteData(off, 60 << 10);
    if (!last.ok()) break;
    accepted += 60 << 10;
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable) << last;
  EXPECT_GE(accepted, ring_bytes / 2) << "writes refused long before the log filled";
  EXPECT_FALSE(Status().failed);
  origin_->ClearFaults();
  // The refused write was not acknowledged, but its first blocks may have
  // been taken: overwrite it so the model knows that range again.
  ASSERT_TRUE(WriteData(off, 60 << 10).ok());
  ExpectDrainedToModel();
}

TEST_F(IoFaultTest, OriginReadErrorsFailOnlyThatRead) {
  Open();
  origin_->FailNext(FaultOp::kRead, 1);
  std::string out(8192, 0);
  auto st = Bounded([&] { return volume_->Read(0, absl::MakeSpan(out)); });
  ASSERT_TRUE(st.has_value());
  EXPECT_FALSE(st->ok()) << "a failed origin read must not return data";
  EXPECT_FALSE(Status().failed);
  ExpectVolumeMatchesModel();
  origin_->FailAlways(FaultOp::kRead);
  WriteSome(this, 2);
  // Cached blocks need no origin read.
  std::string cached(64 << 10, 0);
  st = Bounded([&] { return volume_->Read(0, absl::MakeSpan(cached)); });
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->ok()) << *st;
  EXPECT_TRUE(cached == model_.substr(0, 64 << 10));
  origin_->ClearFaults();
  ExpectDrainedToModel();
}

}  // namespace
}  // namespace wb
