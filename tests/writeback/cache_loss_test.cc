// Cache-device loss: whatever happens to the cache, ordered writeback must
// leave the origin holding the image at some Flush/FUA boundary k plus, for
// each sector, either its value at k or its value at a later boundary j (the
// final value in the epochs being applied) — the states a real disk can be
// in after a power cut that follows a Flush (docs/CORE.md, Writeback).
//
// Each trial formats a small rig, runs one writer that overwrites a small
// volume and flushes often while writeback runs, and at a random origin
// write or flush (submission or completion) takes what a power cut would
// leave on the origin, torn writes included. The cache is then thrown away.
// The same harness must catch `writeback_mode=1` (sorted), which ignores
// epochs.
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/crash/rig.h"
#include "tests/crash/value_model.h"

namespace wb::crash {
namespace {

constexpr uint64_t kSector = 512;

// The writer's history: per boundary, the value each sector had there.
class BoundaryModel {
 public:
  explicit BoundaryModel(uint64_t sectors)
      : current_(sectors, kInitialValue), at_boundary_{current_} {}

  void Write(uint64_t first, uint64_t n, ValueId id) {
    for (uint64_t s = first; s < first + n; s++) current_[s] = id;
  }
  // A Flush or FUA was issued: every write before it is acknowledged and the
  // log's epoch ends here.
  void Boundary() { at_boundary_.push_back(current_); }

  // "" if the origin image is at boundary k with some sectors at a later
  // boundary j; otherwise what is wrong.
  std::string Check(const std::vector<ValueId>& origin) const {
    for (size_t s = 0; s < origin.size(); s++) {
      if (origin[s] == kGarbage) {
        return absl::StrFormat("origin sector %u holds garbage", s);
      }
    }
    const size_t n = at_boundary_.size();
    for (size_t k = n; k-- > 0;) {
      for (size_t j = k; j < n; j++) {
        if (Fits(origin, at_boundary_[k], at_boundary_[j])) return "";
      }
    }
    // Explain with the boundary that fits best on its own.
    size_t best = 0, best_bad = origin.size() + 1;
    for (size_t k = 0; k < n; k++) {
      size_t bad = 0;
      for (size_t s = 0; s < origin.size(); s++) bad += origin[s] != at_boundary_[k][s];
      if (bad < best_bad) best = k, best_bad = bad;
    }
    std::string why = absl::StrFormat(
        "origin matches no boundary pair of %u; closest boundary %u differs in "
        "%u sectors:", n, best, best_bad);
    int shown = 0;
    for (size_t s = 0; s < origin.size() && shown < 4; s++) {
      if (origin[s] == at_boundary_[best][s]) continue;
      why += absl::StrFormat(" sector %u holds %s, boundary has %s;", s,
                             ValueName(origin[s]),
                             ValueName(at_boundary_[best][s]));
      shown++;
    }
    return why;
  }

  size_t boundaries() const { return at_boundary_.size(); }

 private:
  static bool Fits(const std::vector<ValueId>& origin,
                   const std::vector<ValueId>& k, const std::vector<ValueId>& j) {
    for (size_t s = 0; s < origin.size(); s++) {
      if (origin[s] != k[s] && origin[s] != j[s]) return false;
    }
    return true;
  }

  std::vector<ValueId> current_;
  std::vector<std::vector<ValueId>> at_boundary_;
};

// Takes the origin's power-cut image at the n-th origin point.
class OriginCut final : public CutListener {
 public:
  OriginCut(Rig* rig, uint64_t at, uint64_t seed) : rig_(rig), at_(at), seed_(seed) {}

  void OnPoint(const CutPoint& p) override {
    if (p.role != Role::kOrigin) return;
    absl::MutexLock l(&mu_);
    if (++seen_ != at_ || taken_) return;
    rig_->TakeSnapshot(seed_, &snap_);
    taken_ = true;
  }
  void TakeNow() {
    absl::MutexLock l(&mu_);
    if (taken_) return;
    rig_->TakeSnapshot(seed_, &snap_);
    taken_ = true;
  }
  bool taken() {
    absl::MutexLock l(&mu_);
    return taken_;
  }
  const Snapshot& snapshot() const { return snap_; }

 private:
  Rig* rig_;
  const uint64_t at_;
  const uint64_t seed_;
  absl::Mutex mu_;
  uint64_t seen_ ABSL_GUARDED_BY(mu_) = 0;
  bool taken_ ABSL_GUARDED_BY(mu_) = false;
  Snapshot snap_;
};

struct TrialResult {
  std::string failure;       // "" if the rule held
  bool inconclusive = false;  // an epoch ended without a Flush
  bool dropped = false;       // the cut lost at least one origin write
  bool torn = false;
  bool during_writeback = false;  // cut at an origin I/O, not after the run
};

RigConfig LossConfig(uint32_t writeback_mode) {
  RigConfig c;
  c.cache_size = 4 << 20;
  c.origin_size = 256 << 10;  // 64 blocks: lots of overwrites
  c.segment_size = 64 << 10;
  c.rambuf_size = 256 << 10;
  c.async_origin = true;  // origin writes complete out of order
  c.tunables.writeback_threshold = 100;
  c.tunables.nr_max_batched_writeback = 6;  // batches merge several epochs
  c.tunables.writeback_mode = writeback_mode;
  return c;
}

TrialResult RunTrial(uint32_t writeback_mode, uint64_t seed) {
  TrialResult r;
  const RigConfig config = LossConfig(writeback_mode);
  const uint64_t sectors = config.origin_size / kSector;
  std::mt19937_64 rng(seed);
  Rig rig(config, seed);
  if (absl::Status s = rig.Format(); !s.ok()) return {"format: " + s.ToString()};
  if (absl::Status s = rig.Open(); !s.ok()) return {"open: " + s.ToString()};
  OriginCut cut(&rig, 1 + rng() % 40, seed);
  rig.set_listener(&cut);

  BoundaryModel model(sectors);
  const int ops = 150 + static_cast<int>(rng() % 150);
  const int flush_every = 1 + static_cast<int>(rng() % 12);
  std::string buf;
  for (int op = 0; op < ops && !cut.taken(); op++) {
    const ValueId id = kInitialValue + 1 + static_cast<ValueId>(op);
    const uint64_t n = 1 + rng() % 16;  // sectors, partial blocks included
    const uint64_t first = rng() % (sectors - n + 1);
    buf.resize(n * kSector);
    for (uint64_t i = 0; i < n; i++) FillSector(first + i, id, &buf[i * kSector]);
    const bool fua = rng() % (flush_every * 2) == 0;
    model.Write(first, n, id);
    if (fua) model.Boundary();  // the FUA's group commit ends the epoch
    absl::Status s = rig.volume()->Write(first * kSector, buf, fua);
    if (!s.ok()) return {absl::StrFormat("write %d: %s", op, s.ToString())};
    if (rng() % flush_every == 0) {
      model.Boundary();
      if (absl::Status fs = rig.volume()->Flush(); !fs.ok()) {
        return {absl::StrFormat("flush after op %d: %s", op, fs.ToString())};
      }
    }
  }
  // A cut point past what writeback reached while the writes ran: end the
  // epoch with a Flush and drain, so the cut lands in writeback all the
  // same, however fast the writer was on this machine.
  if (!cut.taken()) {
    model.Boundary();
    if (absl::Status fs = rig.volume()->Flush(); !fs.ok()) {
      return {"final flush: " + fs.ToString()};
    }
    if (absl::Status ds = rig.volume()->DropCaches(nullptr); !ds.ok()) {
      return {"drain: " + ds.ToString()};
    }
  }
  r.during_writeback = cut.taken();
  cut.TakeNow();  // the chosen point was not reached
  r.inconclusive = rig.volume()->GetStatus().internal_epoch_cuts > 0;
  rig.PowerOff();

  const std::string& img = cut.snapshot().origin;
  std::vector<ValueId> origin(sectors);
  for (uint64_t s = 0; s < sectors; s++) origin[s] = DecodeSector(s, &img[s * kSector]);
  r.dropped = cut.snapshot().origin_stats.dropped > 0;
  r.torn = cut.snapshot().origin_stats.torn > 0;
  if (!r.inconclusive) r.failure = model.Check(origin);
  return r;
}

int Trials(int base) {
  const char* m = std::getenv("WB_CUTS_MULTIPLIER");
  return base * (m != nullptr ? std::max(1, std::atoi(m)) : 1);
}

uint64_t FirstSeed() {
  const char* s = std::getenv("WB_SEED");
  return s != nullptr ? std::strtoull(s, nullptr, 10) : 1;
}

TEST(CacheLossTest, OrderedWritebackKeepsOriginAtFlushBoundaries) {
  const int trials = Trials(std::getenv("WB_TRIALS") ? std::atoi(std::getenv("WB_TRIALS")) : 2000);
  int inconclusive = 0, dropped = 0, torn = 0, during = 0;
  for (int i = 0; i < trials; i++) {
    const uint64_t seed = FirstSeed() + i;
    TrialResult r = RunTrial(kWritebackOrdered, seed);
    ASSERT_EQ(r.failure, "") << "seed " << seed << "; replay with: WB_SEED="
                             << seed << " build/bin/cache_loss_test";
    inconclusive += r.inconclusive;
    dropped += r.dropped;
    torn += r.torn;
    during += r.during_writeback;
  }
  std::printf("%d cache-loss trials: %d cut during writeback, %d dropped an "
              "origin write, %d tore one, %d inconclusive (an epoch ended "
              "without a Flush)\n",
              trials, during, dropped, torn, inconclusive);
  // Cuts that never lose anything would prove nothing.
  EXPECT_GT(dropped, trials / 20);
  EXPECT_GT(torn, trials / 20);
  EXPECT_GT(during, trials / 2);
  EXPECT_LT(inconclusive, trials / 20);
}

TEST(CacheLossTest, SortedWritebackIsCaught) {
  constexpr int kLimit = 2000;
  for (int i = 0; i < kLimit; i++) {
    const uint64_t seed = FirstSeed() + i;
    TrialResult r = RunTrial(kWritebackSorted, seed);
    if (!r.failure.empty()) {
      std::printf("sorted mode caught after %d trials (seed %llu): %s\n", i + 1,
                  static_cast<unsigned long long>(seed), r.failure.c_str());
      return;
    }
  }
  FAIL() << "sorted writeback was not caught in " << kLimit << " trials";
}

}  // namespace
}  // namespace wb::crash
