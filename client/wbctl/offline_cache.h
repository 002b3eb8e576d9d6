// Opening the cache an offline command names: one --cache is a single cache
// device, several are the members of a stripe or mirror set.
#ifndef WRITEBOOST_CLIENT_WBCTL_OFFLINE_CACHE_H_
#define WRITEBOOST_CLIENT_WBCTL_OFFLINE_CACHE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/core/device/device.h"

namespace wbctl {

struct OfflineCacheOptions {
  // Several paths: make a mirror's members agree on the log's unflushed
  // tail before returning, as writeboostd does before replay (a drain will
  // replay). Without it the set is only opened, and nothing is written
  // unless its membership changed (a member found failed is recorded).
  bool assemble = false;
  // Open a mirror although an in-sync member is not given (recorded failed).
  bool allow_missing = false;
};

// Opens every path exclusively (O_DIRECT), in order.
absl::StatusOr<std::vector<std::unique_ptr<wb::Device>>> OpenMembers(
    const std::vector<std::string>& paths);

// Opens every path exclusively (O_DIRECT). One path: that device. Several:
// the cache set they form, in any order (docs/FORMAT.md, "Cache sets").
// Errors name the device: missing or locked paths, members of different
// sets, a stripe member missing, and the rest of CacheSet::Open's.
absl::StatusOr<std::unique_ptr<wb::Device>> OpenOfflineCache(
    const std::vector<std::string>& paths, const OfflineCacheOptions& options);

// "a" for one path, "a + b" for a set: how messages name the cache.
std::string CacheLabel(const std::vector<std::string>& paths);

}  // namespace wbctl

#endif  // WRITEBOOST_CLIENT_WBCTL_OFFLINE_CACHE_H_
