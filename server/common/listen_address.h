// gRPC listen addresses ("HOST:PORT", "[V6]:PORT", "unix:PATH", with an
// optional "ipv4:"/"ipv6:" scheme) as both daemons accept them in --listen.
#ifndef WRITEBOOST_COMMON_LISTEN_ADDRESS_H_
#define WRITEBOOST_COMMON_LISTEN_ADDRESS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace wb::common {

// Whether the host part of a listen address is a loopback address or a
// unix socket (no network exposure); the daemons refuse plaintext
// elsewhere unless told --insecure.
bool IsLocalAddress(absl::string_view listen);

// The address as bound, with the port gRPC chose for port 0:
// "127.0.0.1:0" bound to port 4711 → "127.0.0.1:4711". Unix sockets and
// addresses without a port come back unchanged.
std::string BoundAddress(const std::string& addr, int port);

}  // namespace wb::common

#endif  // WRITEBOOST_COMMON_LISTEN_ADDRESS_H_
