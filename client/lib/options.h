// libwbclient: how to reach a writeboostd node. See volume.h for the block
// API, io_stream.h for pipelined I/O, restart_guard.h for what a daemon
// restart does to durability, and admin.h for the AdminService.
#ifndef WRITEBOOST_CLIENT_LIB_OPTIONS_H_
#define WRITEBOOST_CLIENT_LIB_OPTIONS_H_

#include <string>

#include "absl/time/time.h"

namespace wbclient {

// The node's default address (writeboostd --listen).
inline constexpr char kDefaultEndpoint[] = "127.0.0.1:7200";

struct Credentials {
  // Bearer token sent as "authorization: Bearer <token>"; empty: none.
  std::string token;
  // Use TLS. ca_file holds the PEM roots that verify the server (empty: the
  // system's roots).
  bool tls = false;
  std::string ca_file;
  // mTLS: the client's PEM certificate chain and key.
  std::string cert_file;
  std::string key_file;
  // Verify the server certificate against this name instead of the
  // endpoint's host (tests with self-signed certificates).
  std::string server_name;
};

struct Options {
  Credentials credentials;
  // Deadline of every unary call; absl::InfiniteDuration() for none.
  absl::Duration timeout = absl::Seconds(60);
  // How often a read or a flush is tried again after UNAVAILABLE (a broken
  // connection, a server restarting, a volume still replaying). Writes,
  // trims and write-zeroes are never retried: repeated after a later write
  // to the same blocks they would undo it.
  int retries = 5;
  absl::Duration retry_backoff = absl::Milliseconds(200);
  // Io streams: I/Os in flight at most, and per message. A message also
  // carries at most min(1 MiB, the server's max_payload_bytes) of read and
  // write payload.
  int queue_depth = 32;
  int max_batch = 16;
  // Fail flushes with DATA_LOSS when writeboostd restarted under writes it
  // had acknowledged and not flushed (restart_guard.h). Costs a status call
  // when an Io stream (re)connects and at its first reply, and on the unary
  // calls one before the first plain write after a flush and one after a
  // flush that covers plain writes. False: such a flush succeeds although
  // the writes are gone.
  bool detect_restart = true;
  // Open(): how long to wait for a volume that is still replaying its log.
  absl::Duration open_wait = absl::Seconds(30);
};

}  // namespace wbclient

#endif  // WRITEBOOST_CLIENT_LIB_OPTIONS_H_
