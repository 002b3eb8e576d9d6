// CacheSet assembly: opening a formatted set from its members (who is in
// sync, who is stale), creating one for format, and resilvering a member.
#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "server/core/device/cache_set.h"
#include "server/core/device/cache_set_internal.h"
#include "server/core/format/layout.h"

namespace wb {

namespace {

// What one given device says about itself.
struct Found {
  std::optional<Superblock> sb;  // the newer valid copy, if any
  std::string why;               // why there is none
};

Found ReadMemberSuperblock(Device& dev) {
  Found f;
  constexpr uint64_t kHead = (kMembershipCopyBlock + 1) * kBlockSize;
  if (dev.size() < kHead) {
    f.why = "too small to be a cache device";
    return f;
  }
  AlignedBuffer buf(kHead);
  if (absl::Status s = dev.Read(0, buf.data(), kHead); !s.ok()) {
    f.why = std::string(s.message());
    return f;
  }
  for (uint64_t blk : {uint64_t{0}, kMembershipCopyBlock}) {
    absl::StatusOr<Superblock> sb =
        Superblock::DecodeAnyLayout(buf.data() + blk * kBlockSize);
    if (!sb.ok()) {
      if (blk == 0) f.why = std::string(sb.status().message());
      continue;
    }
    if (sb->layout == kLayoutSingle) {
      f.why = "it is a single-device cache, not a member of a set";
      continue;
    }
    if (!f.sb || sb->device_generation > f.sb->device_generation) f.sb = *sb;
  }
  return f;
}

// The superblock the core sees through the set: one device, no members.
Superblock LogicalView(Superblock sb) {
  sb.layout = kLayoutSingle;
  sb.nr_devices = 1;
  sb.device_index = 0;
  sb.device_generation = 1;
  sb.member_uuid = Uuid{};
  sb.slots = {};
  return sb;
}

// Bytes of a member that the set uses.
uint64_t MemberBytesNeeded(const Superblock& sb) {
  uint64_t ring = sb.ring_blocks;
  if (sb.layout == kLayoutStripe) ring /= sb.nr_devices;
  return (kRingStartBlock + ring) * kBlockSize;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CacheSet>> CacheSet::Open(
    std::vector<std::unique_ptr<Device>> devices,
    const CacheSetOpenOptions& options) {
  // Fewer than the set's members may be given (a mirror member lost), so
  // one is enough here; the set's own size is checked by the decoder.
  if (devices.empty() || devices.size() > kMaxCacheDevices) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "give 1 to %u devices of a cache set, not %u", kMaxCacheDevices,
        devices.size()));
  }
  std::vector<Found> found;
  int auth = -1;  // the device with the newest membership
  for (size_t i = 0; i < devices.size(); i++) {
    found.push_back(ReadMemberSuperblock(*devices[i]));
    const Found& f = found.back();
    if (f.sb && (auth < 0 || f.sb->device_generation >
                                 found[auth].sb->device_generation)) {
      auth = static_cast<int>(i);
    }
  }
  if (auth < 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "none of the %u given devices holds a cache-set superblock (%s: %s); "
        "format the set first",
        devices.size(), devices[0]->name(), found[0].why));
  }
  const Superblock sb = *found[auth].sb;
  const uint32_t gen = sb.device_generation;
  const uint32_t n = sb.nr_devices;
  for (size_t i = 0; i < devices.size(); i++) {
    const std::optional<Superblock>& o = found[i].sb;
    if (!o) continue;
    if (o->uuid != sb.uuid || o->layout != sb.layout ||
        o->nr_devices != n || o->ring_blocks != sb.ring_blocks ||
        o->segment_size != sb.segment_size) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s belongs to cache set %s (%s, %u devices) but %s to cache set "
          "%s (%s, %u devices); give the members of one set",
          devices[i]->name(), UuidToString(o->uuid), LayoutName(o->layout),
          o->nr_devices, devices[auth]->name(), UuidToString(sb.uuid),
          LayoutName(sb.layout), n));
    }
  }

  // Match slots to devices by member uuid.
  std::vector<int> dev_of(n, -1);
  std::vector<bool> used(devices.size(), false);
  for (uint32_t s = 0; s < n; s++) {
    for (size_t i = 0; i < devices.size(); i++) {
      if (!found[i].sb || found[i].sb->member_uuid != sb.slots[s].uuid) {
        continue;
      }
      if (dev_of[s] >= 0) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s and %s both claim to be member %u of cache set %s",
            devices[dev_of[s]]->name(), devices[i]->name(), s,
            UuidToString(sb.uuid)));
      }
      dev_of[s] = static_cast<int>(i);
      used[i] = true;
    }
  }
  // A given device that holds no superblock of the set (wiped, or a new
  // disk) stands in for a missing member: failed, to be resilvered.
  for (size_t i = 0; i < devices.size(); i++) {
    if (used[i]) continue;
    if (found[i].sb) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s was a member of cache set %s but is no longer in its membership "
          "(generation %u)",
          devices[i]->name(), UuidToString(sb.uuid), gen));
    }
    uint32_t s = 0;
    while (s < n && dev_of[s] >= 0) s++;
    if (s == n || sb.layout == kLayoutStripe) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s is not a member of cache set %s: %s", devices[i]->name(),
          UuidToString(sb.uuid), found[i].why));
    }
    dev_of[s] = static_cast<int>(i);
    used[i] = true;
  }

  // Health of each slot, and the transitions Open must record.
  std::vector<MemberHealth> health(n);
  std::vector<bool> newly_failed(n, false);
  for (uint32_t s = 0; s < n; s++) {
    const MemberSlot& slot = sb.slots[s];
    const int i = dev_of[s];
    // Identified: the device holds this member's (older) superblock; a
    // blank stand-in holds nothing and is simply failed.
    const bool identified = i >= 0 && found[i].sb.has_value();
    const MemberHealth out =
        identified ? MemberHealth::kStale : MemberHealth::kFailed;
    if (slot.state == kMemberFailed) {
      health[s] = out;
    } else if (identified && found[i].sb->device_generation == gen) {
      health[s] = MemberHealth::kInSync;
    } else {
      // In sync by the newest record, yet absent, wiped or behind it.
      health[s] = out;
      newly_failed[s] = true;
    }
    if (health[s] == MemberHealth::kInSync || sb.layout == kLayoutMirror) {
      if (i < 0 && newly_failed[s] && !options.allow_missing) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s member %u (uuid %s) is in sync in the newest membership "
            "(generation %u) but was not given; it may hold writes the "
            "others lack. Give it, or open with allow_missing to record it "
            "failed",
            LayoutName(sb.layout), s, UuidToString(slot.uuid), gen));
      }
      continue;
    }
    // A stripe needs every member, in sync.
    return absl::FailedPreconditionError(absl::StrFormat(
        "stripe member %u (uuid %s, %s) is %s: a stripe has no redundancy, "
        "so the cache set cannot be opened without every member",
        s, UuidToString(slot.uuid),
        i >= 0 ? devices[i]->name() : std::string("not given"),
        i >= 0 ? "stale (older membership than the others)" : "missing"));
  }
  uint32_t in_sync = 0;
  for (uint32_t s = 0; s < n; s++) {
    if (health[s] != MemberHealth::kInSync) continue;
    in_sync++;
    const Device& d = *devices[dev_of[s]];
    if (d.size() < MemberBytesNeeded(sb)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s is %u bytes, smaller than the %u the cache set uses", d.name(),
          d.size(), MemberBytesNeeded(sb)));
    }
  }
  if (in_sync == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "no in-sync member of mirror %s was given (every given device is "
        "stale or blank); nothing in it can be trusted",
        UuidToString(sb.uuid)));
  }

  std::vector<std::unique_ptr<Device>> slot_devices(n);
  for (uint32_t s = 0; s < n; s++) {
    if (dev_of[s] >= 0) slot_devices[s] = std::move(devices[dev_of[s]]);
  }
  const uint64_t logical = (kRingStartBlock + sb.ring_blocks) * kBlockSize;
  std::unique_ptr<CacheSet> set(new CacheSet(
      std::move(slot_devices), sb.layout, sb.segment_size, logical));
  absl::MutexLock l(&set->mu_);
  set->generation_ = set->durable_generation_ = gen;
  set->logical_sb_ = LogicalView(sb);
  set->logical_sb_.EncodeTo(set->block0_.data());
  set->have_superblock_ = true;
  for (uint32_t s = 0; s < n; s++) {
    Member& m = *set->members_[s];
    m.uuid = sb.slots[s].uuid;
    m.health = health[s];
    m.changed_generation = sb.slots[s].changed_generation;
    if (newly_failed[s]) m.changed_generation = ++set->generation_;
  }
  // Record who was dropped before anything relies on the rest.
  set->RecordMembershipLocked(0);
  if (set->InSyncMaskLocked() == 0) {
    return absl::UnavailableError(absl::StrFormat(
        "%s: every in-sync member failed while recording the membership",
        set->name_));
  }
  if (set->generation_ > set->durable_generation_) {
    return absl::UnavailableError(absl::StrFormat(
        "%s: could not record the new membership", set->name_));
  }
  return set;
}

absl::StatusOr<std::unique_ptr<CacheSet>> CacheSet::CreateForFormat(
    std::vector<std::unique_ptr<Device>> devices, uint32_t layout,
    uint32_t segment_size) {
  if (layout != kLayoutStripe && layout != kLayoutMirror) {
    return absl::InvalidArgumentError(
        "a cache set's layout is stripe or mirror");
  }
  if (devices.size() < kMinCacheSetDevices ||
      devices.size() > kMaxCacheDevices) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a %s cache set has %u to %u devices, not %u (one device is the "
        "single layout)",
        LayoutName(layout), kMinCacheSetDevices, kMaxCacheDevices,
        devices.size()));
  }
  const uint32_t n = static_cast<uint32_t>(devices.size());
  uint64_t smallest = devices[0]->size();
  for (const auto& d : devices) smallest = std::min(smallest, d->size());
  const uint64_t blocks = smallest / kBlockSize;
  const uint64_t chunk_blocks = std::max<uint32_t>(1, segment_size / kBlockSize);
  uint64_t ring = blocks > kRingStartBlock ? blocks - kRingStartBlock : 0;
  if (layout == kLayoutStripe) ring = ring / chunk_blocks * chunk_blocks * n;
  const uint64_t logical = (kRingStartBlock + ring) * kBlockSize;
  std::unique_ptr<CacheSet> set(
      new CacheSet(std::move(devices), layout, segment_size, logical));
  absl::MutexLock l(&set->mu_);
  for (auto& m : set->members_) m->uuid = NewUuid();
  return set;
}

absl::Status CacheSet::Resilver(
    uint32_t index, std::function<void(uint64_t, uint64_t)> progress) {
  if (layout_ != kLayoutMirror || index >= members_.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: only a member of a mirror can be resilvered (member %u)", name_,
        index));
  }
  Member& target = *members_[index];
  if (target.dev == nullptr) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: member %u has no device to resilver onto", name_, index));
  }
  Device& dst = *target.dev;
  if (dst.size() < size_) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: %s is %u bytes, smaller than the mirror's %u", name_, dst.name(),
        dst.size(), size_));
  }
  Device* src = nullptr;
  {
    absl::MutexLock l(&mu_);
    if (target.health == MemberHealth::kInSync) return absl::OkStatus();
    for (auto& m : members_) {
      if (m->health == MemberHealth::kInSync) src = m->dev.get();
    }
  }
  if (src == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: no in-sync member to copy from", name_));
  }
  // Blank both superblock copies first: a crash mid-copy leaves a device
  // that identifies as nothing, never as an in-sync member.
  AlignedBuffer zero(kBlockSize);
  for (uint64_t blk : {uint64_t{0}, kMembershipCopyBlock}) {
    if (absl::Status s = dst.Write(blk * kBlockSize, zero.data(), kBlockSize);
        !s.ok()) {
      return s;
    }
  }
  constexpr uint64_t kChunk = 1 << 20;
  AlignedBuffer buf(kChunk);
  for (uint64_t off = kBlockSize; off < size_;) {
    uint64_t n = std::min(kChunk, size_ - off);
    // The source's own superblock copy in block 3 is not the target's.
    if (off <= kMembershipCopyBlock * kBlockSize &&
        off + n > kMembershipCopyBlock * kBlockSize) {
      n = kMembershipCopyBlock * kBlockSize - off;
      if (n == 0) {
        off += kBlockSize;
        continue;
      }
    }
    if (absl::Status s = src->Read(off, buf.data(), n); !s.ok()) return s;
    if (absl::Status s = dst.Write(off, buf.data(), n); !s.ok()) return s;
    off += n;
    if (progress) progress(off, size_);
  }
  if (absl::Status s = dst.Flush(); !s.ok()) return s;

  AlignedBuffer sb(kBlockSize);
  uint32_t record_gen;
  {
    absl::MutexLock l(&mu_);
    target.uuid = NewUuid();  // a returning device joins as a new member
    target.health = MemberHealth::kInSync;
    target.changed_generation = ++generation_;
    // The survivors first: if the target's own record is then lost, it is
    // behind the newest membership and so stale, never trusted.
    RecordMembershipLocked(1u << index);
    if (generation_ > durable_generation_) {
      target.health = MemberHealth::kFailed;
      return absl::UnavailableError(absl::StrFormat(
          "%s: recording the new membership failed", name_));
    }
    record_gen = generation_;
    EncodeMemberSuperblockLocked(index, sb.data());
  }
  // Only the copy this generation's parity names: the other stays zero (as
  // blanked above), so the next record cannot tear the only valid copy.
  absl::Status st = dst.Write(MembershipCopyOffset(record_gen), sb.data(),
                              kBlockSize);
  if (st.ok()) st = dst.Flush();
  absl::MutexLock l(&mu_);
  if (!st.ok()) {
    MarkFailedLocked(index, st);
    RecordMembershipLocked(0);
    return st;
  }
  durable_generation_ = generation_;
  return absl::OkStatus();
}

absl::Status CacheSet::CopyToOtherMembers(uint64_t offset, uint64_t length) {
  if (layout_ != kLayoutMirror) return absl::OkStatus();
  uint32_t in_sync;
  {
    absl::MutexLock l(&mu_);
    in_sync = InSyncMaskLocked();
  }
  if (std::popcount(in_sync) < 2) return absl::OkStatus();
  // The member reads use (see MapMirrorLocked).
  const uint32_t src = static_cast<uint32_t>(std::countr_zero(in_sync));
  constexpr uint64_t kChunk = 1 << 20;
  AlignedBuffer buf(std::min(kChunk, length));
  for (uint64_t off = offset; off < offset + length;) {
    const uint64_t n = std::min(kChunk, offset + length - off);
    if (absl::Status s = members_[src]->dev->Read(off, buf.data(), n);
        !s.ok()) {
      // The source is lost like any member whose I/O fails; the caller may
      // start over from the next one.
      absl::MutexLock l(&mu_);
      MarkFailedLocked(src, s);
      RecordMembershipLocked(0);
      return s;
    }
    for (uint32_t m = 0; m < members_.size(); m++) {
      if (m == src || !(in_sync & (1u << m))) continue;
      absl::Status s = members_[m]->dev->Write(off, buf.data(), n);
      if (s.ok()) continue;
      absl::MutexLock l(&mu_);
      MarkFailedLocked(m, s);
      RecordMembershipLocked(0);
      in_sync = InSyncMaskLocked();
    }
    off += n;
  }
  return absl::OkStatus();
}

}  // namespace wb
