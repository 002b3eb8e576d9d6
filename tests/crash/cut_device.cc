#include "tests/crash/cut_device.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/format/layout.h"

namespace wb::crash {

std::string PointName(const CutPoint& p) {
  std::string what;
  switch (p.region) {
    case Region::kSuperblock: what = "superblock-write"; break;
    case Region::kProgress: what = "progress-write"; break;
    case Region::kRing: what = "segment-write"; break;
    case Region::kReserved: what = "reserved-write"; break;
    case Region::kFill: what = "fill-write"; break;
    case Region::kData: what = "write"; break;
    case Region::kNone: what = IoOpName(p.op); break;
  }
  return absl::StrCat(p.role == Role::kCache ? "cache." : "origin.", what,
                      p.phase == Phase::kBefore ? ".before" : ".after");
}

Region CutPointDevice::Classify(const IoRequest& req) const {
  if (req.op != IoOp::kWrite) return Region::kNone;
  if (role_ == Role::kOrigin) return Region::kData;
  // Format zeroes the whole device in large writes.
  uint64_t block = req.offset / kBlockSize;
  if (block < kRingStartBlock && req.length > kBlockSize) return Region::kFill;
  if (block == kSuperblockBlock) return Region::kSuperblock;
  if (block == kProgressBlock[0] || block == kProgressBlock[1]) {
    return Region::kProgress;
  }
  return block >= kRingStartBlock ? Region::kRing : Region::kReserved;
}

void CutPointDevice::Notify(const CutPoint& p) {
  if (CutListener* l = listener_.load(); l != nullptr) l->OnPoint(p);
}

namespace {

// Holds a completion that arrived inline (inside the inner Submit, under the
// gate) until the submitter has left the gate; whichever of the two comes
// second delivers it.
struct Handoff {
  absl::Mutex mu;
  bool returned = false;
  bool completed = false;
  absl::Status status;
  IoCallback done;
};

}  // namespace

void CutPointDevice::Submit(const IoRequest& req, IoCallback done) {
  if (req.op == IoOp::kRead || req.op == IoOp::kDiscard) {
    inner_->Submit(req, std::move(done));  // changes nothing durable
    return;
  }
  CutPoint point{role_, req.op, Phase::kBefore, Classify(req)};
  Notify(point);
  point.phase = Phase::kAfter;
  auto h = std::make_shared<Handoff>();
  h->done = std::move(done);
  auto deliver = [this, point, h] {
    Notify(point);
    std::move(h->done)(std::move(h->status));
  };
  {
    absl::ReaderMutexLock gate(&gate_->mu());
    inner_->Submit(req, [h, deliver](absl::Status st) {
      {
        absl::MutexLock l(&h->mu);
        h->status = std::move(st);
        h->completed = true;
        if (!h->returned) return;  // inline: the submitter delivers
      }
      deliver();
    });
  }
  {
    absl::MutexLock l(&h->mu);
    h->returned = true;
    if (!h->completed) return;  // the device thread delivers
  }
  deliver();
}

}  // namespace wb::crash
