// Devices of a volume: opening them (creating files where the config asks,
// connecting to NBD origins), and formatting a cache. The only part of the
// node that touches files or NBD servers.
#ifndef WRITEBOOST_NODE_VOLUME_SETUP_H_
#define WRITEBOOST_NODE_VOLUME_SETUP_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/device/cache_set.h"
#include "server/core/device/device.h"
#include "server/core/device/file_device.h"
#include "server/node/config.h"
#include "server/node/path_policy.h"

namespace wb::node {

// How long OpenExclusive keeps trying a device that is in use.
inline constexpr absl::Duration kInUseRetry = absl::Seconds(2);

// FileDevice::Open, retried for up to kInUseRetry while the device is in use
// (kFailedPrecondition). A writeboostd killed a moment ago still holds its
// devices' locks for a few milliseconds after it is gone (its io_uring
// instance is torn down asynchronously and keeps the files open; 13 ms was
// measured), so a restart that follows at once would otherwise fail.
// Errors: FileDevice::Open's, the in-use one after kInUseRetry.
absl::StatusOr<std::unique_ptr<FileDevice>> OpenExclusive(
    const std::string& path, const FileDeviceOptions& options = {});

// Opens cfg.origin: an NBD URI (nbd://, nbds://, nbd+unix://, ...; see
// IsNbdUri) as an NbdDevice, anything else as a file or block device with
// OpenExclusive. When cfg.origin_size is set and the origin file is missing
// it is created sparse; with an NBD URI origin_size is INVALID_ARGUMENT
// (the server owns the export's size). With a policy (the AdminService's
// requests), only what it allows (PathPolicy::Open, CheckNbdUri), and no
// file is created. *identity_path (when not null) is set to the name to
// find the origin's identity by while the device lives. Errors:
// FileDevice::Open's, NbdDevice::Open's or the policy's.
absl::StatusOr<std::unique_ptr<Device>> OpenOrigin(const VolumeConfig& cfg,
                                                   const PathPolicy* policy = nullptr,
                                                   std::string* identity_path = nullptr);

struct VolumeDevices {
  // One FileDevice, or a CacheSet of several (then cache_set points at it).
  std::unique_ptr<Device> cache;
  CacheSet* cache_set = nullptr;
  std::unique_ptr<Device> origin;
  std::string origin_identity;
};

// Opens the origin (OpenOrigin) and the cache of cfg, the cache exclusively
// (OpenExclusive). When cfg.cache_size is set and the cache file is missing
// it is created and formatted first (under "<cache>.formatting", renamed
// when done, so an interrupted format is simply redone). With several cache
// devices every one is opened exclusively and they are assembled into a
// CacheSet (CacheSet::Open: stale members are not used; a missing in-sync
// member is refused); cache_size then creates and formats them only when
// every one of them is missing. With a policy every device is confined as
// in OpenOrigin and nothing is created. Errors: as OpenOrigin,
// FileDevice::Open, CacheSet::Open and OriginIdentity, and FormatCache's;
// FAILED_PRECONDITION for an origin that has no identity (no cache was ever
// formatted for it).
absl::StatusOr<VolumeDevices> OpenVolumeDevices(const VolumeConfig& cfg,
                                                const PathPolicy* policy = nullptr);

// Formats cfg's cache devices for cfg.origin (the FormatVolume RPC), as one
// device or as a cfg.cache_layout set (FormatCacheSet). The devices must
// exist. FAILED_PRECONDITION when one already begins with a writeboost
// superblock and !force, or when any device is in use. With a policy, the
// devices are confined as in OpenOrigin.
absl::Status FormatVolumeDevices(const VolumeConfig& cfg, bool force,
                                 const PathPolicy* policy = nullptr);

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_VOLUME_SETUP_H_
