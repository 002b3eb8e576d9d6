// grpc_bench: 4 KiB random-write IOPS from libwbclient to a running
// writeboostd, for bench/run.py to set beside fio over NBD at the same depth.
// Prints one JSON object.
//
//   --mode=stream  one IoStream (volume.h OpenStream), --qd writes in
//                  flight, up to --max_batch of them per message
//                  (options.h defaults: the library's ordinary path)
//   --mode=unary   --qd threads, each calling Volume::Write (one RPC per
//                  write) on the same Volume
//
// Offsets are uniform over the volume (4 KiB aligned); the data is one fixed
// random block. The run ends with a Flush, outside the timed window.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/lib/io_stream.h"
#include "client/lib/options.h"
#include "client/lib/volume.h"

ABSL_FLAG(std::string, server, wbclient::kDefaultEndpoint, "writeboostd: HOST:PORT or unix:PATH");
ABSL_FLAG(std::string, volume, "default", "volume name");
ABSL_FLAG(std::string, mode, "stream", "stream | unary");
ABSL_FLAG(int, qd, 32, "writes in flight (stream) or writer threads (unary)");
ABSL_FLAG(int, max_batch, wbclient::Options{}.max_batch, "stream: writes per message at most");
ABSL_FLAG(double, seconds, 10, "timed run length");
ABSL_FLAG(double, warmup, 1, "untimed writes first, this many seconds");

namespace {

constexpr uint64_t kBlock = 4096;

[[noreturn]] void Die(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "grpc_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

// Counts completions and keeps the first error.
struct Tally {
  std::atomic<uint64_t> done{0};
  absl::Mutex mu;
  absl::Status first_error ABSL_GUARDED_BY(mu);

  void Record(const absl::Status& s) {
    if (!s.ok()) {
      absl::MutexLock l(&mu);
      if (first_error.ok()) first_error = s;
    }
    done.fetch_add(1, std::memory_order_relaxed);
  }
  absl::Status Error() {
    absl::MutexLock l(&mu);
    return first_error;
  }
};

// Submits writes until `until`; the stream blocks at its queue depth.
void StreamWrites(wbclient::IoStream& stream, uint64_t blocks, const std::string& data,
                  absl::Time until, Tally& tally) {
  std::mt19937_64 rng(1);
  while (absl::Now() < until) {
    for (int i = 0; i < 64; i++) {
      const uint64_t offset = (rng() % blocks) * kBlock;
      stream.Write(offset, data, false, [&tally](absl::Status s) { tally.Record(s); });
    }
  }
}

void UnaryWrites(wbclient::Volume& vol, uint64_t blocks, const std::string& data,
                 absl::Time until, int seed, Tally& tally) {
  std::mt19937_64 rng(seed);
  while (absl::Now() < until) {
    tally.Record(vol.Write((rng() % blocks) * kBlock, data));
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const int qd = absl::GetFlag(FLAGS_qd);
  if (mode != "stream" && mode != "unary") {
    std::fprintf(stderr, "grpc_bench: --mode must be stream or unary, not \"%s\"\n", mode.c_str());
    return 2;
  }
  if (qd < 1 || absl::GetFlag(FLAGS_max_batch) < 1) {
    std::fprintf(stderr, "grpc_bench: --qd and --max_batch must be at least 1\n");
    return 2;
  }
  wbclient::Options options;
  options.queue_depth = qd;
  options.max_batch = absl::GetFlag(FLAGS_max_batch);
  auto vol = wbclient::Volume::Open(absl::GetFlag(FLAGS_server), absl::GetFlag(FLAGS_volume),
                                    options);
  if (!vol.ok()) Die("open", vol.status());
  const uint64_t blocks = (*vol)->size() / kBlock;
  if (blocks == 0) Die("open", absl::InvalidArgumentError("volume smaller than 4 KiB"));

  std::string data(kBlock, '\0');
  std::mt19937_64 fill(7);
  for (char& c : data) c = static_cast<char>(fill());

  std::unique_ptr<wbclient::IoStream> stream;
  if (mode == "stream") {
    auto s = (*vol)->OpenStream(qd);
    if (!s.ok()) Die("open stream", s.status());
    stream = std::move(*s);
  }
  // Runs the writers for `seconds`; returns the completions and the time
  // taken until the last of them.
  auto phase = [&](double seconds, Tally& tally) {
    const absl::Time start = absl::Now();
    const absl::Time until = start + absl::Seconds(seconds);
    if (stream) {
      StreamWrites(*stream, blocks, data, until, tally);
      stream->Drain();
    } else {
      std::vector<std::thread> threads;
      for (int i = 0; i < qd; i++) {
        threads.emplace_back(UnaryWrites, std::ref(**vol), blocks, std::cref(data), until,
                             i + 1, std::ref(tally));
      }
      for (auto& t : threads) t.join();
    }
    return absl::ToDoubleSeconds(absl::Now() - start);
  };

  Tally warm;
  phase(absl::GetFlag(FLAGS_warmup), warm);
  if (!warm.Error().ok()) Die("write", warm.Error());
  Tally tally;
  const double secs = phase(absl::GetFlag(FLAGS_seconds), tally);
  if (!tally.Error().ok()) Die("write", tally.Error());
  if (stream) {
    absl::Status s = stream->Close();
    if (!s.ok()) Die("close stream", s);
  }
  absl::Status s = (*vol)->Flush();
  if (!s.ok()) Die("flush", s);

  const uint64_t writes = tally.done.load();
  std::printf("%s\n", absl::StrFormat(R"({"mode": "%s", "qd": %d, "max_batch": %d, )"
                                      R"("writes": %d, "seconds": %.3f, "iops": %.1f})",
                                      mode, qd, stream ? options.max_batch : 1, writes, secs,
                                      writes / secs)
                          .c_str());
  return 0;
}
