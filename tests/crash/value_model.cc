#include "tests/crash/value_model.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace wb::crash {
namespace {

constexpr uint64_t kSectorMagic = 0x57425345'43544f52;  // "WBSECTOR"

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void Pattern(uint64_t sector, ValueId id, uint64_t* w) {
  w[0] = id;
  w[1] = sector ^ kSectorMagic;
  uint64_t x = Mix(id * 0x9e3779b97f4a7c15ull ^ sector);
  for (int k = 2; k < 64; k++) w[k] = x + k * 0x632be59bd9b4e019ull;
}

}  // namespace

void FillSector(uint64_t sector, ValueId id, char* out) {
  uint64_t w[64];
  Pattern(sector, id, w);
  std::memcpy(out, w, sizeof(w));
}

ValueId DecodeSector(uint64_t sector, const char* in) {
  uint64_t got[64];
  std::memcpy(got, in, sizeof(got));
  bool zero = true;
  for (uint64_t v : got) zero &= v == 0;
  if (zero) return kZero;
  if (got[0] == kZero || got[0] == kGarbage) return kGarbage;
  uint64_t want[64];
  Pattern(sector, got[0], want);
  return std::memcmp(got, want, sizeof(got)) == 0 ? got[0] : kGarbage;
}

bool IsMixOf(uint64_t sector, const char* in, const std::vector<ValueId>& of) {
  uint64_t got[64];
  std::memcpy(got, in, sizeof(got));
  std::vector<std::array<uint64_t, 64>> want(of.size());
  for (size_t i = 0; i < of.size(); i++) {
    if (of[i] == kZero) {
      want[i].fill(0);
    } else {
      Pattern(sector, of[i], want[i].data());
    }
  }
  std::vector<bool> used(of.size());
  for (int k = 0; k < 64; k++) {
    size_t i = 0;
    while (i < of.size() && want[i][k] != got[k]) i++;
    if (i == of.size()) return false;
    // The first match is not always the only one (ids differ in word 0
    // only); count every match.
    for (size_t j = i; j < of.size(); j++) used[j] = used[j] || want[j][k] == got[k];
  }
  return std::count(used.begin(), used.end(), true) >= 2;
}

std::string InitialOriginImage(uint64_t bytes) {
  std::string img(bytes, '\0');
  for (uint64_t s = 0; s < bytes / 512; s++) {
    FillSector(s, kInitialValue, img.data() + s * 512);
  }
  return img;
}

std::string ValueName(ValueId v) {
  if (v == kZero) return "zero";
  if (v == kGarbage) return "garbage";
  if (v == kInitialValue) return "initial";
  if (v >= kPlantedIdBase) return absl::StrFormat("planted%u", v - kPlantedIdBase);
  return absl::StrFormat("w%u", v);
}

std::string ValueNames(const std::vector<ValueId>& v) {
  std::string out;
  for (ValueId x : v) absl::StrAppend(&out, out.empty() ? "" : " ", ValueName(x));
  return out;
}

Model::Model(std::vector<ValueId> baseline, ValueId first_id)
    : baseline_(std::move(baseline)),
      next_id_(first_id),
      history_(baseline_.size()) {}

uint64_t Model::BeginOp(OpKind kind, uint64_t first_sector, uint64_t nsectors,
                        bool fua) {
  absl::MutexLock l(&mu_);
  uint64_t op = ops_.size();
  const uint64_t ev = ev_++;
  in_flight_.insert(ev);
  ops_.push_back({kind, fua, kind == OpKind::kWrite ? next_id_++ : kZero, ev,
                  kNever, kNever, *in_flight_.begin()});
  for (uint64_t s = first_sector; s < first_sector + nsectors; s++) {
    history_[s].push_back(static_cast<uint32_t>(op));
  }
  return op;
}

ValueId Model::IdOf(uint64_t op) const {
  absl::MutexLock l(&mu_);
  return ops_[op].id;
}

void Model::EndOp(uint64_t op, bool ok) {
  absl::MutexLock l(&mu_);
  uint64_t ev = ev_++;
  if (!ok) return;  // never acknowledged: stays a candidate forever
  in_flight_.erase(in_flight_.find(ops_[op].issue_ev));
  ops_[op].ack_ev = ev;
  if (ops_[op].fua) {
    ops_[op].durable_ev = ev;
  } else {
    pending_.push_back(op);
  }
}

uint64_t Model::BeginFlush() {
  absl::MutexLock l(&mu_);
  flushes_.push_back({ev_++});
  return flushes_.size() - 1;
}

void Model::EndFlush(uint64_t flush, bool ok) {
  absl::MutexLock l(&mu_);
  uint64_t ev = ev_++;
  if (!ok) return;
  // The Flush covers every op acknowledged before it was issued.
  const uint64_t issued = flushes_[flush].issue_ev;
  auto covered = [&](uint64_t op) { return ops_[op].ack_ev < issued; };
  for (uint64_t op : pending_) {
    if (covered(op)) ops_[op].durable_ev = std::min(ops_[op].durable_ev, ev);
  }
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(), covered),
                 pending_.end());
}

uint64_t Model::Now() const {
  absl::MutexLock l(&mu_);
  return ev_;
}

ValueId Model::NextId() const {
  absl::MutexLock l(&mu_);
  return next_id_;
}

std::vector<ValueId> Model::Candidates(uint64_t s, uint64_t settled,
                                       uint64_t issued, bool durable) const {
  std::vector<ValueId> out;
  const auto& h = history_[s];
  // Newest first (history is in issue order). The first settled non-trim
  // op met is the newest one; it supersedes every op acknowledged before it
  // was issued, and none older than its floor can have been in flight then.
  uint64_t newest_settled = kNever;
  uint64_t floor = 0;
  for (size_t i = h.size(); i-- > 0;) {
    const Op& op = ops_[h[i]];
    if (op.issue_ev >= issued) continue;  // issued after the cut or read
    if (newest_settled != kNever) {
      if (op.issue_ev < floor) break;
      if (op.ack_ev < newest_settled) continue;  // superseded
    }
    if (std::find(out.begin(), out.end(), op.id) == out.end()) {
      out.push_back(op.id);  // kZero for zeroes and trims
    }
    const uint64_t settled_ev = durable ? op.durable_ev : op.ack_ev;
    if (newest_settled == kNever && op.kind != OpKind::kTrim &&
        settled_ev < settled) {
      newest_settled = op.issue_ev;
      floor = op.floor_ev;
    }
  }
  if (newest_settled == kNever) out.push_back(baseline_[s]);
  return out;
}

std::vector<ValueId> Model::Allowed(uint64_t s, uint64_t durable_wm,
                                    uint64_t issue_wm) const {
  absl::MutexLock l(&mu_);
  return Candidates(s, durable_wm, issue_wm, true);
}

std::vector<ValueId> Model::Readable(uint64_t s, uint64_t begin,
                                     uint64_t end) const {
  absl::MutexLock l(&mu_);
  return Candidates(s, begin, end, false);
}

std::string Model::Explain(uint64_t s, uint64_t durable_wm,
                           uint64_t issue_wm) const {
  absl::MutexLock l(&mu_);
  std::string out = absl::StrFormat(
      "    sector %u history (settled before %u, issued before %u; newest "
      "first):\n",
      s, durable_wm, issue_wm);
  const auto& h = history_[s];
  auto ev = [](uint64_t e) {
    return e == kNever ? std::string("never") : absl::StrCat(e);
  };
  int shown = 0;
  for (size_t i = h.size(); i-- > 0 && shown < 12; shown++) {
    const Op& op = ops_[h[i]];
    static const char* kKind[] = {"write", "zeroes", "trim"};
    out += absl::StrFormat(
        "      op %u %s%s %s issued@%s acked@%s durable@%s%s\n", h[i],
        kKind[static_cast<int>(op.kind)], op.fua ? "+fua" : "",
        ValueName(op.id), ev(op.issue_ev), ev(op.ack_ev), ev(op.durable_ev),
        op.issue_ev >= issue_wm ? " (issued after)" : "");
  }
  out += absl::StrFormat("      baseline %s\n", ValueName(baseline_[s]));
  return out;
}

}  // namespace wb::crash
