// FormatCacheSet: the members are wrapped in a CacheSet and formatted
// through it, so the ordering rules of FormatCache hold for every member.
#include "server/core/format_cache_set.h"

#include <memory>
#include <utility>

#include "absl/strings/str_format.h"
#include "server/core/device/cache_set.h"
#include "server/core/device/device_ref.h"
#include "server/core/format/superblock.h"

namespace wb {

absl::Status FormatCacheSet(const std::vector<Device*>& members,
                            uint32_t layout, const Device& origin,
                            const FormatOptions& options) {
  if (layout == kLayoutSingle) {
    if (members.size() != 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the single layout takes one cache device, not %u; choose stripe "
          "or mirror",
          members.size()));
    }
    return FormatCache(*members[0], origin, options);
  }
  std::vector<std::unique_ptr<Device>> refs;
  for (Device* d : members) refs.push_back(std::make_unique<DeviceRef>(d));
  absl::StatusOr<std::unique_ptr<CacheSet>> set = CacheSet::CreateForFormat(
      std::move(refs), layout, options.segment_size);
  if (!set.ok()) return set.status();
  return FormatCache(**set, origin, options);
}

}  // namespace wb
