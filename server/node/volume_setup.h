// Devices of a volume: opening them (creating files where the config asks),
// and formatting a cache. The only part of the node that touches files.
#ifndef WRITEBOOST_NODE_VOLUME_SETUP_H_
#define WRITEBOOST_NODE_VOLUME_SETUP_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/device/file_device.h"
#include "server/node/config.h"

namespace wb::node {

struct VolumeDevices {
  std::unique_ptr<FileDevice> cache;
  std::unique_ptr<FileDevice> origin;
  std::string origin_identity;
};

// Opens the origin and the cache of cfg, exclusively. When cfg.origin_size
// is set and the origin file is missing it is created sparse; when
// cfg.cache_size is set and the cache file is missing it is created and
// formatted first (under "<cache>.formatting", renamed when done, so an
// interrupted format is simply redone). Errors: as FileDevice::Open and
// OriginIdentity, and FormatCache's.
absl::StatusOr<VolumeDevices> OpenVolumeDevices(const VolumeConfig& cfg);

// Formats cfg.cache for cfg.origin (the FormatVolume RPC). The cache must
// exist. FAILED_PRECONDITION when it already begins with a writeboost
// superblock and !force, or when either device is in use.
absl::Status FormatVolumeDevices(const VolumeConfig& cfg, bool force);

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_VOLUME_SETUP_H_
