#include "tests/crash/value_model.h"

#include <algorithm>
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

Model::Model(std::vector<ValueId> baseline, ValueId first_id)
    : baseline_(std::move(baseline)),
      next_id_(first_id),
      history_(baseline_.size()) {}

uint64_t Model::BeginOp(OpKind kind, uint64_t first_sector, uint64_t nsectors,
                        bool fua) {
  absl::MutexLock l(&mu_);
  uint64_t op = ops_.size();
  ops_.push_back({kind, fua, kind == OpKind::kWrite ? next_id_++ : kZero, ev_++});
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

void Model::ValuesAt(uint64_t s, size_t i, std::vector<ValueId>* out) const {
  // A trim may leave the value it found; walk back through trims to it.
  while (true) {
    const Op& op = ops_[history_[s][i]];
    out->push_back(op.id);  // kZero for zeroes and trims
    if (op.kind != OpKind::kTrim) return;
    if (i == 0) {
      out->push_back(baseline_[s]);
      return;
    }
    i--;
  }
}

std::vector<ValueId> Model::Allowed(uint64_t s, uint64_t durable_wm,
                                    uint64_t issue_wm) const {
  absl::MutexLock l(&mu_);
  std::vector<ValueId> out;
  const auto& h = history_[s];
  for (size_t i = h.size(); i-- > 0;) {
    const Op& op = ops_[h[i]];
    if (op.issue_ev >= issue_wm) continue;  // issued after the cut
    ValuesAt(s, i, &out);
    if (op.durable_ev < durable_wm) return out;  // nothing older may show
  }
  out.push_back(baseline_[s]);
  return out;
}

std::vector<ValueId> Model::Visible(uint64_t s) const {
  absl::MutexLock l(&mu_);
  std::vector<ValueId> out;
  const auto& h = history_[s];
  for (size_t i = h.size(); i-- > 0;) {
    ValuesAt(s, i, &out);
    if (ops_[h[i]].ack_ev != kNever) return out;
  }
  out.push_back(baseline_[s]);
  return out;
}

std::string Model::Explain(uint64_t s, uint64_t durable_wm,
                           uint64_t issue_wm) const {
  absl::MutexLock l(&mu_);
  std::string out = absl::StrFormat(
      "    sector %u history (cut: durable watermark %u, issue watermark %u; "
      "newest first):\n",
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
        op.issue_ev >= issue_wm ? " (after the cut)" : "");
    if (op.durable_ev < durable_wm && op.issue_ev < issue_wm) break;
  }
  out += absl::StrFormat("      baseline %s\n", ValueName(baseline_[s]));
  return out;
}

}  // namespace wb::crash
