#include "server/controller/aimd.h"

#include <gtest/gtest.h>

namespace wb::controller {
namespace {

constexpr double kMiB = 1 << 20;

TEST(AimdTest, StartsAtAQuarterOfMaxOrTheDefault) {
  EXPECT_DOUBLE_EQ(Aimd(10, 0, 400 * kMiB).budget(), 100 * kMiB);
  EXPECT_DOUBLE_EQ(Aimd(10, 0, 0).budget(), kAimdDefaultStart);
  EXPECT_DOUBLE_EQ(Aimd(10, 200 * kMiB, 400 * kMiB).budget(), 200 * kMiB) << "not below min";
}

TEST(AimdTest, CutsMultiplicativelyDownToMin) {
  Aimd a(10, 20 * kMiB, 400 * kMiB);
  EXPECT_DOUBLE_EQ(a.Tick(true, 25, 100 * kMiB), 70 * kMiB);
  // The interval after a cut still shows the load from before it.
  EXPECT_DOUBLE_EQ(a.Tick(true, 25, 100 * kMiB), 70 * kMiB);
  EXPECT_DOUBLE_EQ(a.Tick(true, 25, 70 * kMiB), 49 * kMiB);
  for (int i = 0; i < 20; i++) a.Tick(true, 25, kMiB);
  EXPECT_DOUBLE_EQ(a.budget(), 20 * kMiB);
}

TEST(AimdTest, GrowsAdditivelyUpToMaxWhenUsed) {
  Aimd a(10, 0, 400 * kMiB);
  EXPECT_DOUBLE_EQ(a.Tick(true, 5, 100 * kMiB), 140 * kMiB);
  EXPECT_DOUBLE_EQ(a.Tick(true, 10, 140 * kMiB), 180 * kMiB) << "at the target is not above it";
  for (int i = 0; i < 20; i++) a.Tick(true, 5, a.budget());
  EXPECT_DOUBLE_EQ(a.budget(), 400 * kMiB);
}

TEST(AimdTest, DefaultStepWithoutMax) {
  Aimd a(10, 0, 0);
  EXPECT_DOUBLE_EQ(a.Tick(true, 1, kAimdDefaultStart), kAimdDefaultStart + kAimdDefaultStep);
}

TEST(AimdTest, HoldsWithoutSignalOrDemand) {
  Aimd a(10, 0, 400 * kMiB);
  EXPECT_DOUBLE_EQ(a.Tick(false, 0, 0), 100 * kMiB) << "no origin I/O: no signal";
  EXPECT_DOUBLE_EQ(a.Tick(true, 1, 10 * kMiB), 100 * kMiB) << "budget unused: not raised";
  EXPECT_DOUBLE_EQ(a.Tick(true, 1, 50 * kMiB), 140 * kMiB) << "half used: raised";
  EXPECT_DOUBLE_EQ(a.target_p99_ms(), 10);
}

}  // namespace
}  // namespace wb::controller
