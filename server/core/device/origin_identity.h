// OriginIdentity: a stable name for an origin device, kept on the cache side
// so that a cache is never replayed onto the wrong disk. Finding it never
// writes into the origin's data.
#ifndef WRITEBOOST_CORE_DEVICE_ORIGIN_IDENTITY_H_
#define WRITEBOOST_CORE_DEVICE_ORIGIN_IDENTITY_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace wb {

// The extended attribute that holds an origin file's UUID.
inline constexpr char kOriginUuidXattr[] = "user.writeboost.origin-uuid";
// Longest identity OriginIdentity returns; longer raw ids are shortened to a
// prefix plus a hash of the whole.
inline constexpr size_t kMaxOriginIdentityLength = 120;

// Identifies the origin at path (symlinks followed):
// - regular file: "uuid:<uuid v4>" from the xattr kOriginUuidXattr; with
//   create_if_missing a new UUID is stored there (file metadata, not data).
// - block device: "wwid:<id>" or "serial:<id>" from sysfs (the disk's own,
//   then its parent device's); a partition adds ":part<N>" to its disk's.
//   A loop device without either: "loop:<backing file identity>:<offset>".
//   Otherwise "devt-size:<major>:<minor>:<bytes>", a weak identity.
// - NBD URI (IsNbdUri, nbd_device.h): "nbd:<NormalizeNbdUri(uri)>", always
//   found, nothing created. Weak: a URI names where an export is served,
//   not the disk behind it, so a server that serves another disk under the
//   same name passes, and the same export reached by another host name or
//   address (or another socket path) does not.
// Errors: kNotFound (no such path, or no UUID yet and !create_if_missing),
// kFailedPrecondition (the filesystem refuses user xattrs; a loop device's
// backing file was deleted; the xattr holds something else),
// kPermissionDenied, kInvalidArgument (neither a file nor a block device),
// kUnavailable for other OS errors.
absl::StatusOr<std::string> OriginIdentity(const std::string& path,
                                           bool create_if_missing);

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_ORIGIN_IDENTITY_H_
