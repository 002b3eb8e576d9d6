// core_bench: core-level figures on a real cache file (O_DIRECT, io_uring).
// Each run prints one JSON object; bench/run.py puts them side by side with
// fio's figures for the same file.
//
//   --mode=ingest       unique random 4 KiB writes totalling --multiple x the
//                       RAM buffers, timed to the end of a final Flush
//   --mode=ack_latency  per-write acknowledgement latency, not backpressured
//   --mode=fua          4 KiB FUA writes at queue depth --qd (threads)
//   --mode=restart      reopen time of a cache full of dirty data
//   --mode=hdd          on the HDD latency model: naive FIFO writeback vs the
//                       core's sorted, merged writeback of the same writes, and
//                       client writes through a saturated cache vs straight
//                       to the origin
//   --mode=read_cache   on the HDD latency model: random 4 KiB reads of a hot
//                       set, a second pass timed, read caching on vs off
#include <algorithm>
#include <random>
#include <utility>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/file_device.h"
#include "server/core/device/hdd_model_device.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/mem_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/recovery.h"
#include "server/core/volume.h"

ABSL_FLAG(std::string, mode, "ingest",
          "ingest | ack_latency | fua | restart | hdd | read_cache");
ABSL_FLAG(std::string, cache, "", "cache file (created)");
ABSL_FLAG(std::string, origin, "", "origin file (created sparse)");
ABSL_FLAG(uint64_t, cache_mib, 2048, "cache size in MiB");
ABSL_FLAG(uint64_t, rambuf_mib, 64, "RAM buffer size in MiB");
ABSL_FLAG(uint64_t, multiple, 10, "ingest: bytes written as a multiple of rambuf");
ABSL_FLAG(int, qd, 1, "fua: writer threads");
ABSL_FLAG(double, seconds, 5, "fua, ack_latency: run time");
ABSL_FLAG(uint64_t, hdd_writes, 2000, "hdd: 4 KiB writes per run");
ABSL_FLAG(uint64_t, hdd_region_mib, 256, "hdd: the writes fall in the first this many MiB");
ABSL_FLAG(uint64_t, hdd_flush_every, 0, "hdd: a Flush after every this many writes (0: none)");
ABSL_FLAG(std::string, hdd_rotation, "positional",
          "hdd, read_cache: rotational delay, positional (the platter turns "
          "with the clock) or random (a uniform fraction of a turn)");
ABSL_FLAG(uint64_t, hot_reads, 1000, "read_cache: 4 KiB reads per pass");
ABSL_FLAG(uint64_t, hot_set_mib, 16, "read_cache: the reads fall in this many MiB");
ABSL_FLAG(std::string, timeline, "", "ingest, ack_latency: write a timeline here");

namespace {

[[noreturn]] void Die(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "core_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

std::unique_ptr<wb::Device> OpenFile(const std::string& path, uint64_t size) {
  wb::FileDeviceOptions o;
  o.create = size > 0;
  o.create_size = size;
  auto dev = wb::FileDevice::Open(path, o);
  if (!dev.ok()) Die("open " + path, dev.status());
  return std::move(*dev);
}

uint64_t OriginSize() {
  return absl::GetFlag(FLAGS_rambuf_mib) * absl::GetFlag(FLAGS_multiple) * 4 << 20;
}

// Formats a fresh cache and opens the volume on it.
std::unique_ptr<wb::Volume> FreshVolume(bool writeback) {
  const std::string cache_path = absl::GetFlag(FLAGS_cache);
  const std::string origin_path = absl::GetFlag(FLAGS_origin);
  std::string identity;
  {
    auto cache = OpenFile(cache_path, absl::GetFlag(FLAGS_cache_mib) << 20);
    auto origin = OpenFile(origin_path, OriginSize());
    auto id = wb::OriginIdentity(origin_path, true);
    if (!id.ok()) Die("origin identity", id.status());
    identity = *id;
    wb::FormatOptions fo;
    fo.origin_identity = identity;
    if (auto s = wb::FormatCache(*cache, *origin, fo); !s.ok()) Die("format", s);
  }
  wb::OpenOptions oo;
  oo.origin_identity = identity;
  oo.rambuf_size = absl::GetFlag(FLAGS_rambuf_mib) << 20;
  oo.enable_writeback = writeback;
  auto vol = wb::Volume::Open(OpenFile(cache_path, 0), OpenFile(origin_path, 0), oo);
  if (!vol.ok()) Die("open volume", vol.status());
  return std::move(*vol);
}

// Unique, scattered origin blocks: a permutation by a large odd multiplier.
uint64_t BlockOf(uint64_t i) { return (i * 2654435761ull) % (OriginSize() / 4096); }

void Ingest() {
  auto vol = FreshVolume(false);  // the log alone
  const uint64_t total = (absl::GetFlag(FLAGS_rambuf_mib) << 20) * absl::GetFlag(FLAGS_multiple);
  std::string block(4096, 'w');
  FILE* timeline = nullptr;
  if (!absl::GetFlag(FLAGS_timeline).empty()) {
    timeline = std::fopen(absl::GetFlag(FLAGS_timeline).c_str(), "w");
  }
  absl::Time start = absl::Now(), sample = start;
  uint64_t sampled = 0;
  for (uint64_t i = 0; i < total / 4096; i++) {
    block[0] = static_cast<char>(i);
    if (auto s = vol->Write(BlockOf(i) * 4096, block, false); !s.ok()) Die("write", s);
    absl::Time now = absl::Now();
    if (timeline && now - sample >= absl::Milliseconds(50)) {
      std::fprintf(timeline, "%.3f %.1f\n", absl::ToDoubleSeconds(now - start),
                   (i - sampled) * 4096.0 / absl::ToDoubleSeconds(now - sample) / (1 << 20));
      sample = now;
      sampled = i;
    }
  }
  if (auto s = vol->Flush(); !s.ok()) Die("flush", s);
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  if (timeline) std::fclose(timeline);
  std::printf("{\"bytes\": %llu, \"seconds\": %.4f, \"mib_per_s\": %.1f}\n",
              static_cast<unsigned long long>(total), secs, total / secs / (1 << 20));
  if (auto s = vol->Close(); !s.ok()) Die("close", s);
}

void AckLatency() {
  auto vol = FreshVolume(true);
  std::string block(4096, 'l');
  std::vector<double> us;
  FILE* timeline = nullptr;
  if (!absl::GetFlag(FLAGS_timeline).empty()) {
    timeline = std::fopen(absl::GetFlag(FLAGS_timeline).c_str(), "w");
  }
  absl::Time start = absl::Now(), window_start = start;
  absl::Time end = start + absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const uint64_t limit = (absl::GetFlag(FLAGS_rambuf_mib) << 20) / 4096 / 2;
  size_t window_first = 0;
  for (uint64_t i = 0; absl::Now() < end; i++) {
    absl::Time t0 = absl::Now();
    if (auto s = vol->Write(BlockOf(i % limit) * 4096, block, false); !s.ok()) Die("write", s);
    us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
    if (timeline && t0 - window_start >= absl::Milliseconds(100)) {
      std::vector<double> w(us.begin() + window_first, us.end());
      std::sort(w.begin(), w.end());
      std::fprintf(timeline, "%.3f %.2f %.2f\n", absl::ToDoubleSeconds(t0 - start),
                   w[w.size() / 2], w[w.size() * 99 / 100]);
      window_start = t0;
      window_first = us.size();
    }
    // Pace well below the device's rate: never backpressured.
    absl::SleepFor(absl::Microseconds(20));
  }
  if (timeline) std::fclose(timeline);
  std::sort(us.begin(), us.end());
  std::printf("{\"writes\": %zu, \"p50_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.1f}\n",
              us.size(), us[us.size() / 2], us[us.size() * 99 / 100], us.back());
  if (auto s = vol->Close(); !s.ok()) Die("close", s);
}

void Fua() {
  auto vol = FreshVolume(true);
  const int qd = absl::GetFlag(FLAGS_qd);
  std::atomic<uint64_t> done{0};
  absl::Time end = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_seconds));
  std::vector<std::thread> threads;
  absl::Time start = absl::Now();
  for (int t = 0; t < qd; t++) {
    threads.emplace_back([&, t] {
      std::string block(4096, static_cast<char>('a' + t));
      for (uint64_t i = t; absl::Now() < end; i += qd) {
        if (auto s = vol->Write(BlockOf(i % 100000) * 4096, block, true); !s.ok()) Die("fua", s);
        done++;
      }
    });
  }
  for (auto& th : threads) th.join();
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  wb::VolumeStatus st = vol->GetStatus();
  std::printf("{\"qd\": %d, \"writes\": %llu, \"iops\": %.0f, \"group_commits\": %llu}\n", qd,
              static_cast<unsigned long long>(done.load()), done / secs,
              static_cast<unsigned long long>(st.group_commits));
  if (auto s = vol->Close(); !s.ok()) Die("close", s);
}

void Restart() {
  uint64_t dirty_blocks;
  std::string identity;
  {
    auto vol = FreshVolume(false);
    const uint64_t blocks = vol->GetStatus().nr_cache_blocks * 95 / 100;
    std::string block(4096, 'r');
    for (uint64_t i = 0; i < blocks; i++) {
      if (auto s = vol->Write(BlockOf(i) * 4096, block, false); !s.ok()) Die("write", s);
    }
    dirty_blocks = vol->GetStatus().nr_dirty_cache_blocks;
    if (auto s = vol->Close(); !s.ok()) Die("close", s);
  }
  double walk_secs, gib;
  uint64_t walked, data_checked;
  {
    // The log walk alone (no index), to tell I/O from index building.
    auto cache = OpenFile(absl::GetFlag(FLAGS_cache), 0);
    gib = static_cast<double>(cache->size()) / (1ull << 30);
    absl::Time t0 = absl::Now();
    auto head = wb::ReadCacheHead(*cache);
    if (!head.ok()) Die("read head", head.status());
    auto report = wb::ReplayLog(*cache, *head, {}, nullptr);
    if (!report.ok()) Die("replay", report.status());
    walk_secs = absl::ToDoubleSeconds(absl::Now() - t0);
    walked = report->segments_accepted;
    data_checked = report->segments_data_checked;
  }
  auto id = wb::OriginIdentity(absl::GetFlag(FLAGS_origin), false);
  wb::OpenOptions oo;
  oo.origin_identity = *id;
  oo.enable_writeback = false;
  absl::Time start = absl::Now();
  auto vol = wb::Volume::Open(OpenFile(absl::GetFlag(FLAGS_cache), 0),
                              OpenFile(absl::GetFlag(FLAGS_origin), 0), oo);
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  if (!vol.ok()) Die("reopen", vol.status());
  std::printf("{\"cache_gib\": %.3f, \"dirty_blocks\": %llu, \"replayed_blocks\": %llu, "
              "\"segments\": %llu, \"segments_data_checked\": %llu, \"walk_seconds\": %.4f, "
              "\"seconds\": %.4f, \"s_per_gib\": %.4f}\n",
              gib, static_cast<unsigned long long>(dirty_blocks),
              static_cast<unsigned long long>((*vol)->GetStatus().nr_dirty_cache_blocks),
              static_cast<unsigned long long>(walked), static_cast<unsigned long long>(data_checked),
              walk_secs, secs, secs / gib);
}

// The write sequence of the HDD runs: random 4 KiB blocks in the first
// --hdd_region_mib of a 1 GiB origin (a hot region, with some overwrites).
std::vector<uint64_t> HddSequence() {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> blocks(absl::GetFlag(FLAGS_hdd_writes));
  for (auto& b : blocks) b = rng() % (absl::GetFlag(FLAGS_hdd_region_mib) * 256);
  return blocks;
}

constexpr uint64_t kHddOrigin = 1ull << 30;

wb::HddModel HddModelFromFlags() {
  wb::HddModel m;
  const std::string r = absl::GetFlag(FLAGS_hdd_rotation);
  if (r == "random") {
    m.rotation_mode = wb::HddModel::Rotation::kRandom;
  } else if (r != "positional") {
    std::fprintf(stderr, "--hdd_rotation must be positional or random, not %s\n", r.c_str());
    std::exit(2);
  }
  return m;
}

// Writes the sequence straight to the modelled disk, in order, and flushes.
double DirectSeconds(const std::vector<uint64_t>& blocks) {
  wb::MemDevice disk(kHddOrigin);
  wb::HddModelDevice hdd(&disk, HddModelFromFlags());
  wb::AlignedBuffer block(4096);
  absl::Time t0 = absl::Now();
  const uint64_t every = absl::GetFlag(FLAGS_hdd_flush_every);
  for (size_t i = 0; i < blocks.size(); i++) {
    if (auto s = hdd.Write(blocks[i] * 4096, block.data(), 4096); !s.ok()) Die("hdd write", s);
    if (every != 0 && (i + 1) % every == 0) {
      if (auto s = hdd.Flush(); !s.ok()) Die("hdd flush", s);
    }
  }
  if (auto s = hdd.Flush(); !s.ok()) Die("hdd flush", s);
  return absl::ToDoubleSeconds(absl::Now() - t0);
}

// The core on a RAM cache of cache_mib in front of the modelled disk.
// Returns {seconds to write everything and Flush, seconds to drop_caches}.
std::pair<double, double> CoreSeconds(const std::vector<uint64_t>& blocks, uint64_t cache_mib) {
  wb::MemDevice cache(cache_mib << 20);
  wb::MemDevice disk(kHddOrigin);
  wb::HddModelDevice hdd(&disk, HddModelFromFlags());
  wb::FormatOptions fo;
  fo.origin_identity = "hdd";
  fo.tunables.writeback_threshold = 0;  // only when urgent or drained
  if (auto s = wb::FormatCache(cache, hdd, fo); !s.ok()) Die("format", s);
  wb::OpenOptions oo;
  oo.origin_identity = "hdd";
  oo.rambuf_size = 4 << 20;
  oo.io_timeout = absl::Minutes(10);
  auto vol = wb::Volume::Open(std::make_unique<wb::DeviceRef>(&cache),
                              std::make_unique<wb::DeviceRef>(&hdd), oo);
  if (!vol.ok()) Die("open", vol.status());
  std::string block(4096, 'h');
  absl::Time t0 = absl::Now();
  const uint64_t every = absl::GetFlag(FLAGS_hdd_flush_every);
  for (size_t i = 0; i < blocks.size(); i++) {
    if (auto s = (*vol)->Write(blocks[i] * 4096, block, false); !s.ok()) Die("write", s);
    if (every != 0 && (i + 1) % every == 0) {
      if (auto s = (*vol)->Flush(); !s.ok()) Die("flush", s);
    }
  }
  if (auto s = (*vol)->Flush(); !s.ok()) Die("flush", s);
  absl::Time t1 = absl::Now();
  if (auto s = (*vol)->DropCaches(nullptr); !s.ok()) Die("drop_caches", s);
  absl::Time t2 = absl::Now();
  if (auto s = (*vol)->Close(); !s.ok()) Die("close", s);
  return {absl::ToDoubleSeconds(t1 - t0), absl::ToDoubleSeconds(t2 - t1)};
}

void Hdd() {
  std::vector<uint64_t> blocks = HddSequence();
  const double mib = blocks.size() * 4096.0 / (1 << 20);
  double fifo = DirectSeconds(blocks);
  // A cache that holds everything: writeback alone is timed.
  auto [ingest, drain] = CoreSeconds(blocks, 256);
  // A cache far smaller than the data: clients run at writeback's pace.
  auto [saturated, rest] = CoreSeconds(blocks, 4);
  std::printf("{\"writes\": %zu, \"fifo_mib_per_s\": %.3f, \"sorted_mib_per_s\": %.3f, "
              "\"saturated_mib_per_s\": %.3f, \"origin_mib_per_s\": %.3f}\n",
              blocks.size(), mib / fifo, mib / drain, mib / (saturated + rest), mib / fifo);
}

// Two passes of the same random reads of a hot set on the HDD model, with
// read_cache_threshold at `threshold`; returns the second pass's seconds.
double HotReadSeconds(uint32_t threshold) {
  wb::MemDevice cache(64 << 20);
  wb::MemDevice disk(kHddOrigin);
  wb::HddModelDevice hdd(&disk, HddModelFromFlags());
  wb::FormatOptions fo;
  fo.origin_identity = "hdd";
  fo.tunables.read_cache_threshold = threshold;
  if (auto s = wb::FormatCache(cache, hdd, fo); !s.ok()) Die("format", s);
  wb::OpenOptions oo;
  oo.origin_identity = "hdd";
  auto vol = wb::Volume::Open(std::make_unique<wb::DeviceRef>(&cache),
                              std::make_unique<wb::DeviceRef>(&hdd), oo);
  if (!vol.ok()) Die("open", vol.status());
  std::mt19937_64 rng(11);
  std::vector<uint64_t> blocks(absl::GetFlag(FLAGS_hot_reads));
  for (auto& b : blocks) b = rng() % (absl::GetFlag(FLAGS_hot_set_mib) * 256);
  std::string out(4096, 0);
  double second = 0;
  for (int pass = 0; pass < 2; pass++) {
    absl::Time t0 = absl::Now();
    for (uint64_t b : blocks) {
      if (auto s = (*vol)->Read(b * 4096, absl::MakeSpan(out)); !s.ok()) Die("read", s);
    }
    second = absl::ToDoubleSeconds(absl::Now() - t0);
  }
  if (auto s = (*vol)->Close(); !s.ok()) Die("close", s);
  return second;
}

void ReadCache() {
  const double mib = absl::GetFlag(FLAGS_hot_reads) * 4096.0 / (1 << 20);
  double off = HotReadSeconds(0);
  double on = HotReadSeconds(8);
  std::printf("{\"reads\": %llu, \"cached_mib_per_s\": %.3f, \"uncached_mib_per_s\": %.3f}\n",
              static_cast<unsigned long long>(absl::GetFlag(FLAGS_hot_reads)), mib / on,
              mib / off);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "ingest") Ingest();
  else if (mode == "ack_latency") AckLatency();
  else if (mode == "fua") Fua();
  else if (mode == "restart") Restart();
  else if (mode == "hdd") Hdd();
  else if (mode == "read_cache") ReadCache();
  else {
    std::fprintf(stderr, "core_bench: unknown --mode=%s\n", mode.c_str());
    return 2;
  }
  return 0;
}
