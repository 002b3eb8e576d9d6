// FaultDevice: rules are checked in order under one mutex before the I/O is
// forwarded, so a failed I/O has no side effect on the inner device.
#include "server/core/device/fault_device.h"

#include <utility>

namespace wb {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

bool OpMatches(FaultOp rule_op, IoOp op) {
  switch (rule_op) {
    case FaultOp::kAny:
      return true;
    case FaultOp::kRead:
      return op == IoOp::kRead;
    case FaultOp::kWrite:
      return op == IoOp::kWrite;
    case FaultOp::kFlush:
      return op == IoOp::kFlush;
    case FaultOp::kDiscard:
      return op == IoOp::kDiscard;
  }
  return false;
}

bool RangeMatches(const FaultRule& rule, const IoRequest& req) {
  const bool whole_device = rule.offset == 0 && rule.length == kMax;
  if (req.op == IoOp::kFlush) {
    return rule.op == FaultOp::kFlush || whole_device;
  }
  // Saturating ends: the default length would overflow offset + length.
  const uint64_t rule_end =
      rule.length > kMax - rule.offset ? kMax : rule.offset + rule.length;
  const uint64_t req_end =
      req.length > kMax - req.offset ? kMax : req.offset + req.length;
  if (req.length == 0) {
    return rule.offset <= req.offset && req.offset < rule_end;
  }
  return req.offset < rule_end && rule.offset < req_end;
}

}  // namespace

FaultDevice::FaultDevice(Device* inner) : inner_(inner) {}

FaultDevice::FaultDevice(std::unique_ptr<Device> inner)
    : owned_(std::move(inner)), inner_(owned_.get()) {}

void FaultDevice::Submit(const IoRequest& req, IoCallback done) {
  // A malformed request fails validation; it is never counted as a fault.
  absl::Status s = ValidateRequest(*this, req);
  if (s.ok()) {
    absl::MutexLock l(&mu_);
    if (!MatchLocked(req, &s)) s = absl::OkStatus();
  }
  if (!s.ok()) {
    std::move(done)(std::move(s));
    return;
  }
  inner_->Submit(req, std::move(done));
}

bool FaultDevice::MatchLocked(const IoRequest& req, absl::Status* status) {
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!OpMatches(it->op, req.op) || !RangeMatches(*it, req)) continue;
    if (!it->persistent && it->count == 0) continue;
    *status = it->status;
    ++injected_[static_cast<size_t>(req.op)];
    if (!it->persistent && --it->count == 0) rules_.erase(it);
    return true;
  }
  return false;
}

void FaultDevice::AddFault(FaultRule rule) {
  absl::MutexLock l(&mu_);
  rules_.push_back(std::move(rule));
}

void FaultDevice::FailNext(FaultOp op, uint64_t n) {
  FaultRule rule;
  rule.op = op;
  rule.count = n;
  AddFault(std::move(rule));
}

void FaultDevice::FailAlways(FaultOp op) {
  FaultRule rule;
  rule.op = op;
  rule.persistent = true;
  AddFault(std::move(rule));
}

void FaultDevice::ClearFaults() {
  absl::MutexLock l(&mu_);
  rules_.clear();
}

uint64_t FaultDevice::injected(IoOp op) const {
  absl::MutexLock l(&mu_);
  return injected_[static_cast<size_t>(op)];
}

uint64_t FaultDevice::injected_total() const {
  absl::MutexLock l(&mu_);
  uint64_t total = 0;
  for (uint64_t n : injected_) total += n;
  return total;
}

}  // namespace wb
