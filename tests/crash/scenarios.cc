#include "tests/crash/scenarios.h"

#include <atomic>
#include <random>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/strings/str_format.h"
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

  // Overlapping writers and readers (WorkloadConfig::shared): three threads
  // on one hot set, every read held to what a linearizable device may
  // return. Read caching stages what readers fetch from the origin while
  // writes go around the cache, so a fill that overlaps a write is the race
  // these look for.
  // A sector holding words of two writes (a torn copy into the RAM
  // buffer) is a violation like any other value no write gave it.
  s = {};
  s.name = "overlap_around";
  s.what = "write_around_mode=1 and read caching, four threads writing and "
           "reading the same blocks; the origin has 4 KiB sectors, so writes "
           "of part of a block take the log and writeback drains them";
  s.default_cuts = 1500;
  s.rig = SmallWritebackRig();
  s.rig.tunables.write_around_mode = 1;
  s.rig.tunables.read_cache_threshold = 8;
  s.rig.origin_block_size = 4096;
  // Reads and writes take a while on both devices, so that a read of
  // several blocks is still going when a write around the cache completes.
  s.rig.async_origin = s.rig.async_cache = true;
  s.work.shared = true;
  // Many readers, few writes: a fill must see one write around the cache
  // start before it and none after (the rule read_cache.cc had wrong).
  s.work.threads = 4;
  s.work.read = 70;
  s.work.hot_blocks = 8;
  // Mostly whole blocks, which go around whenever nothing is dirty; a few
  // partial writes and trims make dirty data for writeback to drain.
  s.work.small = 2;
  s.work.skew = 2;
  s.work.trim = 1;
  // Few cuts per op: the live reads are what this scenario is for.
  s.points = {{"origin.write.after", 0.002}, {"origin.flush.after", 0.02},
              {"cache.flush.after", 0.03}, {"cache.progress-write.after", 0.05}};
  s.random_every = absl::Milliseconds(20);
  s.cuts_per_run = 60;
  s.drop_check_every = 8;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "overlap_cutoff";
  s.what = "sequential_cutoff 4 KiB and read caching, three threads writing "
           "and reading the same blocks of an origin whose size is not a "
           "multiple of 4 KiB (its last block is partial)";
  s.default_cuts = 600;
  s.rig = SmallWritebackRig();
  s.rig.origin_size = (1 << 20) - 1536;
  s.rig.tunables.sequential_cutoff = 4096;
  s.rig.tunables.read_cache_threshold = 8;
  s.rig.async_origin = s.rig.async_cache = true;
  s.work.shared = true;
  s.work.threads = 3;
  s.work.read = 40;
  s.points = {{"origin.write.after", 0.02}, {"origin.flush.after", 0.1},
              {"cache.segment-write.after", 0.05}, {"cache.flush.after", 0.1},
              {"cache.progress-write.after", 0.2}};
  s.random_every = absl::Milliseconds(2);
  s.cuts_per_run = 60;
  s.drop_check_every = 8;
  s.padding_check = true;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "virtual_ids";
  s.what = "WriteZeroes and Trims to the end of a 2 MiB origin through a "
           "cache whose ring has 256 blocks: more blocks than there are "
           "virtual ids, with two threads writing and reading the same blocks";
  s.default_cuts = 400;
  s.rig = SmallWritebackRig();
  s.rig.origin_size = 2 << 20;
  s.rig.tunables.read_cache_threshold = 8;
  s.work.shared = true;
  s.work.threads = 2;
  s.work.zeroes = 8;
  s.work.trim = 8;
  s.work.span = 40;
  s.work.read = 25;
  s.points = {{"origin.flush.after", 0.2}, {"cache.flush.after", 0.1},
              {"cache.progress-write.after", 0.2}};
  s.cut_after_op = 0.02;
  s.cuts_per_run = 40;
  s.drop_check_every = 8;
  s.run = RunWorkloadWithCuts;
  all.push_back(s);

  s = {};
  s.name = "cache_read_errors";
  s.what = "writeback's segment reads fail at random (a retry succeeds): "
           "cuts as in writeback, and at the end every injected error must "
           "show as a cache error, none as an origin error";
  s.default_cuts = 300;
  s.rig = SmallWritebackRig();
  s.rig.cache_read_faults = 0.1;
  s.points = {{"origin.flush.after", 0.3}, {"cache.progress-write.after", 0.3},
              {"cache.flush.after", 0.1}};
  s.cuts_per_run = 30;
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
    ro.padding_check = sc_.padding_check;
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
  // The volume's threads call the cutter, which goes before the rig: power
  // off before leaving.
  if (!err.empty()) {
    rig.PowerOff();
    return session.Violation(run, "workload", err);
  }
  session.Tally("workload: reads", work.reads());
  session.Tally("workload: reads overlapping a write", work.overlapped_reads());
  if (rig.volume() != nullptr) {
    const VolumeStatus st = rig.volume()->GetStatus();
    // Each injected cache read error is the cache's, and was retried: the
    // volume counts it as one, does not blame the origin, and goes on.
    const uint64_t injected = rig.injected_read_faults();
    if (sc.rig.cache_read_faults > 0) {
      session.Tally("cache read errors injected", injected);
    }
    if (st.cache_errors < injected || st.origin_errors != 0 || st.failed) {
      rig.PowerOff();
      return session.Violation(
          run, "cache-read-errors",
          absl::StrFormat("  %u cache read errors injected; the volume counts "
                          "%u cache errors and %u origin errors%s\n",
                          injected, st.cache_errors, st.origin_errors,
                          st.failed ? ", and failed: " + st.failure : ""));
    }
    session.Tally("volume: blocks staged by reads", st.read_cache_staged);
    session.Tally("volume: blocks read from clean copies", st.read_cache_hits);
    session.Tally("volume: ZERO entries", st.zero_blocks);
    session.Tally("volume: TRIM entries", st.trim_blocks);
  }
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
