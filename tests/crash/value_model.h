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
#include <set>
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
// Whether 512 garbage bytes at `sector` are a mix of the given values: each
// 8-byte word equal to that word of one of them, and at least two of them
// used. Two writes copied into one buffer at once leave that.
bool IsMixOf(uint64_t sector, const char* in, const std::vector<ValueId>& of);
// An origin image holding kInitialValue in every sector.
std::string InitialOriginImage(uint64_t bytes);
std::string ValueName(ValueId v);
std::string ValueNames(const std::vector<ValueId>& v);  // space-separated

enum class OpKind { kWrite, kZeroes, kTrim };

// Event counters ("watermarks") order issues and acknowledgements against
// the instant of a cut or a read: an ack recorded before the durable
// watermark (read before the snapshot) certainly preceded it; a write issued
// after the issue watermark (read after the snapshot) certainly followed it.
//
// Writers may overlap: a sector's history is in issue order, and one op
// supersedes another only if it was issued after the other's ack (real-time
// order, as a linearizable register). A trim supersedes nothing: a trimmed
// sector reads as zeroes or as what it held just before.
//
// Thread-safe.
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

  // The values sector s may hold after a cut between the watermarks: those
  // of ops issued before issue_wm that no op durable before durable_wm
  // supersedes.
  std::vector<ValueId> Allowed(uint64_t s, uint64_t durable_wm,
                               uint64_t issue_wm) const;
  // The values a read of sector s may return, given Now() just before it
  // was issued (begin) and just after it returned (end): those of ops issued
  // before end that no op acknowledged before begin supersedes. Without
  // overlapping writers this is read-your-writes.
  std::vector<ValueId> Readable(uint64_t s, uint64_t begin, uint64_t end) const;
  // One line per op of sector s that matters at the watermarks, for
  // failure reports.
  std::string Explain(uint64_t s, uint64_t settled, uint64_t issued) const;

 private:
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
  struct Op {
    OpKind kind;
    bool fua;
    ValueId id;
    uint64_t issue_ev;
    uint64_t ack_ev = kNever;
    uint64_t durable_ev = kNever;
    // The oldest issue_ev of the ops in flight when this one was issued
    // (itself included): any op older than that was acknowledged before
    // this one began, so this one supersedes it.
    uint64_t floor_ev;
  };
  struct Flush {
    uint64_t issue_ev;
  };

  // The values of sector s's ops issued before `issued` that no op settled
  // before `settled` supersedes (settled: acknowledged, or made durable).
  std::vector<ValueId> Candidates(uint64_t s, uint64_t settled,
                                  uint64_t issued, bool durable) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<ValueId> baseline_;
  mutable absl::Mutex mu_;
  uint64_t ev_ ABSL_GUARDED_BY(mu_) = 0;
  ValueId next_id_ ABSL_GUARDED_BY(mu_);
  std::vector<Op> ops_ ABSL_GUARDED_BY(mu_);
  std::vector<Flush> flushes_ ABSL_GUARDED_BY(mu_);
  // Acknowledged ops no flush or FUA has made durable yet.
  std::vector<uint64_t> pending_ ABSL_GUARDED_BY(mu_);
  // issue_ev of every op begun and not acknowledged (failed ones stay).
  std::multiset<uint64_t> in_flight_ ABSL_GUARDED_BY(mu_);
  // Per sector: op numbers in program order.
  std::vector<std::vector<uint32_t>> history_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_VALUE_MODEL_H_
