// The crash harness's reference model: which value each 512-byte sector may
// hold after a power cut, given every write the workload issued and every
// acknowledgement it received (the block contract of ARCHITECTURE.md).
//
// Data is self-describing: a written sector holds (write id, sector, a
// pattern derived from both), so reading a sector names the write it came
// from, and anything else is garbage. Zeroes name themselves.
#ifndef WRITEBOOST_TESTS_CRASH_VALUE_MODEL_H_
#define WRITEBOOST_TESTS_CRASH_VALUE_MODEL_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace wb::crash {

// What a sector holds: kZero, a write id (>= 1), or kGarbage.
using ValueId = uint64_t;
inline constexpr ValueId kZero = 0;
inline constexpr ValueId kGarbage = std::numeric_limits<uint64_t>::max();
// The id of the origin's content before any write (InitialOriginImage).
inline constexpr ValueId kInitialValue = 1;
// Ids from here on name data the harness planted (stale_plant.h); no
// workload issues them.
inline constexpr ValueId kPlantedIdBase = uint64_t{1} << 62;

// The 512 bytes that write `id` puts at `sector`.
void FillSector(uint64_t sector, ValueId id, char* out);
// Names the value found in 512 bytes at `sector`.
ValueId DecodeSector(uint64_t sector, const char* in);
// An origin image holding kInitialValue in every sector.
std::string InitialOriginImage(uint64_t bytes);
std::string ValueName(ValueId v);

enum class OpKind { kWrite, kZeroes, kTrim };

// Event counters ("watermarks") order issues and acknowledgements against
// the instant of a cut: an ack recorded before the durable watermark (read
// before the snapshot) certainly preceded it; a write issued after the
// issue watermark (read after the snapshot) certainly followed it.
//
// Thread-safe. REQUIRES: a sector is written by one thread at a time, so
// that its history is in that thread's program order.
class Model {
 public:
  // baseline[s]: the durable value of sector s when the model starts.
  // Write ids are allocated from first_id upwards.
  Model(std::vector<ValueId> baseline, ValueId first_id);

  uint64_t sectors() const { return baseline_.size(); }

  // Records a write about to be issued; returns its op number. Its data is
  // FillSector(s, IdOf(op)) for each sector (zeroes for kZeroes/kTrim).
  uint64_t BeginOp(OpKind kind, uint64_t first_sector, uint64_t nsectors,
                   bool fua);
  ValueId IdOf(uint64_t op) const;
  // Records the op's completion; only a successful one is acknowledged.
  void EndOp(uint64_t op, bool ok);
  uint64_t BeginFlush();
  void EndFlush(uint64_t flush, bool ok);

  // The current event count, to be used as a watermark.
  uint64_t Now() const;
  // The next id BeginOp would hand out (for a model that continues this
  // one after a recovery).
  ValueId NextId() const;

  // The values sector s may hold after a cut between the watermarks.
  std::vector<ValueId> Allowed(uint64_t s, uint64_t durable_wm,
                               uint64_t issue_wm) const;
  // The value a reader must see now (read-your-writes): the newest
  // acknowledged op of sector s, as a set (a trim allows two).
  std::vector<ValueId> Visible(uint64_t s) const;
  // One line per op of sector s that matters at the watermarks, for
  // failure reports.
  std::string Explain(uint64_t s, uint64_t durable_wm, uint64_t issue_wm) const;

 private:
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
  struct Op {
    OpKind kind;
    bool fua;
    ValueId id;
    uint64_t issue_ev;
    uint64_t ack_ev = kNever;
    uint64_t durable_ev = kNever;
  };
  struct Flush {
    uint64_t issue_ev;
  };

  // Values op i of sector s's history stands for (a trim: zero or the value
  // just before it).
  void ValuesAt(uint64_t s, size_t i, std::vector<ValueId>* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<ValueId> baseline_;
  mutable absl::Mutex mu_;
  uint64_t ev_ ABSL_GUARDED_BY(mu_) = 0;
  ValueId next_id_ ABSL_GUARDED_BY(mu_);
  std::vector<Op> ops_ ABSL_GUARDED_BY(mu_);
  std::vector<Flush> flushes_ ABSL_GUARDED_BY(mu_);
  // Acknowledged ops no flush or FUA has made durable yet.
  std::vector<uint64_t> pending_ ABSL_GUARDED_BY(mu_);
  // Per sector: op numbers in program order.
  std::vector<std::vector<uint32_t>> history_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_VALUE_MODEL_H_
