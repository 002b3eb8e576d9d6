// FormatCacheSet: FormatCache onto several cache devices at once.
#ifndef WRITEBOOST_CORE_FORMAT_CACHE_SET_H_
#define WRITEBOOST_CORE_FORMAT_CACHE_SET_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "server/core/device/device.h"
#include "server/core/volume.h"

namespace wb {

// Writes a new, empty cache set of `members` (kLayoutStripe or
// kLayoutMirror; superblock.h) for origin. It is FormatCache written through
// a CacheSet: zero everything, progress records, flush, then every member's
// own superblock, flushed; so a crash during format leaves every member
// refused as unformatted. kLayoutSingle takes exactly one member and is
// plain FormatCache. Members are not owned and must not be used meanwhile.
// Errors: kInvalidArgument for a bad layout, member count or geometry.
absl::Status FormatCacheSet(const std::vector<Device*>& members,
                            uint32_t layout, const Device& origin,
                            const FormatOptions& options);

}  // namespace wb

#endif  // WRITEBOOST_CORE_FORMAT_CACHE_SET_H_
