// Volume: one origin device with a writeboost cache in front of it. This is
// the core's public API; see docs/CORE.md for the design and docs/FORMAT.md
// for the bytes on disk.
//
// Block contract (ARCHITECTURE.md):
//   Write        acknowledged once copied into a RAM buffer (in write-around
//                mode: once the origin has it); visible at once.
//   Write + FUA  acknowledged once its segment is durable on the cache.
//   Flush        every write acknowledged before it arrived is durable.
//   Trim         a read returns zeroes or the value held just before.
//   WriteZeroes  like Write; reads return zeroes.
//
// Thread safety: every method may be called concurrently from any thread.
// Writes may block while the log is full (never longer than io_timeout
// without writeback progress); callers that must not block (RPC completion
// threads) call from their own worker threads.
#ifndef WRITEBOOST_CORE_VOLUME_H_
#define WRITEBOOST_CORE_VOLUME_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/core/device/device.h"
#include "server/core/format/layout.h"
#include "server/core/tunables.h"

namespace wb {

struct FormatOptions {
  uint32_t segment_size = kDefaultSegmentSize;
  // Stable identity of the origin (see device/origin_identity.h).
  std::string origin_identity;
  Tunables tunables;
  // Called with (bytes done, bytes total) while the cache is zeroed.
  std::function<void(uint64_t, uint64_t)> progress;
};

// Writes a new, empty cache set onto `cache` for `origin`. Destroys whatever
// the cache held (the caller confirms). The origin is only measured.
absl::Status FormatCache(Device& cache, const Device& origin,
                         const FormatOptions& options);

struct OpenOptions {
  // Must equal the identity recorded at format time.
  std::string origin_identity;
  uint64_t rambuf_size = 64ull << 20;
  absl::Duration io_timeout = absl::Seconds(60);
  // Writes in flight to the origin during writeback.
  int writeback_depth = 32;
  // Background threads (flusher, writeback). Tests of the raw log may turn
  // writeback off; the flusher always runs.
  bool enable_writeback = true;
};

// The seed's 16-counter stat matrix: index = write<<3 | hit<<2 |
// on_buffer<<1 | full_size.
inline int StatIndex(bool write, bool hit, bool on_buffer, bool full_size) {
  return (write << 3) | (hit << 2) | (on_buffer << 1) | int{full_size};
}

struct VolumeStatus {
  // The seed's fields.
  uint64_t cursor_pos = 0;       // ring block where the next segment goes
  uint64_t nr_cache_blocks = 0;  // data blocks the ring can hold
  uint64_t nr_segments = 0;      // full-size segments the ring can hold
  uint64_t current_id = 0;       // newest segment id (sealed or open)
  uint64_t last_flushed_id = 0;  // newest id durable on the cache
  uint64_t last_writeback_id = 0;
  uint64_t nr_dirty_cache_blocks = 0;
  uint64_t nr_partial_flushed = 0;  // segments sealed before they were full
  std::array<uint64_t, 16> stat{};

  // Beyond the seed.
  uint64_t size_bytes = 0;
  uint32_t segment_size = 0;
  uint64_t ring_blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t dirty_segments = 0;
  uint64_t writeback_bytes = 0;     // total written back
  uint64_t writeback_batches = 0;
  uint64_t origin_errors = 0;       // failed origin I/Os (retried)
  uint64_t cache_errors = 0;        // failed cache I/Os
  uint64_t checksum_errors = 0;     // data checksum mismatches on read
  uint64_t writers_waiting = 0;     // writes blocked on a full log
  uint64_t log_full_waits = 0;      // writes that have had to wait for ring space
  uint64_t group_commits = 0;       // device flushes for FUA/Flush waiters
  uint64_t index_bytes = 0;         // memory of the index structures
  double oldest_dirty_age_s = 0;    // age of the oldest data not on origin
  uint64_t dirty_epochs = 0;        // epochs not yet written back (backlog)
  uint64_t internal_epoch_cuts = 0; // epochs ended without a Flush/FUA
  uint64_t read_cache_staged = 0;   // origin blocks staged by read caching
  uint64_t read_cache_hits = 0;     // blocks read from clean copies
  uint64_t clean_blocks = 0;        // clean copies now serving reads
  uint64_t zero_blocks = 0;         // blocks WriteZeroes recorded as ZERO entries
  uint64_t trim_blocks = 0;         // blocks Trim recorded as TRIM entries
  uint64_t discarded_blocks = 0;    // trimmed blocks discarded on the origin
  double writeback_rate_bps = 0;    // bytes/s written back, smoothed over ~5 s
  double origin_read_latency_ms = 0; // mean foreground origin read, last 0.5 s
  uint32_t origin_util_percent = 0;  // share of time foreground reads used it
  bool failed = false;
  std::string failure;              // why, when failed
  std::string last_origin_error;
  Tunables tunables;
  uint64_t gen = 0;                 // open generation
};

class Volume {
 public:
  // Opens a formatted cache set: validates the superblock and the origin,
  // replays the log and starts the background threads. Errors:
  //   kFailedPrecondition  not formatted, newer version, wrong origin
  //   kDataLoss            corrupt superblock or progress records
  static absl::StatusOr<std::unique_ptr<Volume>> Open(
      std::unique_ptr<Device> cache, std::unique_ptr<Device> origin,
      const OpenOptions& options);

  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;
  // Seals and flushes what is in RAM, records progress and stops. Errors
  // are swallowed here; call Close() to see them.
  virtual ~Volume();

  // Offsets and lengths are bytes, multiples of 512, inside size().
  // kInvalidArgument for misalignment, kOutOfRange past the end.
  virtual absl::Status Read(uint64_t offset, absl::Span<char> out) = 0;
  virtual absl::Status Write(uint64_t offset, absl::Span<const char> data,
                             bool fua) = 0;
  virtual absl::Status Flush() = 0;
  virtual absl::Status Trim(uint64_t offset, uint64_t length) = 0;
  virtual absl::Status WriteZeroes(uint64_t offset, uint64_t length,
                                   bool fua) = 0;

  virtual uint64_t size() const = 0;
  virtual VolumeStatus GetStatus() = 0;

  // Tunables by the seed's names; persisted before returning.
  virtual absl::Status SetTunable(absl::string_view name, uint64_t value) = 0;
  // "drop_caches" (write everything back, wait) or "clear_stat".
  virtual absl::Status SendMessage(absl::string_view message) = 0;
  // Writes back every dirty block and waits; progress(dirty blocks left).
  virtual absl::Status DropCaches(
      std::function<void(uint64_t dirty_blocks)> progress) = 0;

  // Clean shutdown: seal, flush, record progress, stop threads.
  virtual absl::Status Close() = 0;

 protected:
  Volume() = default;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_VOLUME_H_
