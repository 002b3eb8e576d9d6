// Internals of CacheSet shared by cache_set.cc, cache_set_open.cc and the
// tests: the stripe address map, where membership copies live, and the
// per-member and per-I/O state.
#ifndef WRITEBOOST_CORE_DEVICE_CACHE_SET_INTERNAL_H_
#define WRITEBOOST_CORE_DEVICE_CACHE_SET_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/cache_set.h"
#include "server/core/format/layout.h"

namespace wb {

// The second copy of a member's superblock (docs/FORMAT.md, "Cache sets").
// Membership generation g is written to block 0 when g is odd, to this block
// when g is even, so a torn record never destroys the previous one.
inline constexpr uint64_t kMembershipCopyBlock = 3;

inline uint64_t MembershipCopyOffset(uint32_t generation) {
  return (generation % 2 == 1 ? 0 : kMembershipCopyBlock) * kBlockSize;
}

// Where a logical byte offset of a stripe's ring lands.
struct StripeLocation {
  uint32_t member = 0;
  uint64_t member_offset = 0;  // bytes on the member
  uint64_t in_chunk = 0;       // offset inside its chunk
};

// REQUIRES: offset >= kRingStartBlock * kBlockSize; chunk > 0; n >= 1.
inline StripeLocation MapStripeOffset(uint64_t offset, uint64_t chunk,
                                      uint32_t n) {
  constexpr uint64_t kRingStart = kRingStartBlock * kBlockSize;
  const uint64_t rel = offset - kRingStart;
  const uint64_t c = rel / chunk;
  StripeLocation loc;
  loc.member = static_cast<uint32_t>(c % n);
  loc.in_chunk = rel % chunk;
  loc.member_offset = kRingStart + (c / n) * chunk + loc.in_chunk;
  return loc;
}

// Fields other than dev are guarded by CacheSet::mu_; dev is set at
// construction and never changes.
struct CacheSet::Member {
  std::unique_ptr<Device> dev;  // null: no device given for this slot
  Uuid uuid{};
  MemberHealth health = MemberHealth::kInSync;
  uint32_t changed_generation = 1;
  uint64_t errors = 0;
  std::string last_error;
};

// One logical I/O in flight.
struct CacheSet::Op {
  IoRequest req;
  IoCallback done;
  uint32_t issued_generation = 0;  // membership it was issued under
  uint32_t targets = 0;            // members it went to (mask)
  // Per-member superblock copies when the op writes a logical superblock,
  // and the membership generation they carry.
  std::vector<AlignedBuffer> sb_copies;
  uint32_t sb_generation = 0;

  absl::Mutex mu;
  size_t pending ABSL_GUARDED_BY(mu) = 0;  // member I/Os not completed
  // Written under mu until pending reaches zero, then read by one thread.
  uint32_t failed = 0;  // members with a failed I/O (mask)
  std::vector<std::pair<uint32_t, absl::Status>> errors;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_CACHE_SET_INTERNAL_H_
