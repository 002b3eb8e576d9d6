// Per-volume bearer tokens (--auth-tokens FILE).
//
// File format, one grant per line, '#' starts a comment:
//   TOKEN  ACCESS  VOLUMES
// ACCESS is ro (read), rw (read and write) or admin (rw plus format,
// attach and detach); VOLUMES is a comma-separated list of names or "*".
// A token may have several lines; the strongest grant that names the volume
// wins. Clients send "authorization: Bearer TOKEN" metadata.
#ifndef WRITEBOOST_NODE_AUTH_H_
#define WRITEBOOST_NODE_AUTH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class ServerContext;
}

namespace wb::node {

enum class Access { kRead = 0, kWrite = 1, kAdmin = 2 };

const char* AccessName(Access a);

// Immutable once loaded; thread-safe.
class Authorizer {
 public:
  // Everything allowed (no --auth-tokens).
  Authorizer() = default;
  // Errors: NOT_FOUND (no file), INVALID_ARGUMENT (a bad line, with its
  // number).
  static absl::StatusOr<std::unique_ptr<Authorizer>> Load(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Authorizer>> Parse(absl::string_view text);

  bool enabled() const { return enabled_; }

  // The strongest access `authorization` (the header's value, may be empty)
  // has to volume. UNAUTHENTICATED: no token, or an unknown one;
  // PERMISSION_DENIED: the token grants nothing on this volume.
  absl::StatusOr<Access> GrantFor(absl::string_view authorization,
                                  absl::string_view volume) const;
  // GrantFor, then PERMISSION_DENIED if the grant is weaker than `need`.
  absl::Status Check(absl::string_view authorization, absl::string_view volume,
                     Access need) const;

 private:
  struct Grant {
    Access access;
    std::vector<std::string> volumes;  // "*" matches every name
  };

  bool enabled_ = false;
  absl::flat_hash_map<std::string, std::vector<Grant>> tokens_;
};

// The value of the call's "authorization" metadata ("" when absent).
std::string AuthorizationOf(const grpc::ServerContext& ctx);

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_AUTH_H_
