// CrashDevice: a write is recorded as (offset, bytes) when submitted, moves
// to the completed list when it completes, and is folded into the durable
// image when a flush that covers it completes. A power cut replays a random
// subset of what was never folded in.
#include "server/core/device/crash_device.h"

#include <cassert>
#include <cstring>
#include <utility>

#include "absl/status/status.h"

namespace wb {
namespace {

absl::Status PowerIsOff() { return absl::UnavailableError("power is off"); }

// Lays rec over image, keeping each 512-byte sector with probability 1/2
// when torn; otherwise wholly or not at all. Counts the outcome in stats.
template <typename Record>
void ApplyMaybe(const Record& rec, std::mt19937_64& rng, std::string& image,
                CutStats& stats) {
  ++stats.uncovered;
  const uint64_t sectors = rec.data.size() / kSectorSize;
  // One in four writes is dropped, one in four kept whole, and half are
  // candidates for tearing: crash bugs hide in every one of those cases.
  const uint64_t mode = rng() % 4;
  if (mode == 0 || sectors == 0) {
    ++stats.dropped;
    return;
  }
  if (mode == 1) {
    std::memcpy(image.data() + rec.offset, rec.data.data(), rec.data.size());
    ++stats.kept;
    return;
  }
  uint64_t kept = 0;
  uint64_t bits = 0;
  for (uint64_t i = 0; i < sectors; ++i) {
    if (i % 64 == 0) bits = rng();
    if ((bits >> (i % 64)) & 1) {
      std::memcpy(image.data() + rec.offset + i * kSectorSize,
                  rec.data.data() + i * kSectorSize, kSectorSize);
      ++kept;
    }
  }
  if (kept == 0) {
    ++stats.dropped;
  } else if (kept == sectors) {
    ++stats.kept;
  } else {
    ++stats.torn;
  }
}

}  // namespace

CrashDevice::CrashDevice(uint64_t size, CrashDeviceOptions options)
    : CrashDevice(std::string(size, '\0'), std::move(options)) {}

std::unique_ptr<CrashDevice> CrashDevice::FromImage(
    std::string image, CrashDeviceOptions options) {
  return std::unique_ptr<CrashDevice>(
      new CrashDevice(std::move(image), std::move(options)));
}

CrashDevice::CrashDevice(std::string image, CrashDeviceOptions options)
    : size_(image.size()), options_(std::move(options)) {
  assert(options_.logical_block_size == 512 ||
         options_.logical_block_size == 4096);
  assert(size_ % options_.logical_block_size == 0);
  absl::MutexLock l(&mu_);
  current_ = image;
  durable_ = std::move(image);
  delay_rng_.seed(options_.seed);
  if (options_.async_completion) {
    thread_ = std::thread([this] { DeviceThread(); });
  }
}

CrashDevice::~CrashDevice() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  queue_cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void CrashDevice::Submit(const IoRequest& req, IoCallback done) {
  absl::Status s = ValidateRequest(*this, req);
  if (!s.ok()) {
    std::move(done)(std::move(s));
    return;
  }
  if (req.op == IoOp::kFlush) {
    // The harness snapshots here: before this flush covers anything.
    absl::MutexLock hl(&hook_mu_);
    uint64_t n = 0;
    {
      absl::MutexLock l(&mu_);
      if (powered_off_) {
        s = PowerIsOff();
      } else {
        n = ++flushes_;
      }
    }
    if (s.ok() && hook_) hook_(n);
  }
  if (!s.ok()) {
    std::move(done)(std::move(s));
    return;
  }

  Pending p;
  p.req = req;
  p.done = std::move(done);
  {
    absl::MutexLock l(&mu_);
    if (powered_off_) {
      s = PowerIsOff();
    } else if (req.op == IoOp::kWrite) {
      ++writes_;
      p.write_id = next_write_id_++;
      WriteRecord& rec = inflight_[p.write_id];
      rec.offset = req.offset;
      rec.data.assign(static_cast<const char*>(req.buf), req.length);
    } else if (req.op == IoOp::kFlush) {
      // Exactly the writes completed by now; later ones wait for a later
      // flush even if they complete before this one does.
      p.cover_upto = done_seq_;
    }
    if (s.ok()) {
      if (options_.async_completion && req.op != IoOp::kDiscard) {
        Schedule(std::move(p));
        return;
      }
      s = CompleteLocked(p);
    }
  }
  std::move(p.done)(std::move(s));
}

absl::Status CrashDevice::CompleteLocked(Pending& p) {
  const IoRequest& req = p.req;
  if (powered_off_) {
    // A write in flight at the cut stays in inflight_: it may or may not
    // have reached the medium.
    return PowerIsOff();
  }
  switch (req.op) {
    case IoOp::kRead:
      std::memcpy(req.buf, current_.data() + req.offset, req.length);
      break;
    case IoOp::kWrite: {
      auto it = inflight_.find(p.write_id);
      assert(it != inflight_.end());
      WriteRecord rec = std::move(it->second);
      inflight_.erase(it);
      rec.done_seq = ++done_seq_;
      std::memcpy(current_.data() + rec.offset, rec.data.data(),
                  rec.data.size());
      completed_.push_back(std::move(rec));
      break;
    }
    case IoOp::kFlush:
      ApplyFlushLocked(p.cover_upto);
      break;
    case IoOp::kDiscard:
      break;  // Unsupported: a no-op that leaves the old data readable.
  }
  return absl::OkStatus();
}

void CrashDevice::ApplyFlushLocked(uint64_t cover_upto) {
  // completed_ is in done_seq order, so the covered writes are a prefix.
  // Flushes may complete out of order; a later flush's prefix contains an
  // earlier one's, so whichever completes first does the work.
  while (!completed_.empty() && completed_.front().done_seq <= cover_upto) {
    const WriteRecord& rec = completed_.front();
    std::memcpy(durable_.data() + rec.offset, rec.data.data(), rec.data.size());
    completed_.pop_front();
  }
}

void CrashDevice::Schedule(Pending p) {
  const uint64_t max_ns =
      static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.max_delay));
  const absl::Duration delay =
      absl::Nanoseconds(max_ns == 0 ? 0 : delay_rng_() % (max_ns + 1));
  queue_.emplace(std::make_pair(absl::Now() + delay, queue_seq_++),
                 std::move(p));
  queue_cv_.Signal();
}

void CrashDevice::DeviceThread() {
  for (;;) {
    Pending p;
    absl::Status s;
    {
      absl::MutexLock l(&mu_);
      for (;;) {
        if (queue_.empty()) {
          if (stopping_) return;
          queue_cv_.Wait(&mu_);
          continue;
        }
        // When stopping, nothing waits for its delay any more.
        const absl::Time due = queue_.begin()->first.first;
        if (stopping_ || absl::Now() >= due) break;
        queue_cv_.WaitWithDeadline(&mu_, due);
      }
      auto node = queue_.extract(queue_.begin());
      p = std::move(node.mapped());
      s = CompleteLocked(p);
    }
    // Outside the lock: the callback may submit more I/O.
    std::move(p.done)(std::move(s));
  }
}

std::string CrashDevice::PowerCutImage(uint64_t seed, CutStats* stats) const {
  std::string image;
  PowerCutImageInto(seed, &image, stats);
  return image;
}

void CrashDevice::PowerCutImageInto(uint64_t seed, std::string* image,
                                    CutStats* stats) const {
  CutStats local;
  std::mt19937_64 rng(seed);
  absl::MutexLock l(&mu_);
  image->assign(durable_);  // Keeps image's buffer when it is big enough.
  for (const WriteRecord& rec : completed_) ApplyMaybe(rec, rng, *image, local);
  for (const auto& [id, rec] : inflight_) ApplyMaybe(rec, rng, *image, local);
  if (stats != nullptr) *stats = local;
}

std::string CrashDevice::Image() const {
  absl::MutexLock l(&mu_);
  return current_;
}

std::string CrashDevice::DurableImage() const {
  absl::MutexLock l(&mu_);
  return durable_;
}

void CrashDevice::PowerOff() {
  absl::MutexLock l(&mu_);
  powered_off_ = true;
}

void CrashDevice::SetPersistencePointHook(
    absl::AnyInvocable<void(uint64_t n)> hook) {
  absl::MutexLock l(&hook_mu_);
  hook_ = std::move(hook);
}

uint64_t CrashDevice::writes() const {
  absl::MutexLock l(&mu_);
  return writes_;
}

uint64_t CrashDevice::flushes() const {
  absl::MutexLock l(&mu_);
  return flushes_;
}

uint64_t CrashDevice::uncovered_writes() const {
  absl::MutexLock l(&mu_);
  return completed_.size() + inflight_.size();
}

}  // namespace wb
