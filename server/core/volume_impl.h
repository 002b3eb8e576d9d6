// VolumeImpl: the engine behind Volume. Its methods are spread over
//   volume_open.cc   open/recover, close, status, tunables, messages
//   write_path.cc    Write, WriteZeroes, Trim, Flush and FUA waits
//   read_path.cc     Read
//   flusher.cc       sealing, segment writes, device flushes (group commit)
//   writeback.cc     epoch-ordered writeback and the progress record
//   read_cache.cc    staging clean blocks and keeping written-back ones
//   zero_trim.cc     WriteZeroes and Trim as ZERO and TRIM log entries
// docs/CORE.md describes the design; docs/FORMAT.md the bytes.
//
// Locking: one mutex, mu_, guards all state below marked GUARDED_BY. No I/O
// is ever issued while holding it: device callbacks take mu_, and some
// devices complete inline in Submit().
#ifndef WRITEBOOST_CORE_VOLUME_IMPL_H_
#define WRITEBOOST_CORE_VOLUME_IMPL_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/block_index.h"
#include "server/core/device/aligned_io.h"
#include "server/core/format/progress.h"
#include "server/core/recovery.h"
#include "server/core/volume.h"

namespace wb {

// One RAM buffer: the metadata blocks and data blocks of one segment.
struct RamBuffer {
  explicit RamBuffer(size_t bytes) : mem(bytes) {}
  AlignedBuffer mem;
  absl::flat_hash_map<uint64_t, uint32_t> slot_of;  // origin block -> slot
  // Slots a write is overwriting in place right now (with mu_ released).
  absl::flat_hash_set<uint32_t> in_place;
};

struct Segment {
  // kRetained: written back and its ring space free, but its clean blocks
  // still serve reads until the head of the log reaches them (read_cache.cc).
  enum class State { kOpen, kSealed, kWriting, kWritten, kRetained };
  uint64_t id = 0;
  uint64_t pos = 0;       // ring position of its first (metadata) block
  uint32_t nr_data = 0;   // data blocks (one per data entry)
  // ZERO and TRIM entries (no data block): their virtual cache blocks, in
  // the order recorded. They follow the data entries on disk, so none of
  // them may be older than a data entry of the same block in this segment.
  std::vector<uint32_t> virtual_cbs;
  bool starts_epoch = false;
  // With starts_epoch: cut without a Flush, so writeback may merge the epoch
  // with the one before (kSegmentInternalCut).
  bool internal_cut = false;
  State state = State::kOpen;
  RamBuffer* buf = nullptr;  // set while its data is in RAM
  int writers = 0;           // writers still copying into buf
  int pins = 0;              // readers using buf or its ring blocks
  bool write_failed = false;  // its data exists only in buf, kept for reads
  absl::Time created;
};

class VolumeImpl final : public Volume {
 public:
  VolumeImpl(std::unique_ptr<Device> cache, std::unique_ptr<Device> origin,
             const OpenOptions& options, const CacheHead& head);
  ~VolumeImpl() override;

  // Replays the log, records the new generation and starts the threads.
  absl::Status Recover();
  void AddReplayedSegment(uint64_t pos, const SegmentHeader& h)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Status Read(uint64_t offset, absl::Span<char> out) override;
  absl::Status Write(uint64_t offset, absl::Span<const char> data,
                     bool fua) override;
  absl::Status Flush() override;
  absl::Status Trim(uint64_t offset, uint64_t length) override;
  absl::Status WriteZeroes(uint64_t offset, uint64_t length, bool fua) override;
  uint64_t size() const override { return geo_.origin_size; }
  VolumeStatus GetStatus() override;
  absl::Status SetTunable(absl::string_view name, uint64_t value) override;
  absl::Status SendMessage(absl::string_view message) override;
  absl::Status DropCaches(std::function<void(uint64_t)> progress) override;
  absl::Status Close() override;

 private:
  // ---- per-cache-block metadata: origin block (48 bits) | mask << 48 |
  //      clean << 56 | trim << 57 ----
  // Cache blocks [0, ring_blocks) are ring blocks holding data; blocks from
  // ring_blocks on are virtual: ZERO or TRIM entries, which read as zeroes.
  static constexpr uint64_t kCleanBit = uint64_t{1} << 56;
  static constexpr uint64_t kTrimBit = uint64_t{1} << 57;
  bool IsVirtual(uint32_t cb) const { return cb >= geo_.ring_blocks; }
  // How many virtual cache blocks there may be: one per ring block.
  uint64_t MaxVirtual() const {
    return std::min<uint64_t>(geo_.ring_blocks, UINT32_MAX - 1 - geo_.ring_blocks);
  }
  uint64_t OriginOf(uint32_t cb) const { return block_meta_[cb] & kMaxOriginBlock; }
  uint8_t MaskOf(uint32_t cb) const { return static_cast<uint8_t>(block_meta_[cb] >> 48); }
  // A clean copy equals the origin: never written back, dropped at will.
  bool IsClean(uint32_t cb) const { return (block_meta_[cb] & kCleanBit) != 0; }
  uint32_t DataBlock(const Segment& s, uint32_t slot) const {
    return static_cast<uint32_t>(s.pos + geo_.meta_blocks + slot);
  }
  char* SlotData(const Segment& s, uint32_t slot) const {
    return s.buf->mem.data() + (uint64_t{geo_.meta_blocks} + slot) * kBlockSize;
  }
  Segment* SegmentOf(uint32_t cb) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t OlderOf(uint32_t cb) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the dirty copy at cb once written back (compare-and-erase).
  void ForgetCopy(uint32_t cb) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- write path ----
  absl::Status CheckRange(uint64_t offset, uint64_t length) const;
  absl::StatusOr<Segment*> AcquireOpenSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Opens a new segment at the head if a RAM buffer and ring room are free
  // (evicting retained segments there); null otherwise. Never waits.
  Segment* TryOpenSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Undoes TryOpenSegment for an open segment that nothing went into, so
  // that no empty open segment outlives the lock hold that opened it:
  // Flush, DropCaches and the sync timer skip one, so nothing seals it.
  // REQUIRES: open_ is empty, with no writers.
  void AbandonOpenSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool RingHasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SegmentEmpty(const Segment& s) const {
    return s.nr_data == 0 && s.virtual_cbs.empty();
  }
  // No room for another data entry (or, with virtual, another entry).
  bool SegmentFull(const Segment& s, bool virtual_entry = false) const {
    uint64_t entries = s.nr_data + s.virtual_cbs.size();
    return entries == geo_.max_entries ||
           (!virtual_entry && s.nr_data == geo_.max_data_blocks);
  }
  // Waits until every segment with id <= id is durable on the cache.
  absl::Status WaitDurable(uint64_t id, bool fua) ABSL_LOCKS_EXCLUDED(mu_);

  // ---- flusher ----
  void FlusherLoop();
  void Seal(Segment* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SubmitSegmentWrite(Segment* s) ABSL_LOCKS_EXCLUDED(mu_);
  void OnSegmentWritten(Segment* s, absl::Status st) ABSL_LOCKS_EXCLUDED(mu_);
  void MaybeReleaseBuffer(Segment* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Decides whether a device flush should start now; if so marks it in
  // flight and sets *covers to the id it makes durable.
  bool TakeFlush(uint64_t* covers) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SubmitFlush(uint64_t covers) ABSL_LOCKS_EXCLUDED(mu_);
  void Fail(const absl::Status& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- read cache (read_cache.cc) ----
  // A block read wholly from the origin while the cache had no copy of it:
  // registered before the origin read so that writes meanwhile void it.
  struct ReadFill {
    int readers = 0;
    bool stale = false;  // a write touched the block since registration
  };
  // Whether a read continues a sequential run too long to cache; counts it.
  bool ReadRunTooLong(uint64_t offset, uint64_t length)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RegisterFill(uint64_t block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A write (of any kind) is about to change block: void fills of it.
  void VoidFill(uint64_t block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!read_fills_.empty()) {
      auto it = read_fills_.find(block);
      if (it != read_fills_.end()) it->second.stale = true;
    }
  }
  // What a read saw of write-around as it registered its fills: a write
  // going around the cache at any time between then and staging voids them.
  struct AroundMark {
    uint64_t started = 0;  // around_started_
    bool busy = false;     // a write-around was in flight
  };
  AroundMark MarkAround() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return {around_started_, around_in_flight_ != 0};
  }
  // Stages the blocks a read fetched from the origin as clean entries if no
  // write touched them meanwhile; unregisters them either way. data holds
  // block blocks[i] at data + i * kBlockSize.
  void StageFills(const std::vector<uint64_t>& blocks,
                  const std::vector<const char*>& data, AroundMark around_seen)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the clean copy at the head of block's chain, if any (a write is
  // about to go around the cache).
  void DropCleanCopy(uint64_t block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After writeback: the newest full copy stays as a clean copy for reads;
  // anything else is forgotten. REQUIRES: cb's data is on the origin.
  void RetireWrittenBack(uint32_t cb) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees retained segments lying in [pos, pos + blocks); false if one is
  // pinned by a reader (the caller waits).
  bool EvictRetained(uint64_t pos, uint64_t blocks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- ZERO and TRIM entries (zero_trim.cc) ----
  // Records whole blocks [first, first + count) as zeroed (or trimmed) in
  // the log; returns how many it recorded before running out of virtual
  // cache blocks, and the id of the last segment used in *last_id.
  absl::StatusOr<uint64_t> RecordZeroBlocks(uint64_t first, uint64_t count,
                                            bool trim, uint64_t* last_id)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A virtual cache block for origin block `block`, or kNone when all are
  // in use.
  uint32_t AllocVirtual(uint64_t block, bool trim) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the virtual blocks of a segment whose ring space is freed.
  void FreeVirtual(Segment* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- write-around (write_around.cc) ----
  // Writes straight to the origin when write_around_mode is on or the write
  // continues a sequential run longer than sequential_cutoff, nothing is
  // dirty and the range fits the origin's blocks; returns false to leave
  // the write to the log. *status is the write's result otherwise.
  bool TryWriteAround(uint64_t offset, absl::Span<const char> data, bool fua,
                      absl::Status* status) ABSL_LOCKS_EXCLUDED(mu_);
  // Flushes the origin if write-around writes completed since the last
  // time (part of Flush()).
  absl::Status FlushWrittenAround() ABSL_LOCKS_EXCLUDED(mu_);

  // ---- writeback ----
  void WritebackLoop();
  struct Batch;
  // Plans the batch of segments that follows segment `after` (whole epochs
  // in ordered mode). With may_cut, an open epoch that is aged or stands in
  // the way of urgent writeback is cut so that it can go; planning ahead
  // never cuts.
  bool PlanBatch(uint64_t after, bool may_cut, Batch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads a batch's segments from the cache, writeback_depth at a time;
  // a failed read is counted as a cache error and retried a few times.
  absl::Status ReadBatch(Batch* batch) ABSL_LOCKS_EXCLUDED(mu_);
  // A read of the cache device failed (the read path fails that read).
  void CountCacheReadError() ABSL_LOCKS_EXCLUDED(mu_) {
#ifndef WB_MUTANT_cache_error_as_origin
    absl::MutexLock l(&mu_);
    cache_errors_++;
#endif
  }
  bool WritebackAllowed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ring is short of free space (with hysteresis).
  bool LowOnSpace() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes a batch that ReadBatch read to the origin and flushes it.
  // while_writing runs once the origin writes are submitted, to overlap
  // reading the next batch with them.
  absl::Status RunBatch(Batch* batch, absl::FunctionRef<void()> while_writing)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Writes segments [begin, end) of a batch (one Flush epoch, or several
  // merged) to the origin, each block once with its last value; no flush.
  // while_writing, if set, runs once the full-block writes are submitted.
  absl::Status WriteGroup(const Batch& batch,
                          const std::vector<SegmentHeader>& headers,
                          size_t begin, size_t end,
                          absl::FunctionRef<void()> while_writing,
                          bool call_while_writing, uint64_t* bytes,
                          uint64_t* discarded) ABSL_LOCKS_EXCLUDED(mu_);
  // The next segment starts an epoch at a Flush boundary: writeback flushes
  // the origin before anything written after it.
  void EndEpochAtFlush() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The next segment starts an epoch without a Flush (length cap, age, ring
  // space, drain): counted in internal_epoch_cuts, free to merge.
  void CutEpoch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteProgress() ABSL_LOCKS_EXCLUDED(mu_);
  void FreeWrittenBack() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unpins a read's segments; with ram_reader, also uncounts it from
  // ram_readers_.
  void Unpin(const std::vector<Segment*>& segs, bool ram_reader)
      ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t UsedBlocks() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<Device> cache_;
  const std::unique_ptr<Device> origin_;
  const OpenOptions options_;
  const Superblock sb_;
  const Geometry geo_;

  mutable absl::Mutex mu_;
  absl::CondVar state_cv_;    // any change a waiter may care about
  absl::CondVar flusher_cv_;  // work for the flusher
  absl::CondVar wb_cv_;       // work for writeback

  // Per ring block: origin block | published sector mask << 48. Allocated
  // with calloc so that untouched pages cost no memory.
  uint64_t* block_meta_ = nullptr;
  BlockIndex index_ ABSL_GUARDED_BY(mu_);
  // Newer copy -> older dirty copy still holding sectors the newer lacks.
  absl::flat_hash_map<uint32_t, uint32_t> older_ ABSL_GUARDED_BY(mu_);

  std::map<uint64_t, std::unique_ptr<Segment>> segments_ ABSL_GUARDED_BY(mu_);  // by id
  // Live and retained segments by ring position (reads look cbs up here).
  std::map<uint64_t, Segment*> by_pos_ ABSL_GUARDED_BY(mu_);
  // Written-back segments whose clean blocks still serve reads, by position.
  std::map<uint64_t, std::unique_ptr<Segment>> retained_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, ReadFill> read_fills_ ABSL_GUARDED_BY(mu_);
  // The sequential run reads form (read_cache_threshold).
  uint64_t read_run_end_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;
  uint64_t read_run_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t read_cache_staged_ ABSL_GUARDED_BY(mu_) = 0;  // blocks
  uint64_t read_cache_hits_ ABSL_GUARDED_BY(mu_) = 0;    // clean blocks read
  uint64_t clean_blocks_ ABSL_GUARDED_BY(mu_) = 0;       // clean copies indexed
  // Virtual cache blocks (ZERO/TRIM entries): free ids, and the next never
  // used one. An id returns to the free list only once the progress record
  // covers its segment, so replay never needs more than exist.
  std::vector<uint32_t> free_virtual_ ABSL_GUARDED_BY(mu_);
  uint32_t next_virtual_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t zero_blocks_ ABSL_GUARDED_BY(mu_) = 0;      // recorded as ZERO
  uint64_t trim_blocks_ ABSL_GUARDED_BY(mu_) = 0;      // recorded as TRIM
  uint64_t discarded_blocks_ ABSL_GUARDED_BY(mu_) = 0;  // trims passed to the origin
  absl::Status replay_error_ ABSL_GUARDED_BY(mu_);  // AddReplayedSegment's
  std::vector<std::unique_ptr<RamBuffer>> buffers_;
  std::vector<RamBuffer*> free_buffers_ ABSL_GUARDED_BY(mu_);
  Segment* open_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Reads and writes copy RAM data with mu_ released: reads that may copy
  // from the open buffer, and writes' in-place copies into it in progress.
  // A write overwrites in place only with no such read (write_path.cc).
  int ram_readers_ ABSL_GUARDED_BY(mu_) = 0;
  int inplace_copies_ ABSL_GUARDED_BY(mu_) = 0;

  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t head_pos_ ABSL_GUARDED_BY(mu_) = 0;
  bool next_starts_epoch_ ABSL_GUARDED_BY(mu_) = true;
  // The pending epoch start is an internal cut, not a Flush boundary.
  bool next_cut_internal_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t epoch_len_ ABSL_GUARDED_BY(mu_) = 0;

  uint64_t completed_through_ ABSL_GUARDED_BY(mu_) = 0;  // all <= written
  uint64_t durable_through_ ABSL_GUARDED_BY(mu_) = 0;    // and flushed
  uint64_t flush_wanted_through_ ABSL_GUARDED_BY(mu_) = 0;
  bool flush_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time fua_seal_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();

  uint64_t last_writeback_id_ ABSL_GUARDED_BY(mu_) = 0;  // on origin, flushed
  uint64_t progress_recorded_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t progress_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gen_ = 0;
  uint64_t gen_start_id_ = 1;
  absl::Time last_progress_write_ ABSL_GUARDED_BY(mu_);
  absl::Mutex progress_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one writer at a time
  Tunables tunables_ ABSL_GUARDED_BY(mu_);

  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ = false;
  int drop_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int writers_waiting_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t log_full_waits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t space_progress_ ABSL_GUARDED_BY(mu_) = 0;  // bumps when space frees

  // Origin utilisation: time foreground reads spent on the origin.
  std::atomic<uint64_t> origin_busy_ns_{0};
  std::atomic<uint64_t> origin_reads_{0};
  // Mean foreground origin read latency over the last sample window.
  double origin_read_latency_ms_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t origin_util_percent_ ABSL_GUARDED_BY(mu_) = 0;

  // Statistics.
  std::array<uint64_t, 16> stat_ ABSL_GUARDED_BY(mu_){};
  uint64_t nr_partial_flushed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t nr_dirty_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  // Write-around (write_around.cc): origin writes in flight, and the count
  // of those completed, and of those the last origin flush covered.
  int around_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t around_started_ ABSL_GUARDED_BY(mu_) = 0;
  // A write wanted to go around but writeback's progress was not yet
  // durable: write the progress record soon.
  bool progress_wanted_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t around_done_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t around_flushed_ ABSL_GUARDED_BY(mu_) = 0;
  // The sequential run the writes form (sequential_cutoff): where the last
  // write ended and how long the run is.
  uint64_t run_end_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;
  uint64_t run_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t writeback_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t writeback_batches_ ABSL_GUARDED_BY(mu_) = 0;
  // Epochs ended without a Flush/FUA (length limit, age, space, drain).
  uint64_t internal_epoch_cuts_ ABSL_GUARDED_BY(mu_) = 0;
  bool low_on_space_ ABSL_GUARDED_BY(mu_) = false;
  double writeback_rate_bps_ ABSL_GUARDED_BY(mu_) = 0;  // smoothed
  uint64_t origin_errors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t cache_errors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t checksum_errors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t group_commits_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_origin_error_ ABSL_GUARDED_BY(mu_);

  std::thread flusher_;
  std::thread writeback_;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_VOLUME_IMPL_H_
