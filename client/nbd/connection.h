// The NBD bridge's view of one volume: what one NBD connection of the
// nbdkit plugin (plugin.cc) drives. It knows nothing of nbdkit; plugin.cc
// turns its absl::Status results into errno values.
//
// Every call blocks its caller (an nbdkit worker thread) until the reply;
// calls from many threads at once share one pipelined Io stream
// (client/lib/io_stream.h), which batches them into gRPC messages. Reads
// and writes larger than the server's payload limit are split into pieces
// that travel in parallel; the call completes when every piece has.
//
// Restart detection: libwbclient reopens a broken Io stream and resends
// flushes, so a Flush can be answered by a writeboostd that restarted after
// losing writes it had acknowledged. A Flush would then report success for
// data that is gone. With check_restart (the default) every successful Flush
// is followed by a status call comparing the volume's open generation with
// the one seen at Open(); a change fails that Flush and every later call on
// this connection with DATA_LOSS (EIO to the client), which is what a disk
// that lost its write cache must report.
//
// Thread-safety: every method may be called concurrently except Close().
#ifndef WRITEBOOST_CLIENT_NBD_CONNECTION_H_
#define WRITEBOOST_CLIENT_NBD_CONNECTION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "client/lib/admin.h"
#include "client/lib/io_stream.h"
#include "client/lib/options.h"
#include "client/lib/volume.h"

namespace wbnbd {

struct BridgeConfig {
  std::string endpoint = wbclient::kDefaultEndpoint;
  // Empty: the NBD export name picks the volume ("default" if that is empty).
  std::string volume;
  wbclient::Options options;
  // Requests larger than this many bytes are never sent as one gRPC request
  // (0: the server's max_payload_bytes, which is also the upper bound).
  uint64_t chunk = 0;
  // Byte ranges of WriteZeroes sent per gRPC request.
  uint64_t zero_chunk = 16ull << 20;
  // Largest request advertised to NBD clients (block_size maximum).
  uint32_t max_request = 32u << 20;
  bool check_restart = true;
};

class Connection {
 public:
  // Connects, describes the volume (waiting while it replays its log) and
  // opens the Io stream. Errors as wbclient::Volume::Open.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const BridgeConfig& config,
                                                          const std::string& volume);
  ~Connection();

  const std::string& volume() const { return volume_->name(); }
  uint64_t size() const { return volume_->size(); }
  bool read_only() const { return volume_->read_only(); }
  uint64_t generation() const { return generation_; }

  // Offsets and lengths in bytes, multiples of 512 (the server checks).
  absl::Status Read(uint64_t offset, absl::Span<char> out);
  absl::Status Write(uint64_t offset, absl::Span<const char> data, bool fua);
  absl::Status Flush();
  // Trim is advisory on the server; with fua the trim's effect (and so
  // every write before it) is made durable by a Flush.
  absl::Status Trim(uint64_t offset, uint64_t length, bool fua);
  absl::Status WriteZeroes(uint64_t offset, uint64_t length, bool fua);

  // Waits for what is in flight and closes the stream.
  absl::Status Close();

 private:
  Connection(const BridgeConfig& config, std::unique_ptr<wbclient::Volume> volume,
             std::unique_ptr<wbclient::Admin> admin, std::unique_ptr<wbclient::IoStream> stream,
             uint64_t generation);

  // DATA_LOSS once a restart was detected, else OK.
  absl::Status Poisoned() const;
  absl::Status CheckGeneration();

  const BridgeConfig config_;
  std::unique_ptr<wbclient::Volume> volume_;
  std::unique_ptr<wbclient::Admin> admin_;  // null when !check_restart
  std::unique_ptr<wbclient::IoStream> stream_;
  const uint64_t generation_;
  // Bytes per Read/Write piece: min(config chunk, server max_payload).
  uint64_t chunk_;

  std::atomic<bool> poisoned_{false};
  mutable absl::Mutex mu_;
  absl::Status poison_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wbnbd

#endif  // WRITEBOOST_CLIENT_NBD_CONNECTION_H_
