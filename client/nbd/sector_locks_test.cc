#include "client/nbd/sector_locks.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wbnbd {
namespace {

// Runs Lock(first, end, exclusive) on a thread; acquired() tells whether it
// has been granted (it keeps the hold until Release()).
class Locker {
 public:
  Locker(SectorLocks& locks, uint64_t first, uint64_t end, bool exclusive) {
    thread_ = std::thread([&locks, first, end, exclusive, this] {
      SectorLocks::Hold hold = locks.Lock(first, end, exclusive);
      acquired_ = true;
      while (!release_) absl::SleepFor(absl::Milliseconds(1));
    });
  }
  ~Locker() {
    Release();
    thread_.join();
  }
  bool acquired() const { return acquired_; }
  void Release() { release_ = true; }
  // Waits up to `d` for the grant.
  bool AcquiredWithin(absl::Duration d) const {
    absl::Time until = absl::Now() + d;
    while (!acquired_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
    return acquired_;
  }

 private:
  std::atomic<bool> acquired_{false};
  std::atomic<bool> release_{false};
  std::thread thread_;
};

const absl::Duration kGrant = absl::Seconds(10);
const absl::Duration kBlocked = absl::Milliseconds(100);

TEST(SectorLocks, SharedHoldersDoNotWaitForEachOther) {
  SectorLocks locks;
  Locker a(locks, 0, 8, false);
  ASSERT_TRUE(a.AcquiredWithin(kGrant));
  Locker b(locks, 4, 12, false);
  EXPECT_TRUE(b.AcquiredWithin(kGrant));
}

TEST(SectorLocks, ExclusiveWaitsForOverlappingSharedAndBack) {
  SectorLocks locks;
  auto shared = std::make_unique<Locker>(locks, 0, 8, false);
  ASSERT_TRUE(shared->AcquiredWithin(kGrant));
  Locker rmw(locks, 7, 8, true);
  EXPECT_FALSE(rmw.AcquiredWithin(kBlocked)) << "read-modify-write ran under a write";
  shared.reset();
  ASSERT_TRUE(rmw.AcquiredWithin(kGrant));
  Locker later(locks, 7, 9, false);
  EXPECT_FALSE(later.AcquiredWithin(kBlocked)) << "a write landed inside a read-modify-write";
  rmw.Release();
  EXPECT_TRUE(later.AcquiredWithin(kGrant));
}

TEST(SectorLocks, DisjointRangesDoNotConflict) {
  SectorLocks locks;
  Locker a(locks, 0, 1, true);
  ASSERT_TRUE(a.AcquiredWithin(kGrant));
  Locker b(locks, 1, 2, true);
  EXPECT_TRUE(b.AcquiredWithin(kGrant));
}

TEST(SectorLocks, WaitingExclusiveIsNotStarvedByLaterShared) {
  SectorLocks locks;
  auto first = std::make_unique<Locker>(locks, 0, 8, false);
  ASSERT_TRUE(first->AcquiredWithin(kGrant));
  Locker rmw(locks, 0, 1, true);
  EXPECT_FALSE(rmw.AcquiredWithin(kBlocked));
  // Compatible with `first` but not with the waiting read-modify-write.
  Locker second(locks, 0, 8, false);
  EXPECT_FALSE(second.AcquiredWithin(kBlocked)) << "a later write overtook a waiting one";
  first.reset();
  EXPECT_TRUE(rmw.AcquiredWithin(kGrant));
  EXPECT_FALSE(second.AcquiredWithin(kBlocked));
  rmw.Release();
  EXPECT_TRUE(second.AcquiredWithin(kGrant));
}

TEST(SectorLocks, OneTablePerVolume) {
  EXPECT_EQ(&SectorLocks::For("a"), &SectorLocks::For("a"));
  EXPECT_NE(&SectorLocks::For("a"), &SectorLocks::For("b"));
}

}  // namespace
}  // namespace wbnbd
