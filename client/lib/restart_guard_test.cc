#include "client/lib/restart_guard.h"

#include <gtest/gtest.h>

namespace wbclient {
namespace {

TEST(RestartGuard, ARestartWithNothingPendingIsNotALoss) {
  RestartGuard g("v");
  EXPECT_TRUE(g.Observe(1).ok());
  EXPECT_TRUE(g.Observe(2).ok());
  EXPECT_EQ(g.known(), 2u);
  EXPECT_FALSE(g.pending());
}

TEST(RestartGuard, PendingWritesSeenByTheSameGenerationAreFine) {
  RestartGuard g("v");
  g.NoteAck(3);
  EXPECT_TRUE(g.pending());
  EXPECT_TRUE(g.Observe(3).ok());
  EXPECT_TRUE(g.NoteFlushed(g.FlushMark(), 3).ok());
  EXPECT_FALSE(g.pending());
  // Covered: a later restart loses nothing.
  EXPECT_TRUE(g.Observe(4).ok());
}

TEST(RestartGuard, AnotherGenerationUnderPendingWritesIsStickyDataLoss) {
  RestartGuard g("vol7");
  g.NoteAck(3);
  absl::Status s = g.Observe(4);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("reopened volume vol7 (open generation 3 -> 4)"), std::string::npos)
      << s;
  // Nothing makes it good again: not a flush, not the old generation.
  EXPECT_TRUE(absl::IsDataLoss(g.NoteFlushed(g.FlushMark(), 4)));
  EXPECT_TRUE(absl::IsDataLoss(g.Observe(3)));
  EXPECT_TRUE(absl::IsDataLoss(g.status()));
}

TEST(RestartGuard, AFlushAnsweredByAnotherGenerationFails) {
  RestartGuard g("v");
  g.NoteAck(5);
  uint64_t mark = g.FlushMark();
  EXPECT_TRUE(absl::IsDataLoss(g.NoteFlushed(mark, 6)));
}

TEST(RestartGuard, AFlushCoversOnlyWhatWasAcknowledgedBeforeItsMark) {
  RestartGuard g("v");
  g.NoteAck(1);
  uint64_t mark = g.FlushMark();
  g.NoteAck(1);  // acknowledged after the flush was sent
  EXPECT_TRUE(g.NoteFlushed(mark, 1).ok());
  EXPECT_TRUE(g.pending());
  EXPECT_TRUE(absl::IsDataLoss(g.Observe(2)));
}

TEST(RestartGuard, TheSmallestBoundOfThePendingWritesCounts) {
  RestartGuard g("v");
  g.NoteAck(1);  // a bound: maybe acknowledged by generation 1
  g.NoteAck(2);
  EXPECT_TRUE(absl::IsDataLoss(g.Observe(2)));
}

TEST(RestartGuard, BoundsStartAfreshOnceEverythingIsCovered) {
  RestartGuard g("v");
  g.NoteAck(1);
  EXPECT_TRUE(g.NoteFlushed(g.FlushMark(), 1).ok());
  g.NoteAck(2);
  EXPECT_TRUE(g.Observe(2).ok());
  EXPECT_TRUE(g.NoteFlushed(g.FlushMark(), 2).ok());
}

}  // namespace
}  // namespace wbclient
