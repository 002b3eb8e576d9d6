// AssembleCacheSet: a CacheSet ready for Volume::Open, its members agreeing
// on the log's unflushed tail.
#ifndef WRITEBOOST_CORE_ASSEMBLE_CACHE_SET_H_
#define WRITEBOOST_CORE_ASSEMBLE_CACHE_SET_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/device/cache_set.h"

namespace wb {

// CacheSet::Open, then, for a mirror with several in-sync members, makes
// them agree on the log's tail. A power cut may leave the segments written
// after the last device flush on some members and not others; recovery
// reads one member (the one reads use) and accepts what it finds there, and
// a later Flush would call those segments durable. So they (every segment
// above the durable bound that the log walk accepts, and the progress
// records) are copied from that member to the others and flushed before
// the volume opens. This is bounded by what was in flight at the cut, like
// the data recovery itself reads (docs/FORMAT.md, recovery rule 4).
// Errors: CacheSet::Open's, or a failing read of the member copied from;
// an unreadable log is left for Volume::Open to report.
absl::StatusOr<std::unique_ptr<CacheSet>> AssembleCacheSet(
    std::vector<std::unique_ptr<Device>> members,
    const CacheSetOpenOptions& options = {});

}  // namespace wb

#endif  // WRITEBOOST_CORE_ASSEMBLE_CACHE_SET_H_
