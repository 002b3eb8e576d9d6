#include "server/core/tunables.h"

#include "gtest/gtest.h"

namespace wb {
namespace {

TEST(TunablesTest, DefaultsAreTheDocumentedOnes) {
  Tunables t;
  EXPECT_EQ(t.writeback_threshold, 70u);
  EXPECT_EQ(t.nr_max_batched_writeback, 32u);
  EXPECT_EQ(t.update_sb_record_interval, 1u);
  EXPECT_EQ(t.sync_data_interval, 5u);
  EXPECT_EQ(t.read_cache_threshold, 0u);
  EXPECT_EQ(t.barrier_deadline_ms, 10u);
  EXPECT_TRUE(ValidateTunables(t).ok());
}

// Every name in the table can be set to its bounds and read back, and
// just outside them is refused with the valid range in the message.
TEST(TunablesTest, EverySpellingAndBound) {
  for (const TunableInfo& info : AllTunables()) {
    Tunables t;
    ASSERT_TRUE(SetTunable(&t, info.name, info.min).ok()) << info.name;
    EXPECT_EQ(*GetTunable(t, info.name), info.min);
    ASSERT_TRUE(SetTunable(&t, info.name, info.max).ok()) << info.name;
    EXPECT_EQ(*GetTunable(t, info.name), info.max);
    absl::Status s = SetTunable(&t, info.name, uint64_t{info.max} + 1);
    EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << info.name;
    EXPECT_NE(s.message().find("valid:"), std::string::npos);
    if (info.min > 0) {
      EXPECT_FALSE(SetTunable(&t, info.name, info.min - 1).ok()) << info.name;
    }
  }
}

TEST(TunablesTest, UnknownNameListsKnownOnes) {
  Tunables t;
  absl::Status s = SetTunable(&t, "writeback_treshold", 5);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("writeback_threshold"), std::string::npos);
}

}  // namespace
}  // namespace wb
