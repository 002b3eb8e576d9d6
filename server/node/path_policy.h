// Where the AdminService may point a volume's devices (docs/SERVICE.md,
// "Allowed paths"). FormatVolume overwrites its cache devices, so without a
// bound an admin token for one unused name could zero any file the node can
// open. Devices must lie under the node's allowed roots (its data directory
// and --allow-path), NBD origins under an --allow-nbd URI prefix.
//
// The check is made on an opened descriptor, not on the name: the name is
// opened once (O_PATH: nothing is read or written, symlinks are followed),
// the descriptor is checked, and the device is then opened through
// /proc/self/fd/N, which reaches the very file that was checked however the
// name changes meanwhile.
#ifndef WRITEBOOST_NODE_PATH_POLICY_H_
#define WRITEBOOST_NODE_PATH_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wb::node {

// A checked file, held open (O_PATH) until destroyed. Move-only.
class ConfinedFile {
 public:
  explicit ConfinedFile(int fd) : fd_(fd) {}
  ConfinedFile(ConfinedFile&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ConfinedFile& operator=(ConfinedFile&&) = delete;
  ConfinedFile(const ConfinedFile&) = delete;
  ~ConfinedFile();

  // "/proc/self/fd/N": opening it opens the checked file itself.
  std::string proc_path() const;

 private:
  int fd_;
};

// Immutable; thread-safe.
class PathPolicy {
 public:
  // roots: directories (or device nodes) as given; each is resolved
  // (realpath) at every check, so a root that appears later counts.
  // nbd_prefixes: URI prefixes, compared as text.
  PathPolicy(std::vector<std::string> roots, std::vector<std::string> nbd_prefixes)
      : roots_(std::move(roots)), nbd_prefixes_(std::move(nbd_prefixes)) {}

  // Opens path and accepts what it opened when it is a regular file whose
  // real path (of the descriptor) lies under a root, or a block device
  // whose device number is that of a device node under a root (so
  // /dev/disk/by-id/ names work when that directory, or /dev, is a root).
  // Errors: NOT_FOUND (no such file), PERMISSION_DENIED (outside the
  // roots), INVALID_ARGUMENT (neither a regular file nor a block device),
  // UNAVAILABLE for other OS errors. Messages name `path` as given.
  absl::StatusOr<ConfinedFile> Open(const std::string& path) const;

  // PERMISSION_DENIED unless uri starts with an --allow-nbd prefix and
  // every file its query names (socket=, tls-certificates=, tls-psk-file=)
  // lies under a root; query parameters other than those and
  // tls-verify-peer, tls-username, tls-hostname are refused too.
  absl::Status CheckNbdUri(absl::string_view uri) const;

  const std::vector<std::string>& roots() const { return roots_; }

 private:
  // Whether the canonical path `real` is a root or lies under one.
  bool UnderRoot(const std::string& real) const;
  // Whether a block device node with this device number lies under a root.
  bool DeviceUnderRoot(unsigned long rdev) const;

  const std::vector<std::string> roots_;
  const std::vector<std::string> nbd_prefixes_;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_PATH_POLICY_H_
