// CacheSet: several cache devices presented to the core as one Device, in
// one of two layouts recorded in every member's superblock (docs/FORMAT.md,
// "Cache sets"):
//
//   stripe  logical blocks 0 … 255 (superblock, progress records) go to every
//           member; the ring is cut into segment_size chunks dealt out
//           round-robin. No redundancy: losing a member loses the cache.
//   mirror  every write and flush goes to every in-sync member; reads go to
//           the first in-sync member (another one only when it fails).
//           "Durable" means durable on every in-sync member.
//
// The core's log code does not know about members. It writes the superblock
// once (FormatCache) through logical block 0; the set writes each member its
// own copy with that member's index, uuid and the current membership. Reads
// of logical block 0 return the *logical* superblock: the in-sync copy with
// the membership fields reset to a single device, so that the core accepts it
// while a member opened alone is refused (Superblock::Decode).
//
// A mirror member that fails any I/O is marked failed; the new membership
// (generation + 1) is written and flushed to every surviving member before
// any I/O that relied on the survivors alone completes. A member whose own
// superblock is older than the newest membership, or whose slot says failed,
// is stale and never read from until Resilver() has copied it back.
//
// Thread-safe like every Device. Callbacks run on member threads or on the
// set's own membership thread.
#ifndef WRITEBOOST_CORE_DEVICE_CACHE_SET_H_
#define WRITEBOOST_CORE_DEVICE_CACHE_SET_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/device.h"
#include "server/core/format/superblock.h"

namespace wb {

enum class MemberHealth { kInSync, kFailed, kStale };
const char* MemberHealthName(MemberHealth h);

struct CacheMemberStatus {
  uint32_t index = 0;
  std::string name;  // "" when no device was given for the slot
  uint64_t size = 0;
  MemberHealth health = MemberHealth::kInSync;
  uint64_t errors = 0;  // failed I/Os since open
  std::string last_error;
  Uuid uuid{};
};

struct CacheSetStatus {
  uint32_t layout = kLayoutSingle;
  uint32_t generation = 0;  // membership generation
  bool degraded = false;    // some member is not in sync
  std::vector<CacheMemberStatus> members;
};

struct CacheSetOpenOptions {
  // Open a mirror even though an in-sync member was not given at all (it is
  // then recorded failed). Without it such an open is refused, because the
  // missing member may hold writes the given ones lack.
  bool allow_missing = false;
};

class CacheSet final : public Device {
 public:
  // Opens a formatted set from its members, in any order. A given device
  // without a superblock of this set takes the place of a missing member
  // (it is failed, to be resilvered). Errors (kFailedPrecondition, naming
  // the device): members of different sets, a stripe member missing or
  // stale, no in-sync mirror member, a missing in-sync mirror member
  // without allow_missing. A changed membership is recorded before return.
  static absl::StatusOr<std::unique_ptr<CacheSet>> Open(
      std::vector<std::unique_ptr<Device>> members,
      const CacheSetOpenOptions& options = {});

  // An unformatted set for FormatCache to write through: fresh member
  // uuids, every member in sync, generation 1.
  // Errors: kInvalidArgument unless layout is kLayoutStripe or kLayoutMirror
  // with kMinCacheSetDevices … kMaxCacheDevices members (superblock.h).
  static absl::StatusOr<std::unique_ptr<CacheSet>> CreateForFormat(
      std::vector<std::unique_ptr<Device>> members, uint32_t layout,
      uint32_t segment_size);

  ~CacheSet() override;

  uint64_t size() const override { return size_; }
  uint32_t logical_block_size() const override { return lbs_; }
  std::string name() const override { return name_; }
  void Submit(const IoRequest& req, IoCallback done) override;

  CacheSetStatus GetStatus() const;
  uint32_t layout() const { return layout_; }

  // Copies every logical block from an in-sync member to member `index`
  // (stale, failed, or a blank replacement given in its place), flushes it,
  // and records it in sync under a new generation (survivors first, then
  // the member itself). Mirror only.
  // REQUIRES: no other I/O on the set (run it before Volume::Open).
  absl::Status Resilver(uint32_t index,
                        std::function<void(uint64_t, uint64_t)> progress = {});

  // Copies logical [offset, offset + length) from the member reads use to
  // every other in-sync member (not flushed: Flush() the set afterwards). A
  // member whose write fails is marked failed and the change recorded.
  // Mirror only; no-op otherwise. Errors: a failed read of the source, which
  // is then marked failed too.
  // REQUIRES: no other I/O on the set (before Volume::Open).
  absl::Status CopyToOtherMembers(uint64_t offset, uint64_t length);

 private:
  struct Member;
  struct Op;
  struct SubIo {
    uint32_t member;
    IoRequest req;
  };

  CacheSet(std::vector<std::unique_ptr<Device>> devices, uint32_t layout,
           uint32_t segment_size, uint64_t logical_size);

  // The member I/Os that carry out op.
  std::vector<SubIo> MapStripeLocked(Op& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<SubIo> MapMirrorLocked(Op& op, uint32_t in_sync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddWrite(Op& op, uint32_t m, uint64_t offset, uint64_t length,
                char* buf, std::vector<SubIo>* subs) const;
  void PatchHeaderRead(const IoRequest& req) ABSL_LOCKS_EXCLUDED(mu_);
  void SubFinished(Op* op, uint32_t m, absl::Status s);
  void Finish(Op* op);
  void CompleteOp(Op* op, absl::Status s);
  // Takes a write of logical block 0: remembers the logical superblock and
  // prepares each target member's own copy in op.
  void PrepareBlockZeroLocked(Op* op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EncodeMemberSuperblockLocked(uint32_t m, char* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes and flushes the current membership to every in-sync member,
  // marking those that fail; loops until it sticks or none is left.
  // Members in `exclude` are skipped (Resilver records the survivors first).
  // Releases mu_ while writing.
  void RecordMembershipLocked(uint32_t exclude)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkFailedLocked(uint32_t m, const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t InSyncMaskLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MembershipLoop();

  const uint32_t layout_;
  const uint32_t chunk_blocks_;  // stripe chunk, in blocks
  const uint64_t size_;
  uint32_t lbs_ = 512;
  std::string name_;
  // Slot-indexed; a slot's device may be null (not given).
  std::vector<std::unique_ptr<Member>> members_;

  mutable absl::Mutex mu_;
  uint32_t generation_ ABSL_GUARDED_BY(mu_) = 1;
  // Highest generation durable on every in-sync member.
  uint32_t durable_generation_ ABSL_GUARDED_BY(mu_) = 1;
  // The logical view of block 0 (what the core wrote or would read).
  AlignedBuffer block0_ ABSL_GUARDED_BY(mu_);
  bool have_superblock_ ABSL_GUARDED_BY(mu_) = false;
  Superblock logical_sb_ ABSL_GUARDED_BY(mu_);
  // Mirror I/Os whose completion waits for a membership record.
  std::deque<Op*> deferred_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar cv_;
  std::thread thread_;  // MembershipLoop, mirror only
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_CACHE_SET_H_
