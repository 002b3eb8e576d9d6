// NbdDevice: an export of a remote NBD server (a SAN gateway, Ceph through
// an NBD gateway, nbdkit or qemu-nbd on another host), driven with libnbd.
//
// The device holds N connections to the export, each owned by one worker
// thread. Submit() puts the request on a queue shared by the workers and
// returns; a worker runs it with libnbd's synchronous calls (one request at
// a time per connection) and then runs the callback. So N is the device's
// queue depth.
//
// Connections and flush. NBD_CMD_FLUSH on one connection is only promised
// to cover the writes completed on *that* connection, unless the server
// advertises multi-conn consistency (NBD_FLAG_CAN_MULTI_CONN), which extends
// it to writes completed on every connection. The Device contract (a Flush
// covers every completed write) therefore allows more than one connection
// only when the server advertises multi-conn; otherwise the device uses ONE
// connection whatever NbdDeviceOptions::connections says, and runs one
// request at a time.
//
// A lost connection (server restarted, network cut) is reconnected by the
// request that finds it lost: a read, write or trim that fails because the
// connection died is sent again once on a new connection. If reconnecting
// fails the request fails with kUnavailable, and the next one tries again. Writes acknowledged on the old
// connection may have been in a volatile cache that a restarting server
// lost, so the first Flush after any reconnect fails with kUnavailable even
// when the server is back. That is enough for the origin's only writer, the
// writeback, which redoes its whole batch when the origin flush fails.
//
// No exclusive open: NBD has no lock, so nothing stops two processes from
// driving one export. Keeping each export to one volume is the operator's
// job.
#ifndef WRITEBOOST_CORE_DEVICE_NBD_DEVICE_H_
#define WRITEBOOST_CORE_DEVICE_NBD_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/core/device/device.h"

struct nbd_handle;

namespace wb {

// Whether name is an NBD URI (the schemes libnbd connects to: nbd, nbds,
// nbd+unix, nbds+unix, nbd+vsock, nbds+vsock) rather than a path.
bool IsNbdUri(absl::string_view name);

// Where the export of uri lives, in one spelling: scheme without its TLS
// "s" (nbds://h/x and nbd://h/x name the same export), host lower-cased,
// the default port 10809 and any user name dropped, the export name and the
// socket= parameter percent-encoded canonically, and every other query
// parameter (TLS settings: how to connect, not where) dropped. For example
// "nbds://Host:10809/disk?tls-verify-peer=false" gives "nbd://host/disk",
// "nbd+unix://?socket=/run/s" gives "nbd+unix:///?socket=/run/s".
// REQUIRES: IsNbdUri(uri).
std::string NormalizeNbdUri(absl::string_view uri);

struct NbdDeviceOptions {
  // Connections (and worker threads) when the server advertises multi-conn;
  // 1 otherwise (see above). At least 1.
  int connections = 4;
};

// Thread-safe. Callbacks run on the worker threads (inline in Submit() for
// failed validation and for requests that need no I/O).
// REQUIRES: no Submit() once destruction has begun, and the device is not
// destroyed from one of its own callbacks.
class NbdDevice final : public Device {
 public:
  // Connects to uri (e.g. "nbd://host:10809/export",
  // "nbd+unix:///export?socket=/run/nbd.sock", "nbds://..." for TLS, whose
  // tls-certificates and tls-psk-file parameters may name local files).
  // Errors, each naming the URI: kInvalidArgument (not an NBD URI, a URI
  // libnbd cannot parse, an export size that is not a multiple of the
  // logical block size, a minimum block size above 4096, connections < 1),
  // kFailedPrecondition (the export is read-only; nbds:// with a libnbd
  // built without TLS), kUnavailable (no server, connection refused, no such
  // export, a failed TLS handshake or a server that wants TLS from nbd://,
  // other protocol errors).
  static absl::StatusOr<std::unique_ptr<NbdDevice>> Open(
      const std::string& uri, const NbdDeviceOptions& options = {});
  // Finishes every queued request, stops the workers, disconnects.
  ~NbdDevice() override;

  uint64_t size() const override { return size_; }
  // 512, or 4096 when the server's minimum block size is above 512.
  uint32_t logical_block_size() const override { return lbs_; }
  std::string name() const override { return uri_; }
  bool supports_discard() const override { return can_trim_; }

  void Submit(const IoRequest& req, IoCallback done) override;

  // Connections in use: options.connections, or 1 without multi-conn.
  int connections() const { return static_cast<int>(conns_.size()); }
  // Connections re-established since Open().
  uint64_t reconnects() const { return reconnects_.load(); }

 private:
  struct Op {
    IoRequest req;
    IoCallback done;
  };
  struct HandleCloser {
    void operator()(nbd_handle* h) const;
  };
  using Handle = std::unique_ptr<nbd_handle, HandleCloser>;
  struct Conn {
    Handle h;
    std::thread worker;
  };
  // What Open() learns from the server.
  struct Geometry {
    uint64_t size = 0;
    uint32_t lbs = kSectorSize;
    uint64_t max_io = 0;  // Longest read or write sent as one request.
    bool can_trim = false;
    bool can_flush = false;
  };

  NbdDevice(std::string uri, const Geometry& geo);

  // A handle connected to uri.
  static absl::StatusOr<Handle> Connect(const std::string& uri);
  // A handle connected to uri_ whose export still has our geometry.
  absl::StatusOr<Handle> Reconnect();
  void Worker(Conn* conn);
  // Replaces conn's handle with a new connection if it has died; req is
  // for the message.
  absl::Status EnsureConnected(Conn* conn, const IoRequest& req);
  // Runs req on conn, reconnecting it first if it has died, and once more if
  // the connection dies under a read, write or trim.
  absl::Status Run(Conn* conn, const IoRequest& req);
  absl::Status Transfer(nbd_handle* h, const IoRequest& req);
  absl::Status IoError(const IoRequest& req, const std::string& what) const;

  bool WorkOrStopLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  }

  const std::string uri_;
  const uint64_t size_;
  const uint32_t lbs_;
  const uint64_t max_io_;
  const bool can_trim_;
  const bool can_flush_;

  // Fixed after Open(); each handle is used only by its own worker.
  std::vector<std::unique_ptr<Conn>> conns_;

  std::atomic<uint64_t> reconnects_{0};
  // Set by a reconnect, cleared (and failed) by the next Flush.
  std::atomic<bool> flush_poisoned_{false};

  absl::Mutex mu_;
  std::deque<Op> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_NBD_DEVICE_H_
