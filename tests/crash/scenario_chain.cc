// The scenarios that are not "one machine, one workload": cuts during
// format, and chains of crashes where each recovered machine writes on and
// crashes again.
#include <atomic>
#include <cstring>
#include <memory>
#include <random>

#include "absl/synchronization/mutex.h"
#include "tests/crash/scenarios.h"

namespace wb::crash {
namespace {

// Every write and flush of FormatCache, before and after: several cuts each.
class FormatCutter : public CutListener {
 public:
  FormatCutter(Session& session, Rig& rig, RunContext& run, int per_point)
      : session_(session), rig_(rig), run_(run), per_point_(per_point) {}
  void OnPoint(const CutPoint& p) override {
    for (int i = 0; i < per_point_; i++) {
      session_.FormatCut(rig_, run_, "format:" + PointName(p));
    }
  }

 private:
  Session& session_;
  Rig& rig_;
  RunContext& run_;
  const int per_point_;
};

// Cuts at the scenario's points; the countdown-th cut is the crash the
// chain continues from, the others are only checked.
class ChainCutter : public CutListener {
 public:
  ChainCutter(Session& session, const Scenario& sc, RunContext& run, Rig& rig,
              const Model& model, uint64_t seed, int countdown)
      : session_(session), sc_(sc), run_(run), rig_(rig), model_(model),
        rng_(seed), countdown_(countdown) {}

  void OnPoint(const CutPoint& p) override {
    std::string name = PointName(p);
    auto it = sc_.points.find(name);
    if (it != sc_.points.end() && Roll(it->second)) Event(name);
  }
  void OnOp() {
    if (sc_.cut_after_op > 0 && Roll(sc_.cut_after_op)) Event("after-op");
  }
  // The crash itself: recover, check, and keep the recovered machine.
  void Crash(const std::string& phase) {
    absl::MutexLock l(&crash_mu_);
    if (crashed_.load()) return;
    RecoveryOptions ro;
    ro.keep = true;
    ro.structure_check = sc_.structure_check;
    next_ = session_.Cut(rig_, model_, run_, "crash:" + phase, ro);
    crashed_ = true;
  }
  bool crashed() const { return crashed_.load(); }
  RecoveryResult TakeNext() {
    absl::MutexLock l(&crash_mu_);
    return std::move(next_);
  }

 private:
  bool Roll(double p) {
    absl::MutexLock l(&mu_);
    return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
  }
  void Event(const std::string& phase) {
    if (crashed_.load()) return;
    if (--countdown_ == 0) return Crash(phase);
    RecoveryOptions ro;
    ro.structure_check = sc_.structure_check;
    ro.padding_check = sc_.padding_check;
    uint64_t n = run_.cuts.load() + 1;
    ro.drop_check = sc_.drop_check_every > 0 && n % sc_.drop_check_every == 0;
    ro.plant_stale = sc_.plant_every > 0 && n % sc_.plant_every == 0;
    session_.Cut(rig_, model_, run_, phase, ro);
  }

  Session& session_;
  const Scenario& sc_;
  RunContext& run_;
  Rig& rig_;
  const Model& model_;
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> countdown_;
  absl::Mutex crash_mu_;
  std::atomic<bool> crashed_{false};
  RecoveryResult next_ ABSL_GUARDED_BY(crash_mu_);
};

}  // namespace

void RunFormatCuts(Session& session, const Scenario& sc, RunContext& run) {
  std::mt19937_64 rng(run.seed);
  // Half the runs format over junk, the others over zeroes.
  std::string cache(sc.rig.cache_size, '\0');
  if (run.seed % 2 == 1) {
    for (size_t i = 0; i + 8 <= cache.size(); i += 8) {
      uint64_t x = rng();
      std::memcpy(cache.data() + i, &x, 8);
    }
  }
  Rig rig(sc.rig, run.seed, std::move(cache),
          InitialOriginImage(sc.rig.origin_size));
  FormatCutter cutter(session, rig, run, 6);
  rig.set_listener(&cutter);
  absl::Status st = rig.Format();
  rig.set_listener(nullptr);
  if (!st.ok()) return session.Error(run, "FormatCache: " + st.ToString());
  // The finished format must open as an empty cache.
  session.FormatCut(rig, run, "format:done");
}

void RunCrashChain(Session& session, const Scenario& sc, RunContext& run) {
  auto rig = std::make_unique<Rig>(sc.rig, run.seed);
  if (absl::Status s = rig->Format(); !s.ok()) return session.Error(run, s.ToString());
  if (absl::Status s = rig->Open(); !s.ok()) return session.Error(run, s.ToString());
  auto model = std::make_unique<Model>(
      std::vector<ValueId>(sc.rig.origin_size / 512, kInitialValue), 2);
  std::mt19937_64 rng(run.seed);
  for (int gen = 0; gen < sc.generations && !session.done(); gen++) {
    const uint64_t gen_seed = run.seed * 131 + gen;
    ChainCutter cutter(session, sc, run, *rig, *model, gen_seed,
                       1 + static_cast<int>(rng() % 30));
    rig->set_listener(&cutter);
    Workload work(rig->volume(), model.get(), sc.work, gen_seed);
    std::string err = work.Run(
        [&] { return session.done() || cutter.crashed(); },
        [&] { cutter.OnOp(); });
    if (!err.empty()) return session.Violation(run, "workload", err);
    if (!cutter.crashed()) cutter.Crash("end-of-generation");
    // Stops the old machine's threads before the cutter they call goes.
    rig->PowerOff();
    RecoveryResult next = cutter.TakeNext();
    if (next.rig == nullptr) return;  // a violation, or the budget is spent
    model = std::make_unique<Model>(std::move(next.values), model->NextId());
    rig = std::move(next.rig);
  }
  rig->PowerOff();
}

}  // namespace wb::crash
