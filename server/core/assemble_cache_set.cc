// AssembleCacheSet: the log walk of recovery (recovery.h), run through the
// set, tells which ring ranges a mirror's members must agree on.
#include "server/core/assemble_cache_set.h"

#include <utility>

#include "server/core/format/layout.h"
#include "server/core/recovery.h"

namespace wb {

namespace {

int InSyncMembers(const CacheSet& set) {
  int n = 0;
  for (const CacheMemberStatus& m : set.GetStatus().members) {
    n += m.health == MemberHealth::kInSync;
  }
  return n;
}

// One pass: walk the log through the set, copy its tail from the member
// reads use to the others, flush.
absl::Status CopyTail(CacheSet& cs) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(cs);
  if (!head.ok()) return absl::OkStatus();  // Volume::Open says why
  struct Extent {
    uint64_t id, pos, len;
  };
  std::vector<Extent> extents;
  absl::StatusOr<ReplayReport> report =
      ReplayLog(cs, *head, ReplayOptions{},
                [&](uint64_t pos, const SegmentHeader& h) {
                  extents.push_back({h.id, pos, h.length(head->geo)});
                });
  if (!report.ok()) return absl::OkStatus();
  // Both progress records (blocks 1 and 2).
  if (absl::Status s = cs.CopyToOtherMembers(kProgressBlock[0] * kBlockSize,
                                             2 * kBlockSize);
      !s.ok()) {
    return s;
  }
  for (const Extent& e : extents) {
    // Segments up to the durable bound were flushed on every in-sync member.
    if (e.id <= report->durable_bound) continue;
    if (absl::Status s = cs.CopyToOtherMembers(Geometry::RingOffset(e.pos),
                                               e.len * kBlockSize);
        !s.ok()) {
      return s;
    }
  }
  return cs.Flush();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CacheSet>> AssembleCacheSet(
    std::vector<std::unique_ptr<Device>> members,
    const CacheSetOpenOptions& options) {
  absl::StatusOr<std::unique_ptr<CacheSet>> set =
      CacheSet::Open(std::move(members), options);
  if (!set.ok() || (*set)->layout() != kLayoutMirror) return set;
  // A member failing meanwhile is marked failed; the walk then starts over
  // on the member reads use next, until it sticks or one is left.
  absl::Status s;
  while (InSyncMembers(**set) >= 2) {
    s = CopyTail(**set);
    if (s.ok()) return set;
  }
  if (InSyncMembers(**set) == 0) return s;
  return set;
}

}  // namespace wb
