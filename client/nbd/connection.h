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
// Requests need not be aligned to 512 bytes. A partial sector is read,
// patched and written back whole (read-modify-write) while its sectors are
// held exclusively in the volume's SectorLocks (sector_locks.h), so that no
// other write to those sectors, on any connection of this process, lands in
// between; whole-sector writes and zeroes hold their sectors shared. An
// unaligned trim shrinks to the whole sectors inside it (trim is advisory).
//
// Restarts are libwbclient's business (client/lib/restart_guard.h): a flush
// answered by a writeboostd that restarted while acknowledged writes were
// unflushed fails with DATA_LOSS, and so does every later call on this
// connection; the NBD client must reconnect.
//
// Thread-safety: every method may be called concurrently except Close().
#ifndef WRITEBOOST_CLIENT_NBD_CONNECTION_H_
#define WRITEBOOST_CLIENT_NBD_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/lib/io_stream.h"
#include "client/lib/options.h"
#include "client/lib/volume.h"
#include "client/nbd/sector_locks.h"

namespace wbnbd {

struct BridgeConfig {
  std::string endpoint = wbclient::kDefaultEndpoint;
  // Empty: the NBD export name picks the volume ("default" if that is empty).
  std::string volume;
  // options.detect_restart is the plugin's check-restart.
  wbclient::Options options;
  // Requests larger than this many bytes are never sent as one gRPC request
  // (0: the server's max_payload_bytes, which is also the upper bound).
  uint64_t chunk = 0;
  // Byte ranges of WriteZeroes sent per gRPC request.
  uint64_t zero_chunk = 16ull << 20;
  // Largest request advertised to NBD clients (block_size maximum).
  uint32_t max_request = 32u << 20;
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

  // Offsets and lengths in bytes, any alignment; the range lies inside the
  // volume (nbdkit checks).
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
             std::unique_ptr<wbclient::IoStream> stream);

  // REQUIRES (these three): offset and length multiples of 512.
  absl::Status ReadSectors(uint64_t offset, absl::Span<char> out);
  absl::Status WriteSectors(uint64_t offset, absl::Span<const char> data, bool fua);
  absl::Status ZeroSectors(uint64_t offset, uint64_t length, bool fua);
  // Read-modify-write: puts `length` bytes of `data` (null: zeroes) at
  // `offset` by rewriting the whole sectors around them.
  // REQUIRES: the caller holds those sectors exclusively.
  absl::Status Patch(uint64_t offset, uint64_t length, const char* data, bool fua);

  const BridgeConfig config_;
  std::unique_ptr<wbclient::Volume> volume_;
  std::unique_ptr<wbclient::IoStream> stream_;
  SectorLocks& locks_;
  // Bytes per Read/Write piece: min(config chunk, server max_payload).
  uint64_t chunk_;
};

}  // namespace wbnbd

#endif  // WRITEBOOST_CLIENT_NBD_CONNECTION_H_
