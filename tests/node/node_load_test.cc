// Load: many concurrent Io streams (plus one client that never reads its
// replies) for a bounded time. The daemon's peak RSS must stay under
// rambuf_size + 256 MiB, no I/O may fail, and no stream may starve.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "client/lib/channel.h"
#include "tests/node/node_fixture.h"
#include "writeboost/v1/block.grpc.pb.h"

namespace wbtest {
namespace {

constexpr int kStreams = 16;
constexpr int kDepth = 32;
constexpr uint64_t kRambuf = 64ull << 20;
constexpr uint64_t kVolume = 1ull << 30;

struct StreamResult {
  uint64_t ops = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
  std::string first_error;
};

void RunStream(const std::string& endpoint, int index, absl::Time deadline, StreamResult* out) {
  auto vol = wbclient::Volume::Open(endpoint, "v");
  if (!vol.ok()) {
    out->errors++;
    out->first_error = vol.status().ToString();
    return;
  }
  auto stream = (*vol)->OpenStream(kDepth);
  if (!stream.ok()) return;
  std::mt19937_64 rng(index);
  const uint64_t region = kVolume / kStreams;
  const uint64_t base = region * index;
  absl::Mutex mu;
  std::atomic<uint64_t> done_ops{0}, done_bytes{0}, errors{0};
  std::string first_error;
  uint64_t n = 0;
  while (absl::Now() < deadline) {
    uint64_t len = 4096 * (1 + rng() % 16);
    uint64_t off = base + (rng() % ((region - len) / 4096)) * 4096;
    auto buf = std::make_shared<std::string>(len, '\0');
    auto done = [&, buf, len](absl::Status s) {
      if (s.ok()) {
        done_ops++;
        done_bytes += len;
      } else {
        errors++;
        absl::MutexLock l(&mu);
        if (first_error.empty()) first_error = s.ToString();
      }
    };
    int kind = rng() % 100;
    if (++n % 512 == 0) {
      (*stream)->Flush([&, done](absl::Status s) { done(s); });
    } else if (kind < 70) {
      FillPattern(buf->data(), len, off, n);
      (*stream)->Write(off, *buf, /*fua=*/n % 997 == 0, done);
    } else {
      (*stream)->Read(off, absl::MakeSpan(*buf), done);
    }
  }
  absl::Status closed = (*stream)->Close();
  out->ops = done_ops;
  out->bytes = done_bytes;
  out->errors = errors + !closed.ok();
  out->first_error = !first_error.empty() ? first_error : closed.ToString();
}

// Sends batches of 16 x 64 KiB writes (or reads) as fast as flow control
// lets it and never reads a reply: the server must push back, not buffer
// (the replies of the reader are 1 MiB a batch).
void RunSlowClient(const std::string& endpoint, writeboost::v1::IoOp op,
                   grpc::ClientContext* ctx, std::atomic<bool>* stop,
                   std::atomic<uint64_t>* sent) {
  auto channel = wbclient::MakeChannel(endpoint, {});
  auto stub = writeboost::v1::BlockService::NewStub(*channel);
  auto rw = stub->Io(ctx);
  writeboost::v1::IoRequestBatch batch;
  batch.set_volume("v");
  for (int i = 0; i < 16; i++) {
    auto* r = batch.add_requests();
    r->set_op(op);
    r->set_offset(uint64_t(i) * 65536);
    if (op == writeboost::v1::IO_OP_WRITE) {
      r->set_data(std::string(65536, 's'));
    } else {
      r->set_length(65536);
    }
  }
  for (uint64_t id = 0; !*stop; id++) {
    for (auto& r : *batch.mutable_requests()) r.set_id(id);
    if (!rw->Write(batch)) break;
    (*sent)++;
  }
}

TEST(NodeLoadTest, ManyStreamsBoundedMemoryNoStarvation) {
  TempDir dir;
  Daemon daemon(dir);
  std::string endpoint = absl::StrCat("127.0.0.1:", FreePort());
  std::vector<std::string> args = {"--listen", endpoint, "--rambuf-size", "64M", "--volume",
                                   VolumeFlag(dir, "v", "1G", "256M")};
  if (const char* extra = getenv("WB_LOAD_DAEMON_ARGS")) {
    for (absl::string_view a : absl::StrSplit(extra, ' ', absl::SkipEmpty())) {
      args.emplace_back(a);
    }
  }
  daemon.Start(args);
  ASSERT_TRUE(daemon.WaitServing(endpoint, "v").ok()) << daemon.Log();
  const uint64_t idle_rss = daemon.RssKiB();

  const absl::Duration kDuration = absl::Seconds(10);
  absl::Time start = absl::Now();
  absl::Time deadline = start + kDuration;
  std::vector<StreamResult> results(kStreams);
  std::vector<std::thread> threads;
  grpc::ClientContext slow_ctx, slow_reader_ctx;
  std::atomic<bool> slow_stop{false};
  std::atomic<uint64_t> slow_sent{0}, slow_reads_sent{0};
  std::thread slow, slow_reader;
  if (getenv("WB_LOAD_NO_SLOW") == nullptr) {
    slow = std::thread(RunSlowClient, endpoint, writeboost::v1::IO_OP_WRITE, &slow_ctx,
                       &slow_stop, &slow_sent);
    slow_reader = std::thread(RunSlowClient, endpoint, writeboost::v1::IO_OP_READ,
                              &slow_reader_ctx, &slow_stop, &slow_reads_sent);
  }
  for (int i = 0; i < kStreams; i++) {
    threads.emplace_back(RunStream, endpoint, i, deadline, &results[i]);
  }
  uint64_t max_rss = 0;
  while (absl::Now() < deadline) {
    max_rss = std::max(max_rss, daemon.RssKiB());
    absl::SleepFor(absl::Milliseconds(100));
  }
  for (std::thread& t : threads) t.join();
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  const uint64_t peak = daemon.PeakRssKiB();
  slow_stop = true;
  slow_ctx.TryCancel();
  slow_reader_ctx.TryCancel();
  if (slow.joinable()) slow.join();
  if (slow_reader.joinable()) slow_reader.join();

  uint64_t ops = 0, bytes = 0, errors = 0, min_ops = UINT64_MAX;
  std::string first_error;
  for (const StreamResult& r : results) {
    ops += r.ops;
    bytes += r.bytes;
    errors += r.errors;
    min_ops = std::min(min_ops, r.ops);
    if (r.errors && first_error.empty()) first_error = r.first_error;
  }
  absl::PrintF(
      "load: %d streams x depth %d for %.1f s: %u I/Os (%.0f/s), %.1f MiB/s; "
      "slowest stream %u I/Os; flooding writer sent %u batches, non-reading reader %u\n"
      "load: daemon RSS idle %u MiB, max sampled %u MiB, peak (VmHWM) %u MiB, "
      "bound %u MiB\n",
      kStreams, kDepth, secs, ops, ops / secs, bytes / secs / (1 << 20), min_ops,
      slow_sent.load(), slow_reads_sent.load(), idle_rss >> 10, max_rss >> 10, peak >> 10,
      (kRambuf + (256ull << 20)) >> 20);
  ::testing::Test::RecordProperty("peak_rss_mib", static_cast<int>(peak >> 10));
  ::testing::Test::RecordProperty("iops", static_cast<int>(ops / secs));
  EXPECT_EQ(errors, 0u) << first_error;
#ifndef __SANITIZE_ADDRESS__
  // Under ASan the daemon's RSS is the sanitizer's (quarantine, shadow).
  EXPECT_LT(peak * 1024, kRambuf + (256ull << 20));
#endif
  EXPECT_GT(min_ops, ops / kStreams / 10) << "a stream starved";

  // Still healthy and answering after the load.
  auto v = wbclient::Volume::Open(endpoint, "v");
  ASSERT_TRUE(v.ok());
  // Away from the slow client's blocks: the server may still be applying
  // what it read from that stream before the cancel.
  EXPECT_TRUE(WritePattern(**v, 512 << 20, 4096, 1, true).ok());
  EXPECT_TRUE(HasPattern(**v, 512 << 20, 4096, 1));
  EXPECT_EQ(daemon.Term(), 0);
}

}  // namespace
}  // namespace wbtest
