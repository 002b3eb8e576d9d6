#include "server/node/origin_pacer.h"

#include <thread>

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace wb::node {
namespace {

TEST(OriginPacerTest, UnpacedWritesNeverWait) {
  OriginPacer p;
  absl::Time start = absl::Now();
  for (int i = 0; i < 1000; i++) p.AcquireWrite(1 << 20);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(p.granted_bytes_per_second(), 0);
}

TEST(OriginPacerTest, GrantHoldsWritesToItsPace) {
  OriginPacer p;
  p.SetGrant(4 << 20, 0);  // 4 MiB/s
  EXPECT_EQ(p.granted_bytes_per_second(), 4 << 20);
  absl::Time start = absl::Now();
  // 12 writes of 256 KiB = 3 MiB: the first goes at once, the other 2.75
  // MiB wait for tokens, so at least ~0.69 s must pass.
  for (int i = 0; i < 12; i++) p.AcquireWrite(256 << 10);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(650));
}

TEST(OriginPacerTest, IopsGrantHoldsWriteCount) {
  OriginPacer p;
  p.SetGrant(1e12, 20);  // bytes unlimited in practice, 20 writes/s
  absl::Time start = absl::Now();
  for (int i = 0; i < 11; i++) p.AcquireWrite(4096);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(450));
}

TEST(OriginPacerTest, SetUnlimitedReleasesAWaitingWriter) {
  OriginPacer p;
  p.SetGrant(1024, 0);  // 1 KiB/s: a 1 MiB debt takes ~17 minutes
  p.AcquireWrite(1 << 20);
  absl::Time start = absl::Now();
  std::thread t([&] { p.AcquireWrite(4096); });
  absl::SleepFor(absl::Milliseconds(100));
  p.SetUnlimited();
  t.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(p.granted_bytes_per_second(), 0);
}

TEST(OriginPacerTest, WindowReportsPercentilesAndResets) {
  OriginPacer p;
  for (int i = 1; i <= 100; i++) {
    p.RecordIo(/*write=*/i % 2 == 0, 4096, absl::Milliseconds(i));
  }
  OriginPacer::Window w = p.TakeWindow();
  EXPECT_EQ(w.ios, 100u);
  EXPECT_EQ(w.write_ios, 50u);
  EXPECT_EQ(w.write_bytes, 50u * 4096);
  EXPECT_NEAR(w.p50_ms, 50, 1.01);
  EXPECT_NEAR(w.p99_ms, 99, 1.01);
  OriginPacer::Window empty = p.TakeWindow();
  EXPECT_EQ(empty.ios, 0u);
  EXPECT_EQ(empty.p99_ms, 0);
}

TEST(OriginPacerTest, HistogramCountsEachOpInItsBucket) {
  OriginPacer p;
  p.RecordIo(true, 4096, absl::Microseconds(300));   // <= 0.5 ms
  p.RecordIo(true, 4096, absl::Milliseconds(30));    // <= 50 ms
  p.RecordIo(true, 4096, absl::Seconds(20));         // +Inf
  p.RecordIo(false, 4096, absl::Milliseconds(2));    // a read
  OriginPacer::Histogram w = p.Latency(true);
  EXPECT_EQ(w.count, 3u);
  EXPECT_EQ(w.buckets[0], 1u);
  EXPECT_EQ(w.buckets[6], 1u);
  EXPECT_EQ(w.buckets.back(), 1u);
  EXPECT_NEAR(w.sum_seconds, 20.0303, 1e-6);
  EXPECT_EQ(p.Latency(false).count, 1u);
}

}  // namespace
}  // namespace wb::node
