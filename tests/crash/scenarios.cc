#include "tests/crash/scenarios.h"

#include <atomic>
#include <random>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/core/format/superblock.h"

namespace wb::crash {
namespace {

RigConfig SmallWritebackRig() {
  // 16 segments of 64 KiB and batches of two: writeback, the progress
  // record and ring reuse never stop.
  RigConfig rc;
  rc.cache_size = 2 << 20;
  rc.tunables.nr_max_batched_writeback = 2;
  rc.tunables.update_sb_record_interval = 0;
  return rc;
}

std::vector<Scenario> MakeScenarios() {
  std::vector<Scenario> all;
  Scenario s;

  s = {};
  s.name = "random";
  s.what = "cuts at random instants while two threads write";
  s.default_cuts = 2000;
  s.work.threads = 2;
  s.random_every = absl::Microseconds(800);
  s.cut_after_op = 0.02;
  s.cuts_per_run = 60;
  s.drop_check_every = 16;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "persist";
  s.what = "cuts at every persistence point: just before each cache or "
           "origin flush is issued and just after it completes";
  s.default_cuts = 2500;
  s.work.fua = 12;
  s.points = {{"cache.flush.before", 1}, {"cache.flush.after", 1},
              {"origin.flush.before", 1}, {"origin.flush.after", 1}};
  s.cuts_per_run = 300;
  s.drop_check_every = 32;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "format";
  s.what = "cuts before and after every write and flush of FormatCache";
  s.default_cuts = 1500;
  s.cuts_per_run = 120;
  s.run = RunFormatCuts;
  all.push_back(s);

  s = {};
  s.name = "segment_flush";
  s.what = "cuts around segment writes and flushes with asynchronous, "
           "reordering devices and three writer threads";
  s.default_cuts = 1500;
  s.rig.async_cache = s.rig.async_origin = true;
  s.work.threads = 3;
  s.points = {{"cache.segment-write.before", 0.15},
              {"cache.segment-write.after", 0.15},
              {"cache.flush.before", 0.5},
              {"cache.flush.after", 0.5}};
  s.random_every = absl::Milliseconds(2);
  s.cuts_per_run = 80;
  s.drop_check_every = 16;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "writeback";
  s.what = "cuts around origin writes, origin flushes and the progress "
           "record, on a small cache that writes back all the time";
  s.default_cuts = 1500;
  s.rig = SmallWritebackRig();
  s.points = {{"origin.write.before", 0.05},  {"origin.write.after", 0.05},
              {"origin.flush.before", 1},     {"origin.flush.after", 1},
              {"cache.progress-write.before", 1},
              {"cache.progress-write.after", 1},
              {"cache.flush.before", 0.2},    {"cache.flush.after", 0.2}};
  s.cuts_per_run = 150;
  s.drop_check_every = 8;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "recovery";
  s.what = "after each cut, cut again during the recovery (progress record "
           "write or flush) and recover from that";
  s.default_cuts = 1000;  // half of them during recovery
  s.rig = SmallWritebackRig();
  s.points = {{"cache.flush.before", 0.3}, {"origin.flush.after", 0.3},
              {"cache.progress-write.after", 0.3}};
  s.cut_after_op = 0.01;
  s.cuts_per_run = 80;
  s.nested = true;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "repeated";
  s.what = "crash, recover, write on, crash again: chains of generations";
  s.default_cuts = 1000;
  s.rig = SmallWritebackRig();
  s.work.fua = 15;
  s.points = {{"cache.flush.before", 0.05}, {"cache.flush.after", 0.05},
              {"cache.segment-write.after", 0.05},
              {"origin.flush.after", 0.1}, {"cache.progress-write.after", 0.1}};
  s.cut_after_op = 0.01;
  s.generations = 12;
  s.drop_check_every = 16;
  s.run = RunCrashChain;
  all.push_back(s);

  s = {};
  s.name = "stale";
  s.what = "chains of crashes that drop early in-flight segments and keep "
           "later ones, so stale segments sit where replay looks next";
  s.default_cuts = 500;
  s.rig = SmallWritebackRig();
  s.rig.async_cache = true;
  s.work.threads = 2;
  s.work.fua = 35;
  s.work.small = 70;
  s.work.flush = 2;
  s.points = {{"cache.segment-write.after", 0.2}, {"cache.flush.before", 0.1}};
  s.generations = 16;
  s.structure_check = true;
  s.plant_every = 2;
  s.run = RunCrashChain;
  all.push_back(s);

  s = {};
  s.name = "around";
  s.what = "sequential bypass: writes longer than the cutoff reach the "
           "origin directly whenever nothing is dirty, between writeback "
           "batches whose progress record may not be durable yet";
  s.default_cuts = 1000;
  s.rig = SmallWritebackRig();
  s.rig.tunables.update_sb_record_interval = 5;  // progress lags writeback
  // Multi-block writes exceed the cutoff and go around whenever writeback
  // has drained everything; the others take the log.
  s.rig.tunables.sequential_cutoff = 4096;
  s.work.fua = 15;
  s.points = {{"origin.flush.after", 0.2}, {"origin.write.after", 0.05},
              {"cache.flush.after", 0.1}, {"cache.progress-write.after", 0.3}};
  s.cut_after_op = 0.02;
  s.cuts_per_run = 80;
  s.drop_check_every = 8;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "read_cache";
  s.what = "read caching on: reads stage clean copies into the log and "
           "written-back blocks stay cached while two threads write, read "
           "and write back";
  s.default_cuts = 1000;
  s.rig = SmallWritebackRig();
  s.rig.tunables.read_cache_threshold = 8;
  s.work.threads = 2;
  s.work.read = 35;
  s.points = {{"cache.segment-write.after", 0.05},
              {"cache.flush.after", 0.2}, {"origin.flush.after", 0.2},
              {"cache.progress-write.after", 0.2}};
  s.random_every = absl::Milliseconds(1);
  s.cuts_per_run = 80;
  s.drop_check_every = 8;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  // Cache sets (server/core/device/cache_set.h): the log on two devices
  // whose unflushed writes a cut loses independently, completing out of
  // order. Every recovery assembles the set from both images.
  for (uint32_t layout : {kLayoutMirror, kLayoutStripe}) {
    s = {};
    s.name = layout == kLayoutMirror ? "mirror" : "stripe";
    s.what = layout == kLayoutMirror
                 ? "a cache mirrored on two devices: cuts at random instants "
                   "and at every cache flush while two threads write and "
                   "writeback runs"
                 : "a cache striped over two devices (64 KiB chunks): cuts "
                   "at random instants and at every cache flush while two "
                   "threads write and writeback runs";
    s.default_cuts = 1000;
    s.rig = SmallWritebackRig();
    s.rig.cache_layout = layout;
    s.rig.cache_members = 2;
    s.rig.async_cache = true;
    s.work.threads = 2;
    s.work.fua = 8;
    s.points = {{"cache.flush.before", 0.3}, {"cache.flush.after", 0.3},
                {"cache.progress-write.after", 0.2}};
    s.random_every = absl::Microseconds(800);
    s.cuts_per_run = 60;
    s.drop_check_every = 8;
    s.run = RunWorkloadWithCuts;
    all.push_back(s);
  }
  return all;
}

}  // namespace

const std::vector<Scenario>& AllScenarios() {
  static const std::vector<Scenario> kAll = MakeScenarios();
  return kAll;
}

const Scenario* FindScenario(const std::string& name) {
  for (const Scenario& s : AllScenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

namespace {

// Cuts at the scenario's points with their probabilities.
class PointCutter : public CutListener {
 public:
  PointCutter(Session& session, const Scenario& sc, RunContext& run, Rig& rig,
              const Model& model)
      : session_(session), sc_(sc), run_(run), rig_(rig), model_(model),
        rng_(run.seed), limit_(sc.cuts_per_run) {}

  void OnPoint(const CutPoint& p) override {
    std::string name = PointName(p);
    auto it = sc_.points.find(name);
    if (it != sc_.points.end() && Roll(it->second)) Cut(name);
  }
  bool Roll(double p) {
    absl::MutexLock l(&mu_);
    return std::uniform_real_distribution<double>(0, 1)(rng_) < p;
  }
  void Cut(const std::string& phase) {
    if (run_.cuts.load() >= limit_.load()) return;
    RecoveryOptions ro;
    uint64_t n = run_.cuts.load() + 1;
    ro.drop_check = sc_.drop_check_every > 0 && n % sc_.drop_check_every == 0;
    ro.structure_check = sc_.structure_check;
    if (sc_.nested) ro.nested_point = 1 + static_cast<int>(n % 4);
    session_.Cut(rig_, model_, run_, phase, ro);
  }
  void AllowMore(uint64_t n) { limit_ += n; }

 private:
  Session& session_;
  const Scenario& sc_;
  RunContext& run_;
  Rig& rig_;
  const Model& model_;
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> limit_;
};

}  // namespace

void RunWorkloadWithCuts(Session& session, const Scenario& sc, RunContext& run) {
  Rig rig(sc.rig, run.seed);
  if (absl::Status s = rig.Format(); !s.ok()) return session.Error(run, s.ToString());
  if (absl::Status s = rig.Open(); !s.ok()) return session.Error(run, s.ToString());
  Model model(std::vector<ValueId>(sc.rig.origin_size / 512, kInitialValue), 2);
  PointCutter cutter(session, sc, run, rig, model);
  rig.set_listener(&cutter);
  auto stop = [&] { return session.done() || run.cuts.load() >= sc.cuts_per_run; };

  std::atomic<bool> finished{false};
  std::thread timer;
  if (sc.random_every > absl::ZeroDuration()) {
    timer = std::thread([&] {
      std::mt19937_64 rng(run.seed ^ 0x7f4a7c15);
      const int64_t mean_us = absl::ToInt64Microseconds(sc.random_every);
      while (!finished.load() && !stop()) {
        absl::SleepFor(absl::Microseconds(rng() % (2 * mean_us + 1)));
        if (!finished.load()) cutter.Cut("random");
      }
    });
  }
  Workload work(rig.volume(), &model, sc.work, run.seed);
  std::string err = work.Run(stop, [&] {
    if (sc.cut_after_op > 0 && cutter.Roll(sc.cut_after_op)) cutter.Cut("after-op");
  });
  finished = true;
  if (timer.joinable()) timer.join();
  if (!err.empty()) return session.Violation(run, "workload", err);
  // Half the runs end with a clean shutdown, which has its own flushes and
  // progress record to cut around; the others just lose power.
  if (run.seed % 2 == 0 && !session.done()) {
    cutter.AllowMore(6);
    if (absl::Status s = rig.Close(); !s.ok()) {
      return session.Violation(run, "close", "  Close failed: " + s.ToString());
    }
  }
  rig.PowerOff();
}

}  // namespace wb::crash
