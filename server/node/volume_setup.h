// Devices of a volume: opening them (creating files where the config asks),
// and formatting a cache. The only part of the node that touches files.
#ifndef WRITEBOOST_NODE_VOLUME_SETUP_H_
#define WRITEBOOST_NODE_VOLUME_SETUP_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/device/file_device.h"
#include "server/node/config.h"

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

struct VolumeDevices {
  std::unique_ptr<FileDevice> cache;
  std::unique_ptr<FileDevice> origin;
  std::string origin_identity;
};

// Opens the origin and the cache of cfg, exclusively (OpenExclusive). When
// cfg.origin_size is set and the origin file is missing it is created
// sparse; when
// cfg.cache_size is set and the cache file is missing it is created and
// formatted first (under "<cache>.formatting", renamed when done, so an
// interrupted format is simply redone). Errors: as FileDevice::Open and
// OriginIdentity, and FormatCache's; FAILED_PRECONDITION for an origin
// that has no identity (no cache was ever formatted for it).
absl::StatusOr<VolumeDevices> OpenVolumeDevices(const VolumeConfig& cfg);

// Formats cfg.cache for cfg.origin (the FormatVolume RPC). The cache must
// exist. FAILED_PRECONDITION when it already begins with a writeboost
// superblock and !force, or when either device is in use.
absl::Status FormatVolumeDevices(const VolumeConfig& cfg, bool force);

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_VOLUME_SETUP_H_
