#include "client/wbctl/offline_cache.h"

#include <utility>

#include "absl/strings/str_join.h"
#include "server/core/assemble_cache_set.h"
#include "server/core/device/cache_set.h"
#include "server/core/device/file_device.h"

namespace wbctl {

absl::StatusOr<std::vector<std::unique_ptr<wb::Device>>> OpenMembers(
    const std::vector<std::string>& paths) {
  std::vector<std::unique_ptr<wb::Device>> members;
  for (const std::string& path : paths) {
    wb::FileDeviceOptions o;
    o.direct = true;
    o.exclusive = true;
    absl::StatusOr<std::unique_ptr<wb::FileDevice>> dev =
        wb::FileDevice::Open(path, o);
    if (!dev.ok()) return dev.status();
    members.push_back(*std::move(dev));
  }
  return members;
}

absl::StatusOr<std::unique_ptr<wb::Device>> OpenOfflineCache(
    const std::vector<std::string>& paths, const OfflineCacheOptions& options) {
  absl::StatusOr<std::vector<std::unique_ptr<wb::Device>>> opened =
      OpenMembers(paths);
  if (!opened.ok()) return opened.status();
  std::vector<std::unique_ptr<wb::Device>> members = *std::move(opened);
  if (members.size() == 1) return std::move(members[0]);
  wb::CacheSetOpenOptions set_options;
  set_options.allow_missing = options.allow_missing;
  absl::StatusOr<std::unique_ptr<wb::CacheSet>> set =
      options.assemble ? wb::AssembleCacheSet(std::move(members), set_options)
                       : wb::CacheSet::Open(std::move(members), set_options);
  if (!set.ok()) return set.status();
  return std::unique_ptr<wb::Device>(*std::move(set));
}

std::string CacheLabel(const std::vector<std::string>& paths) {
  return absl::StrJoin(paths, " + ");
}

}  // namespace wbctl
