#include "server/controller/allocator.h"

#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace wb::controller {
namespace {

namespace v1 = writeboost::v1;

constexpr uint64_t kMiB = 1 << 20;

v1::VolumeReport Volume(const std::string& name, uint64_t dirty, uint64_t capacity,
                        uint64_t to_stall) {
  v1::VolumeReport r;
  r.set_volume(name);
  r.set_dirty_bytes(dirty);
  r.set_capacity_bytes(capacity);
  r.set_bytes_to_stall(to_stall);
  return r;
}

std::vector<v1::Grant> Split(const Budget& b, const std::vector<v1::VolumeReport>& reports) {
  std::vector<const v1::VolumeReport*> ptrs;
  for (const v1::VolumeReport& r : reports) ptrs.push_back(&r);
  std::vector<v1::Grant> grants = Allocate(b, ptrs);
  EXPECT_EQ(grants.size(), reports.size());
  for (size_t i = 0; i < grants.size() && i < reports.size(); i++) {
    EXPECT_EQ(grants[i].volume(), reports[i].volume());
  }
  return grants;
}

double Sum(const std::vector<v1::Grant>& grants) {
  double s = 0;
  for (const v1::Grant& g : grants) s += g.bytes_per_second();
  return s;
}

Budget Bytes(double bps, double iops = 0) {
  Budget b;
  b.bytes_per_second = bps;
  b.iops = iops;
  return b;
}

TEST(AllocatorTest, EqualVolumesSplitEqually) {
  auto g = Split(Bytes(100 * kMiB), {Volume("a", kMiB, 1000 * kMiB, 500 * kMiB),
                                   Volume("b", kMiB, 1000 * kMiB, 500 * kMiB)});
  EXPECT_DOUBLE_EQ(g[0].bytes_per_second(), 50.0 * kMiB);
  EXPECT_DOUBLE_EQ(g[1].bytes_per_second(), 50.0 * kMiB);
  EXPECT_FALSE(g[0].unlimited());
}

TEST(AllocatorTest, NearStallComesFirst) {
  // "hot" has 5% of its log left before writers stall; "cool" has 90%.
  auto g = Split(Bytes(100 * kMiB), {Volume("cool", 10 * kMiB, 1000 * kMiB, 900 * kMiB),
                                   Volume("hot", 900 * kMiB, 1000 * kMiB, 50 * kMiB)});
  EXPECT_GT(g[1].bytes_per_second(), 4 * g[0].bytes_per_second());
  EXPECT_NEAR(Sum(g), 100.0 * kMiB, 1);
  // Yet the cool one is not starved: at least its 5% floor.
  EXPECT_GE(g[0].bytes_per_second(), 5.0 * kMiB);
}

TEST(AllocatorTest, UrgencyOrdersGrants) {
  std::vector<v1::VolumeReport> vols;
  for (uint64_t left : {800, 400, 100, 10}) {
    vols.push_back(Volume("v" + std::to_string(left), kMiB, 1000 * kMiB, left * kMiB));
  }
  auto g = Split(Bytes(100 * kMiB), vols);
  for (size_t i = 1; i < g.size(); i++) {
    EXPECT_GT(g[i].bytes_per_second(), g[i - 1].bytes_per_second()) << i;
  }
}

TEST(AllocatorTest, WaitingWritersAreMostUrgent) {
  v1::VolumeReport waiting = Volume("w", kMiB, 1000 * kMiB, 900 * kMiB);
  waiting.set_writers_waiting(3);
  EXPECT_EQ(Urgency(waiting), 1);
  auto g = Split(Bytes(100 * kMiB), {Volume("a", 500 * kMiB, 1000 * kMiB, 400 * kMiB), waiting});
  EXPECT_GT(g[1].bytes_per_second(), g[0].bytes_per_second());
}

TEST(AllocatorTest, UrgencyFromFillAndFromFillRate) {
  EXPECT_DOUBLE_EQ(Urgency(Volume("a", kMiB, 1000, 1000)), 0);
  EXPECT_DOUBLE_EQ(Urgency(Volume("a", kMiB, 1000, 250)), 0.75);
  EXPECT_DOUBLE_EQ(Urgency(Volume("a", kMiB, 1000, 0)), 1);
  EXPECT_DOUBLE_EQ(Urgency(Volume("a", kMiB, 0, 0)), 0) << "capacity unknown";
  // 40% full, but filling at 40 MiB/s net with 600 MiB to go: 15 s.
  v1::VolumeReport filling = Volume("f", kMiB, 1000 * kMiB, 600 * kMiB);
  filling.set_foreground_write_bytes_per_second(60.0 * kMiB);
  filling.set_writeback_bytes_per_second(20.0 * kMiB);
  EXPECT_DOUBLE_EQ(Urgency(filling), 1 - 15 / kStallHorizonSeconds);
  // Draining: only the fill counts.
  filling.set_writeback_bytes_per_second(80.0 * kMiB);
  EXPECT_DOUBLE_EQ(Urgency(filling), 0.4);
}

TEST(AllocatorTest, LoneActiveVolumeGetsAlmostAll) {
  auto one = Split(Bytes(100 * kMiB), {Volume("busy", 100 * kMiB, 1000 * kMiB, 800 * kMiB),
                                     Volume("idle", 0, 1000 * kMiB, 1000 * kMiB)});
  EXPECT_DOUBLE_EQ(one[0].bytes_per_second(), 99.0 * kMiB);
  EXPECT_DOUBLE_EQ(one[1].bytes_per_second(), 1.0 * kMiB);

  std::vector<v1::VolumeReport> many = {Volume("busy", 100 * kMiB, 1000 * kMiB, 800 * kMiB)};
  for (int i = 0; i < 40; i++) many.push_back(Volume("idle" + std::to_string(i), 0, kMiB, kMiB));
  auto g = Split(Bytes(100 * kMiB), many);
  EXPECT_GE(g[0].bytes_per_second(), 90.0 * kMiB - 1);
  for (size_t i = 1; i < g.size(); i++) EXPECT_GT(g[i].bytes_per_second(), 0);
  EXPECT_NEAR(Sum(g), 100.0 * kMiB, 1);
}

TEST(AllocatorTest, AllIdleShareEqually) {
  auto g = Split(Bytes(90), {Volume("a", 0, 1, 1), Volume("b", 0, 1, 1), Volume("c", 0, 1, 1)});
  for (const v1::Grant& x : g) EXPECT_DOUBLE_EQ(x.bytes_per_second(), 30);
}

TEST(AllocatorTest, NoneStarvedAmongMany) {
  // One volume at its watermark against 99 relaxed ones: each still gets
  // a floor, and the floors leave room for the urgent one.
  std::vector<v1::VolumeReport> vols = {Volume("urgent", kMiB, 1000 * kMiB, 0)};
  for (int i = 0; i < 99; i++) {
    vols.push_back(Volume("v" + std::to_string(i), kMiB, 1000 * kMiB, 1000 * kMiB));
  }
  auto g = Split(Bytes(100 * kMiB), vols);
  const double floor = 0.5 * 100 * kMiB / 100;
  for (size_t i = 1; i < g.size(); i++) EXPECT_GE(g[i].bytes_per_second(), floor) << i;
  EXPECT_GT(g[0].bytes_per_second(), 5 * g[1].bytes_per_second());
  EXPECT_NEAR(Sum(g), 100.0 * kMiB, 1);
}

TEST(AllocatorTest, NeverZeroAndNeverAboveBudget) {
  // A budget of 0 (an AIMD floor misconfigured, say) still grants something.
  auto g = Split(Bytes(0), {Volume("a", kMiB, 1, 0), Volume("b", 0, 1, 1)});
  for (const v1::Grant& x : g) EXPECT_GT(x.bytes_per_second(), 0);
  for (int n = 1; n <= 30; n++) {
    std::vector<v1::VolumeReport> vols;
    for (int i = 0; i < n; i++) {
      vols.push_back(Volume("v" + std::to_string(i), i % 3 ? kMiB : 0, 100,
                            static_cast<uint64_t>((i * 37) % 101)));
    }
    auto gs = Split(Bytes(1000), vols);
    for (const v1::Grant& x : gs) EXPECT_GT(x.bytes_per_second(), 0);
    EXPECT_NEAR(Sum(gs), 1000, 1e-6) << n;
  }
}

TEST(AllocatorTest, IopsFollowByteShares) {
  auto g = Split(Bytes(100 * kMiB, 1000), {Volume("busy", kMiB, 1000, 900),
                                         Volume("idle", 0, 1000, 1000)});
  EXPECT_DOUBLE_EQ(g[0].iops(), 990);
  EXPECT_DOUBLE_EQ(g[1].iops(), 10);
  auto none = Split(Bytes(100 * kMiB), {Volume("a", kMiB, 1000, 900)});
  EXPECT_EQ(none[0].iops(), 0) << "no IOPS budget, no IOPS limit";
}

TEST(AllocatorTest, UnlimitedBudgetGrantsUnlimited) {
  Budget b;
  b.unlimited = true;
  auto g = Split(b, {Volume("a", kMiB, 1000, 0), Volume("b", 0, 1000, 1000)});
  for (const v1::Grant& x : g) {
    EXPECT_TRUE(x.unlimited());
    EXPECT_EQ(x.bytes_per_second(), 0);
  }
  EXPECT_TRUE(Split(Bytes(100), {}).empty());
}

}  // namespace
}  // namespace wb::controller
