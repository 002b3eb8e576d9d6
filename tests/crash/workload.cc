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
  // Shared: a hot set of blocks at either end of the volume (the last
  // one may be a partial block), or anywhere; reads mostly whole blocks, so
  // that read caching stages them.
  const uint64_t all_blocks = (sectors + 7) / 8;
  auto pick_shared = [&](bool read) -> Range {
    uint64_t base = 0, nblocks = all_blocks;
    if (pct(config_.hot)) {
      nblocks = std::min<uint64_t>(all_blocks, config_.hot_blocks);
      base = pct(50) ? 0 : all_blocks - nblocks;
    }
    Range r;
    if (!read && pct(config_.small)) {
      uint64_t first = uniform(0, 7);
      r = {(base + uniform(0, nblocks - 1)) * 8 + first, uniform(1, 8 - first)};
    } else {
      uint64_t block = base + uniform(0, nblocks - 1);
      uint64_t n = std::min<uint64_t>(uniform(1, 8), base + nblocks - block);
      uint64_t skew = pct(read ? 5 : config_.skew) ? uniform(1, 7) : 0;
      r = {block * 8 + skew, n * 8 - skew};
    }
    r.first = std::min(r.first, sectors - 1);
    r.count = std::max<uint64_t>(1, std::min(r.count, sectors - r.first));
    return r;
  };
  auto pick_range = [&](bool read) -> Range {
    if (config_.shared) return pick_shared(read);
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
      if (!s.ok()) return absl::StrFormat("Flush failed: %s\n", s.ToString());
    } else if ((roll -= config_.read) < 0) {
      Range r = pick_range(true);
      buf.resize(r.count * 512);
      const uint64_t begin = model_->Now();
      absl::Status s = volume_->Read(r.first * 512, absl::MakeSpan(buf));
      const uint64_t end = model_->Now();
      if (!s.ok()) return absl::StrFormat("Read failed: %s\n", s.ToString());
      reads_++;
      bool overlapped = false;
      for (uint64_t i = 0; i < r.count; i++) {
        ValueId v = DecodeSector(r.first + i, buf.data() + i * 512);
        std::vector<ValueId> ok = model_->Readable(r.first + i, begin, end);
        overlapped |= ok.size() > 1 && std::find(ok.begin(), ok.end(), kZero) == ok.end();
        if (std::find(ok.begin(), ok.end(), v) == ok.end()) {
          const bool mixed =
              v == kGarbage && IsMixOf(r.first + i, buf.data() + i * 512, ok);
          return absl::StrFormat(
              "a read of sector %u (issued at event %u, returned at %u) "
              "returned %s; allowed: %s\n%s",
              r.first + i, begin, end,
              mixed ? "a word-by-word mix of allowed values" : ValueName(v),
              ValueNames(ok), model_->Explain(r.first + i, begin, end));
        }
      }
      if (overlapped) overlapped_reads_++;
    } else {
      OpKind kind = OpKind::kWrite;
      if ((roll -= config_.zeroes) < 0) {
        kind = OpKind::kZeroes;
      } else if ((roll -= config_.trim) < 0) {
        kind = OpKind::kTrim;
      }
      bool fua = kind != OpKind::kTrim && pct(config_.fua);
      Range r = pick_range(false);
      if (kind != OpKind::kWrite && (config_.shared || nthreads == 1) &&
          pct(config_.span)) {
        r.first = pct(50) ? 8 * uniform(0, all_blocks / 2) : uniform(0, sectors / 2);
        r.count = sectors - r.first;
      }
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
      if (!s.ok()) return absl::StrFormat("op failed: %s\n", s.ToString());
    }
    after_op();
  }
  return "";
}

}  // namespace wb::crash
