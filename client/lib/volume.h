// libwbclient Volume: blocking block I/O on one volume of a writeboostd node
// (proto/writeboost/v1/block.proto has the contract and the status codes).
//
//   auto vol = wbclient::Volume::Open("127.0.0.1:7200", "default");
//   if (!vol.ok()) ...
//   (*vol)->Write(0, data, /*fua=*/true);
//
// Errors are absl::Status with the server's gRPC code and message. Reads and
// flushes are retried after UNAVAILABLE (options.h); nothing that changes
// data is retried. Thread-safe: any number of threads may call at once
// (each call is one RPC on the volume's connection).
//
// Daemon restarts (options.detect_restart, restart_guard.h): the Volume and
// every stream it opened share one RestartGuard. If writeboostd restarted
// while plain writes it had acknowledged through them were not yet flushed,
// Flush fails with DATA_LOSS, and so does every later call on the Volume and
// its streams (FUA writes, reads...) until the application opens the volume
// again: those writes may be gone. A restart while nothing was pending goes
// unnoticed, as it lost nothing.
#ifndef WRITEBOOST_CLIENT_LIB_VOLUME_H_
#define WRITEBOOST_CLIENT_LIB_VOLUME_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/lib/options.h"

namespace grpc {
class Channel;
class Status;
}

namespace wbclient {

class IoStream;

class Volume {
 public:
  // Connects (a connection of its own) and describes the volume, waiting up
  // to options.open_wait while it replays its log. Errors: NOT_FOUND,
  // UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE (no server).
  static absl::StatusOr<std::unique_ptr<Volume>> Open(const std::string& endpoint,
                                                      const std::string& name,
                                                      const Options& options = {});
  ~Volume();

  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  bool read_only() const { return read_only_; }
  // Largest Read/Write payload the server takes in one request.
  uint64_t max_payload() const { return max_payload_; }

  // Offsets and lengths are bytes, multiples of 512; lengths of Read and
  // Write at most max_payload(). Every call first fails with DATA_LOSS once
  // a restart lost writes (above).
  absl::Status Read(uint64_t offset, absl::Span<char> out);
  absl::Status Write(uint64_t offset, absl::Span<const char> data, bool fua = false);
  absl::Status Flush();
  absl::Status Trim(uint64_t offset, uint64_t length);
  absl::Status WriteZeroes(uint64_t offset, uint64_t length, bool fua = false);

  // A pipelined stream on this volume's connection (io_stream.h), batching
  // within max_payload() and sharing the Volume's restart detection;
  // queue_depth 0 takes options.queue_depth.
  absl::StatusOr<std::unique_ptr<IoStream>> OpenStream(int queue_depth = 0);

 private:
  struct Impl;
  Volume(std::string name, const Options& options, std::shared_ptr<grpc::Channel> channel);
  // A write or write-zeroes RPC, with the guard's bookkeeping around it.
  absl::Status Mutate(bool fua, absl::FunctionRef<grpc::Status()> call);
  // A lower bound of the generation that will acknowledge a write sent now.
  absl::StatusOr<uint64_t> GenerationBound();

  const std::string name_;
  const Options options_;
  std::unique_ptr<Impl> impl_;
  uint64_t size_ = 0;
  uint64_t max_payload_ = 0;
  bool read_only_ = false;
};

}  // namespace wbclient

#endif  // WRITEBOOST_CLIENT_LIB_VOLUME_H_
