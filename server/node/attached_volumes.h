// The volumes attached at run time (AttachVolume, FormatVolume with attach),
// remembered in a file so that a restarted node serves them again
// (docs/SERVICE.md, "Volumes attached at run time"). Configured volumes
// (--volume, the config file) are never written here: the configuration
// stays their only source.
//
// The file has the config file's format, limited to the key "volumes":
//   {"volumes": [{"name": "db", "origin": "/dev/sdb", "cache": "/dev/nvme0n1"}]}
// Only what is needed to open a volume again is kept (name, origin, cache,
// rambuf_size, io_timeout), with the paths made absolute: tunables live in
// the cache itself, and applying the attach-time values again would undo
// later changes.
#ifndef WRITEBOOST_NODE_ATTACHED_VOLUMES_H_
#define WRITEBOOST_NODE_ATTACHED_VOLUMES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/node/config.h"

namespace wb::node {

class PathPolicy;
class VolumeRegistry;

// Thread-safe.
class AttachedVolumes {
 public:
  // Remembers in `path` (its directory is created on the first write).
  explicit AttachedVolumes(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }

  // Reads the file into memory and returns its volumes. A missing file is
  // an empty list. INVALID_ARGUMENT for a file that is not such a list
  // (bad JSON, unknown keys, a bad or repeated name, no origin or cache);
  // the message names the file.
  absl::StatusOr<std::vector<VolumeConfig>> Load();

  // Remembers cfg (replacing a volume of the same name) and rewrites the
  // file, unless still_attached(), called under the lock, says the volume
  // was detached meanwhile (a detach racing the attach must win).
  // UNAVAILABLE when the file cannot be written; memory is then unchanged.
  absl::Status Add(const VolumeConfig& cfg, absl::FunctionRef<bool()> still_attached);

  // Forgets `name` and rewrites the file; OK without a write when it is not
  // remembered (a configured volume). UNAVAILABLE as Add.
  absl::Status Remove(const std::string& name);

 private:
  // Writes `volumes` to path_ atomically: a temporary file, fsync, rename,
  // fsync of the directory. A crash leaves the old or the new list.
  absl::Status Write(const std::map<std::string, VolumeConfig>& volumes) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  std::map<std::string, VolumeConfig> volumes_ ABSL_GUARDED_BY(mu_);
};

// At node start: attaches the remembered volumes (without waiting for
// their opens) after the configured ones. A remembered volume whose name is
// configured is dropped from the file, with a log line: the configuration
// wins. The devices are checked against policy again (the roots may have
// changed since): one no longer allowed leaves its volume FAILED. Errors:
// Load's, the registry's, and the write's.
absl::Status AttachRemembered(AttachedVolumes& attached,
                              const std::vector<VolumeConfig>& configured,
                              VolumeRegistry& registry, const PathPolicy* policy);

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_ATTACHED_VOLUMES_H_
