// CacheSet I/O: mapping logical requests onto members, completing them, and
// recording a mirror's membership when a member fails. Opening, format and
// resilver are in cache_set_open.cc.
#include "server/core/device/cache_set.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/core/device/cache_set_internal.h"
#include "server/core/format/layout.h"

namespace wb {

const char* MemberHealthName(MemberHealth h) {
  switch (h) {
    case MemberHealth::kInSync:
      return "in-sync";
    case MemberHealth::kFailed:
      return "failed";
    case MemberHealth::kStale:
      return "stale";
  }
  return "unknown";
}

CacheSet::CacheSet(std::vector<std::unique_ptr<Device>> devices,
                   uint32_t layout, uint32_t segment_size,
                   uint64_t logical_size)
    : layout_(layout),
      chunk_blocks_(segment_size / kBlockSize),
      size_(logical_size),
      block0_(kBlockSize) {
  std::vector<std::string> names;
  for (auto& d : devices) {
    auto m = std::make_unique<Member>();
    if (d != nullptr) {
      lbs_ = std::max(lbs_, d->logical_block_size());
      names.push_back(d->name());
    } else {
      names.push_back("-");
    }
    m->dev = std::move(d);
    members_.push_back(std::move(m));
  }
  name_ = absl::StrFormat("%s(%s)", LayoutName(layout),
                          absl::StrJoin(names, ","));
  if (layout_ == kLayoutMirror) {
    thread_ = std::thread([this] { MembershipLoop(); });
  }
}

CacheSet::~CacheSet() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

uint32_t CacheSet::InSyncMaskLocked() const {
  uint32_t mask = 0;
  for (uint32_t m = 0; m < members_.size(); m++) {
    if (members_[m]->health == MemberHealth::kInSync) mask |= 1u << m;
  }
  return mask;
}

void CacheSet::MarkFailedLocked(uint32_t m, const absl::Status& why) {
  Member& mem = *members_[m];
  mem.errors++;
  mem.last_error = std::string(why.message());
  if (mem.health != MemberHealth::kInSync) return;
  mem.health = MemberHealth::kFailed;
  // A stripe has no membership to change: losing a member loses the set.
  if (layout_ == kLayoutMirror) mem.changed_generation = ++generation_;
}

void CacheSet::EncodeMemberSuperblockLocked(uint32_t m, char* out) const {
  Superblock sb = logical_sb_;
  sb.layout = layout_;
  sb.nr_devices = static_cast<uint32_t>(members_.size());
  sb.device_index = m;
  sb.device_generation = generation_;
  sb.member_uuid = members_[m]->uuid;
  for (uint32_t i = 0; i < members_.size(); i++) {
    sb.slots[i].uuid = members_[i]->uuid;
    sb.slots[i].state = members_[i]->health == MemberHealth::kInSync
                            ? kMemberInSync
                            : kMemberFailed;
    sb.slots[i].changed_generation = members_[i]->changed_generation;
  }
  sb.EncodeTo(out);
}

void CacheSet::RecordMembershipLocked(uint32_t exclude) {
  while (generation_ > durable_generation_) {
    const uint32_t gen = generation_;
    if (!have_superblock_) {
      // Mid-format: no member holds a superblock yet, and writing one now
      // would make a half-formatted member look formatted.
      durable_generation_ = gen;
      return;
    }
    std::vector<std::pair<uint32_t, AlignedBuffer>> copies;
    for (uint32_t m = 0; m < members_.size(); m++) {
      if (members_[m]->health != MemberHealth::kInSync) continue;
      if (exclude & (1u << m)) continue;
      AlignedBuffer buf(kBlockSize);
      EncodeMemberSuperblockLocked(m, buf.data());
      copies.emplace_back(m, std::move(buf));
    }
    if (copies.empty()) return;  // Nobody left to record it on.
    // No lock across I/O: member completions take mu_ (Finish) and must not
    // wait for this thread.
    std::vector<absl::Status> results(copies.size());
    mu_.Unlock();
    for (size_t i = 0; i < copies.size(); i++) {
      Device& dev = *members_[copies[i].first]->dev;
      results[i] = dev.Write(MembershipCopyOffset(gen),
                             copies[i].second.data(), kBlockSize);
      if (results[i].ok()) results[i] = dev.Flush();
    }
    mu_.Lock();
    bool all_ok = true;
    for (size_t i = 0; i < copies.size(); i++) {
      if (results[i].ok()) continue;
      all_ok = false;
      MarkFailedLocked(copies[i].first, results[i]);
    }
    if (all_ok) durable_generation_ = std::max(durable_generation_, gen);
  }
}

void CacheSet::Submit(const IoRequest& req, IoCallback done) {
  if (absl::Status s = ValidateRequest(*this, req); !s.ok()) {
    std::move(done)(std::move(s));
    return;
  }
  // supports_discard() is false: the contract says Discard is a no-op.
  if (req.op == IoOp::kDiscard ||
      (req.op != IoOp::kFlush && req.length == 0)) {
    std::move(done)(absl::OkStatus());
    return;
  }
  if (req.op == IoOp::kWrite && req.offset < kBlockSize &&
      (req.offset != 0 || req.length < kBlockSize)) {
    std::move(done)(absl::InvalidArgumentError(absl::StrFormat(
        "%s: a write to the superblock must cover all of block 0", name_)));
    return;
  }
  auto* op = new Op;
  op->req = req;
  op->done = std::move(done);
  std::vector<SubIo> subs;
  bool none_left = false;
  {
    absl::MutexLock l(&mu_);
    const uint32_t in_sync = InSyncMaskLocked();
    op->issued_generation = generation_;
    if (layout_ == kLayoutMirror && in_sync == 0) {
      none_left = true;
    } else {
      if (req.op == IoOp::kWrite && req.offset == 0) {
        PrepareBlockZeroLocked(op);
      }
      subs = layout_ == kLayoutStripe ? MapStripeLocked(*op)
                                      : MapMirrorLocked(*op, in_sync);
    }
  }
  if (none_left) {
    CompleteOp(op, absl::UnavailableError(absl::StrFormat(
                       "%s: every member of the mirror has failed", name_)));
    return;
  }
  for (const SubIo& sub : subs) op->targets |= 1u << sub.member;
  {
    absl::MutexLock l(&op->mu);
    op->pending = subs.size();
  }
  // After the last Submit the op may already be gone; only subs is used.
  for (const SubIo& sub : subs) {
    const uint32_t m = sub.member;
    members_[m]->dev->Submit(sub.req, [this, op, m](absl::Status s) {
      SubFinished(op, m, std::move(s));
    });
  }
}

void CacheSet::PrepareBlockZeroLocked(Op* op) {
  absl::StatusOr<Superblock> sb =
      Superblock::Decode(static_cast<const char*>(op->req.buf));
  std::memcpy(block0_.data(), op->req.buf, kBlockSize);
  if (!sb.ok()) {
    // Not a superblock (format zeroing the device): plain data for all.
    have_superblock_ = false;
    return;
  }
  logical_sb_ = *sb;
  have_superblock_ = true;
  op->sb_generation = generation_;
  op->sb_copies.resize(members_.size());
  for (uint32_t m = 0; m < members_.size(); m++) {
    if (members_[m]->health != MemberHealth::kInSync) continue;
    op->sb_copies[m] = AlignedBuffer(kBlockSize);
    EncodeMemberSuperblockLocked(m, op->sb_copies[m].data());
  }
}

// A write starting at logical 0 for member m: when the op carries the
// member's own superblock copy, it goes to the block its generation's parity
// names (block 0 odd, block 3 even), in place of logical block 0; the rest
// of the write never covers that copy.
void CacheSet::AddWrite(Op& op, uint32_t m, uint64_t offset, uint64_t length,
                        char* buf, std::vector<SubIo>* subs) const {
  if (offset == 0 && !op.sb_copies.empty() &&
      op.sb_copies[m].data() != nullptr) {
    const uint64_t copy_at = MembershipCopyOffset(op.sb_generation);
    subs->push_back(
        {m, {IoOp::kWrite, copy_at, kBlockSize, op.sb_copies[m].data()}});
    offset += kBlockSize;
    buf += kBlockSize;
    length -= kBlockSize;
    if (copy_at != 0 && copy_at >= offset && copy_at < offset + length) {
      // Logical block 3 reads as zero through the set (PatchHeaderRead), so
      // the part of the write aimed at it is dropped.
      const uint64_t before = copy_at - offset;
      if (before > 0) subs->push_back({m, {IoOp::kWrite, offset, before, buf}});
      offset += before + kBlockSize;
      buf += before + kBlockSize;
      length -= before + kBlockSize;
    }
    if (length == 0) return;
  }
  subs->push_back({m, {IoOp::kWrite, offset, length, buf}});
}

std::vector<CacheSet::SubIo> CacheSet::MapMirrorLocked(Op& op,
                                                       uint32_t in_sync) {
  std::vector<SubIo> subs;
  const IoRequest& req = op.req;
  if (req.op == IoOp::kRead) {
    // Every read goes to the first in-sync member, not round-robin: after a
    // power cut the members may differ in the log's unflushed tail, and the
    // core must see one copy of it, the same one on every read.
    subs.push_back({static_cast<uint32_t>(std::countr_zero(in_sync)), req});
    return subs;
  }
  for (uint32_t m = 0; m < members_.size(); m++) {
    if (!(in_sync & (1u << m))) continue;
    if (req.op == IoOp::kFlush) {
      subs.push_back({m, req});
    } else {
      AddWrite(op, m, req.offset, req.length, static_cast<char*>(req.buf),
               &subs);
    }
  }
  return subs;
}

std::vector<CacheSet::SubIo> CacheSet::MapStripeLocked(Op& op) {
  std::vector<SubIo> subs;
  const IoRequest& req = op.req;
  const uint32_t n = static_cast<uint32_t>(members_.size());
  if (req.op == IoOp::kFlush) {
    for (uint32_t m = 0; m < n; m++) subs.push_back({m, req});
    return subs;
  }
  constexpr uint64_t kRingStart = kRingStartBlock * kBlockSize;
  uint64_t off = req.offset;
  const uint64_t end = req.offset + req.length;
  char* buf = static_cast<char*>(req.buf);
  if (off < kRingStart) {
    // The header area lives on every member; any of them can serve reads.
    const uint64_t len = std::min(end, kRingStart) - off;
    if (req.op == IoOp::kRead) {
      subs.push_back({0, {IoOp::kRead, off, len, buf}});
    } else {
      for (uint32_t m = 0; m < n; m++) AddWrite(op, m, off, len, buf, &subs);
    }
    off += len;
    buf += len;
  }
  const uint64_t chunk = uint64_t{chunk_blocks_} * kBlockSize;
  while (off < end) {
    const StripeLocation loc = MapStripeOffset(off, chunk, n);
    const uint64_t len = std::min(end - off, chunk - loc.in_chunk);
    subs.push_back({loc.member, {req.op, loc.member_offset, len, buf}});
    off += len;
    buf += len;
  }
  return subs;
}

void CacheSet::SubFinished(Op* op, uint32_t m, absl::Status s) {
  bool last;
  {
    absl::MutexLock l(&op->mu);
    if (!s.ok()) {
      op->failed |= 1u << m;
      op->errors.emplace_back(m, std::move(s));
    }
    last = --op->pending == 0;
  }
  if (last) Finish(op);
}

void CacheSet::Finish(Op* op) {
  // pending reached zero: nothing else touches op now.
  absl::Status result;
  {
    absl::MutexLock l(&mu_);
    if (layout_ == kLayoutMirror) {
      if (!op->errors.empty() ||
          op->issued_generation > durable_generation_) {
        // A member failed, or the op went only to members that a membership
        // not yet durable declares in sync: it completes after the record.
        deferred_.push_back(op);
        cv_.Signal();
        return;
      }
    } else if (!op->errors.empty()) {
      const auto& [m, s] = op->errors.front();
      for (const auto& [fm, fs] : op->errors) MarkFailedLocked(fm, fs);
      result = absl::Status(
          s.code(),
          absl::StrFormat("%s: stripe member %u (%s) failed: %s; a stripe has "
                          "no redundancy, so the cache set can no longer be "
                          "used",
                          name_, m, members_[m]->dev->name(), s.message()));
    }
  }
  CompleteOp(op, std::move(result));
}

void CacheSet::CompleteOp(Op* op, absl::Status s) {
  if (s.ok() && op->req.op == IoOp::kRead &&
      op->req.offset < kMembershipCopyBlock * kBlockSize + kBlockSize) {
    PatchHeaderRead(op->req);
  }
  std::move(op->done)(std::move(s));
  delete op;
}

// Reads of the logical superblock come from memory (the logical view); the
// membership copy in block 3 is the set's own and reads as zero.
void CacheSet::PatchHeaderRead(const IoRequest& req) {
  char* buf = static_cast<char*>(req.buf);
  const uint64_t end = req.offset + req.length;
  absl::MutexLock l(&mu_);
  for (uint64_t blk : {uint64_t{0}, kMembershipCopyBlock}) {
    const uint64_t b0 = blk * kBlockSize, b1 = b0 + kBlockSize;
    const uint64_t lo = std::max(b0, req.offset), hi = std::min(b1, end);
    if (lo >= hi) continue;
    if (blk == 0) {
      std::memcpy(buf + (lo - req.offset), block0_.data() + (lo - b0), hi - lo);
    } else {
      std::memset(buf + (lo - req.offset), 0, hi - lo);
    }
  }
}

void CacheSet::MembershipLoop() {
  absl::MutexLock l(&mu_);
  while (true) {
    while (!stop_ && deferred_.empty()) cv_.Wait(&mu_);
    if (deferred_.empty()) return;
    std::deque<Op*> batch;
    batch.swap(deferred_);
    for (Op* op : batch) {
      for (const auto& [m, s] : op->errors) MarkFailedLocked(m, s);
    }
    RecordMembershipLocked(0);
    const uint32_t in_sync = InSyncMaskLocked();
    std::vector<std::pair<Op*, absl::Status>> finished;
    std::vector<Op*> retry;
    for (Op* op : batch) {
      const uint32_t ok = op->targets & ~op->failed & in_sync;
      if (ok != 0) {
        finished.emplace_back(op, absl::OkStatus());
      } else if (op->req.op == IoOp::kRead && in_sync != 0) {
        retry.push_back(op);  // Read it from another member.
      } else {
        std::string why = op->errors.empty()
                              ? std::string("no member left")
                              : std::string(op->errors.back().second.message());
        finished.emplace_back(
            op, absl::UnavailableError(absl::StrFormat(
                    "%s: every member of the mirror has failed (last: %s)",
                    name_, why)));
      }
    }
    mu_.Unlock();
    for (auto& [op, s] : finished) CompleteOp(op, std::move(s));
    for (Op* op : retry) {
      IoRequest req = op->req;
      IoCallback done = std::move(op->done);
      delete op;
      Submit(req, std::move(done));
    }
    mu_.Lock();
  }
}

CacheSetStatus CacheSet::GetStatus() const {
  absl::MutexLock l(&mu_);
  CacheSetStatus st;
  st.layout = layout_;
  st.generation = generation_;
  for (uint32_t m = 0; m < members_.size(); m++) {
    const Member& mem = *members_[m];
    CacheMemberStatus ms;
    ms.index = m;
    if (mem.dev != nullptr) {
      ms.name = mem.dev->name();
      ms.size = mem.dev->size();
    }
    ms.health = mem.health;
    ms.errors = mem.errors;
    ms.last_error = mem.last_error;
    ms.uuid = mem.uuid;
    st.degraded |= mem.health != MemberHealth::kInSync;
    st.members.push_back(std::move(ms));
  }
  return st;
}

}  // namespace wb
