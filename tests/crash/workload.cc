#include "tests/crash/workload.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace wb::crash {
namespace {

constexpr uint64_t kChunkSectors = 128;  // 64 KiB: the unit threads own

struct Range {
  uint64_t first;  // sector
  uint64_t count;
};

}  // namespace

Workload::Workload(Volume* volume, Model* model, const WorkloadConfig& config,
                   uint64_t seed)
    : volume_(volume), model_(model), config_(config), seed_(seed) {}

std::string Workload::Run(const std::function<bool()>& stop,
                          const std::function<void()>& after_op) {
  std::vector<std::string> results(config_.threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < config_.threads; t++) {
    threads.emplace_back([&, t] { results[t] = Thread(t, stop, after_op); });
  }
  for (auto& th : threads) th.join();
  for (const std::string& r : results) {
    if (!r.empty()) return r;
  }
  return "";
}

std::string Workload::Thread(int t, const std::function<bool()>& stop,
                             const std::function<void()>& after_op) {
  std::mt19937_64 rng(seed_ * 7919 + t);
  auto pct = [&](int p) { return static_cast<int>(rng() % 100) < p; };
  auto uniform = [&](uint64_t lo, uint64_t hi) {  // [lo, hi]
    return lo + rng() % (hi - lo + 1);
  };
  const uint64_t sectors = model_->sectors();
  const int nthreads = config_.threads;
  // This thread's chunks: t, t + T, t + 2T, ...
  const uint64_t chunks = (sectors / kChunkSectors - t + nthreads - 1) / nthreads;
  auto pick_range = [&]() -> Range {
    if (nthreads == 1 && pct(config_.large)) {
      uint64_t n = uniform(128, std::min<uint64_t>(512, sectors));
      return {uniform(0, sectors - n), n};
    }
    uint64_t k = pct(config_.hot) ? uniform(0, std::max<uint64_t>(1, chunks / 4) - 1)
                                  : uniform(0, chunks - 1);
    uint64_t chunk_start = (t + k * nthreads) * kChunkSectors;
    if (pct(config_.small)) {  // inside one block, any sector alignment
      uint64_t block = chunk_start + 8 * uniform(0, kChunkSectors / 8 - 1);
      uint64_t first = uniform(0, 7);
      return {block + first, uniform(1, 8 - first)};
    }
    uint64_t blocks = uniform(1, 16);
    uint64_t first = uniform(0, kChunkSectors / 8 - 1);
    blocks = std::min(blocks, kChunkSectors / 8 - first);
    // Some writes start mid-block so they straddle block boundaries.
    uint64_t skew = pct(20) ? uniform(1, 7) : 0;
    return {chunk_start + first * 8 + skew, blocks * 8 - skew};
  };

  std::string buf;
  std::atomic_ref<uint64_t> ops(ops_done_);
  while (!stop() && ops.fetch_add(1) < config_.max_ops) {
    int roll = static_cast<int>(rng() % 100);
    if ((roll -= config_.flush) < 0) {
      uint64_t f = model_->BeginFlush();
      absl::Status s = volume_->Flush();
      model_->EndFlush(f, s.ok());
      if (!s.ok()) return absl::StrFormat("Flush failed: %s", s.ToString());
    } else if ((roll -= config_.read) < 0) {
      Range r = pick_range();
      buf.resize(r.count * 512);
      absl::Status s = volume_->Read(r.first * 512, absl::MakeSpan(buf));
      if (!s.ok()) return absl::StrFormat("Read failed: %s", s.ToString());
      for (uint64_t i = 0; i < r.count; i++) {
        ValueId v = DecodeSector(r.first + i, buf.data() + i * 512);
        std::vector<ValueId> ok = model_->Visible(r.first + i);
        if (std::find(ok.begin(), ok.end(), v) == ok.end()) {
          return absl::StrFormat(
              "read-your-writes: sector %u read %s, but the newest "
              "acknowledged value is %s\n%s",
              r.first + i, ValueName(v), ValueName(ok.front()),
              model_->Explain(r.first + i, 0, ~0ull));
        }
      }
    } else {
      OpKind kind = OpKind::kWrite;
      if ((roll -= config_.zeroes) < 0) {
        kind = OpKind::kZeroes;
      } else if ((roll -= config_.trim) < 0) {
        kind = OpKind::kTrim;
      }
      bool fua = kind != OpKind::kTrim && pct(config_.fua);
      Range r = pick_range();
      uint64_t op = model_->BeginOp(kind, r.first, r.count, fua);
      absl::Status s;
      if (kind == OpKind::kWrite) {
        buf.resize(r.count * 512);
        ValueId id = model_->IdOf(op);
        for (uint64_t i = 0; i < r.count; i++) {
          FillSector(r.first + i, id, buf.data() + i * 512);
        }
        s = volume_->Write(r.first * 512, buf, fua);
      } else if (kind == OpKind::kZeroes) {
        s = volume_->WriteZeroes(r.first * 512, r.count * 512, fua);
      } else {
        s = volume_->Trim(r.first * 512, r.count * 512);
      }
      model_->EndOp(op, s.ok());
      if (!s.ok()) return absl::StrFormat("op failed: %s", s.ToString());
    }
    after_op();
  }
  return "";
}

}  // namespace wb::crash
