// Range locks over 512-byte sectors, so that the NBD bridge can
// read-modify-write a partial sector without undoing a concurrent write to
// the rest of it.
//
// A read-modify-write of sector S (for a request that covers only part of
// S) reads S, patches it and writes all of S back: a write to another part
// of S landing in between would be undone although the two requests do not
// overlap. So read-modify-writes hold their sectors exclusively, and every
// whole-sector write or zero holds its sectors shared: shared holders do not
// wait for each other (overlapping requests in flight have no defined
// outcome in NBD anyway), an exclusive holder waits for and excludes
// everyone. Grants are first come, first served among conflicting requests,
// so a stream of aligned writes cannot starve a read-modify-write.
//
// One table per volume and process: nbdkit's connections to the same volume
// share it (multi-conn). Thread-safe.
#ifndef WRITEBOOST_CLIENT_NBD_SECTOR_LOCKS_H_
#define WRITEBOOST_CLIENT_NBD_SECTOR_LOCKS_H_

#include <cstdint>
#include <list>
#include <string>

#include "absl/synchronization/mutex.h"

namespace wbnbd {

class SectorLocks {
 public:
  struct Range {
    uint64_t first;  // sector numbers, [first, end)
    uint64_t end;
    bool exclusive;
  };

  // Released when destroyed.
  class Hold {
   public:
    Hold(SectorLocks* locks, std::list<Range>::iterator it) : locks_(locks), it_(it) {}
    Hold(Hold&& other) noexcept : locks_(other.locks_), it_(other.it_) { other.locks_ = nullptr; }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold();

   private:
    SectorLocks* locks_;
    std::list<Range>::iterator it_;
  };

  // The process-wide table of `volume`; never destroyed.
  static SectorLocks& For(const std::string& volume);

  // Blocks until the sectors [first, end) may be held as asked.
  // REQUIRES: first < end.
  Hold Lock(uint64_t first, uint64_t end, bool exclusive);

 private:
  void Release(std::list<Range>::iterator it);

  absl::Mutex mu_;
  absl::CondVar cv_;
  // Held and waiting requests in arrival order: a request is granted once
  // no earlier one conflicts with it.
  std::list<Range> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wbnbd

#endif  // WRITEBOOST_CLIENT_NBD_SECTOR_LOCKS_H_
