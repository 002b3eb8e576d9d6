// The metrics collectors without a daemon: address checks, the I/O
// histogram's buckets, the volume collector on a real (file-backed) volume,
// process metrics and the HTTP endpoint.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "server/node/metrics_families.h"
#include "server/node/metrics_io.h"
#include "server/node/metrics_process.h"
#include "server/node/metrics_server.h"
#include "server/node/metrics_volumes.h"
#include "server/node/volume_registry.h"

namespace wb::node {
namespace {

using Families = std::vector<prometheus::MetricFamily>;

const prometheus::MetricFamily* FindFamily(const Families& fs, const std::string& name) {
  for (const auto& f : fs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// The sample of family `name` whose labels include all of `want`.
const prometheus::ClientMetric* FindMetric(const Families& fs, const std::string& name,
                                           const MetricLabels& want) {
  const prometheus::MetricFamily* f = FindFamily(fs, name);
  if (f == nullptr) return nullptr;
  for (const auto& m : f->metric) {
    bool all = true;
    for (const auto& [k, v] : want) {
      bool found = false;
      for (const auto& l : m.label) found |= l.name == k && l.value == v;
      all &= found;
    }
    if (all) return &m;
  }
  return nullptr;
}

TEST(MetricsListenTest, AcceptsHostPortAndNone) {
  for (const char* ok : {"", "none", "127.0.0.1:0", "127.0.0.1:7201", "localhost:65535",
                         "0.0.0.0:9100", "node-1.example.com:80"}) {
    EXPECT_TRUE(ValidateMetricsListen(ok).ok()) << ok;
  }
  EXPECT_TRUE(MetricsDisabled("none"));
  EXPECT_TRUE(MetricsDisabled(""));
  EXPECT_FALSE(MetricsDisabled("127.0.0.1:0"));
}

TEST(MetricsListenTest, RejectsWithTheReason) {
  struct Case {
    const char* listen;
    const char* why;
  };
  for (const Case& c : {Case{"127.0.0.1", "no port"}, Case{":7201", "no host"},
                        Case{"127.0.0.1:", "port is not a number"},
                        Case{"127.0.0.1:x", "port is not a number"},
                        Case{"127.0.0.1:-1", "port is not a number"},
                        Case{"127.0.0.1:65536", "port is not a number"},
                        Case{"[::1]:7201", "IPv6"}, Case{"a b:1", "not a host name"},
                        Case{"NONE", "no port"}}) {
    absl::Status s = ValidateMetricsListen(c.listen);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.listen;
    EXPECT_TRUE(absl::StrContains(s.message(), c.why)) << c.listen << ": " << s.message();
    EXPECT_TRUE(absl::StrContains(s.message(), "--metrics-listen")) << s.message();
  }
}

TEST(FamilySetTest, OneFamilyPerNameInFirstUseOrder) {
  constexpr MetricDef a = {"a_total", prometheus::MetricType::Counter, "A."};
  constexpr MetricDef b = {"b", prometheus::MetricType::Gauge, "B."};
  FamilySet set;
  set.Add(a, {{"volume", "x"}}, 1);
  set.Add(b, {{"volume", "x"}}, 2);
  set.Add(a, {{"volume", "y"}}, 3);
  Families fs = set.Take();
  ASSERT_EQ(fs.size(), 2u);
  EXPECT_EQ(fs[0].name, "a_total");
  ASSERT_EQ(fs[0].metric.size(), 2u);
  EXPECT_EQ(fs[0].metric[1].counter.value, 3);
  EXPECT_EQ(fs[1].metric[0].gauge.value, 2);
}

TEST(IoMetricsTest, BucketsAreLessOrEqualAndCumulative) {
  IoMetrics io([] { return std::vector<std::string>{"v"}; });
  // 1 us exactly belongs to the 1e-06 bucket ("le"); 1001 ns to the next.
  io.Record("v", IoOp::kWrite, 4096, 1000, true);
  io.Record("v", IoOp::kWrite, 4096, 1001, true);
  io.Record("v", IoOp::kWrite, 512, 20'000'000'000ull, true);  // 20 s: +Inf only
  io.Record("v", IoOp::kWrite, 4096, 3000, false);
  Families fs = io.Collect();
  const auto* h = FindMetric(fs, "writeboost_io_duration_seconds", {{"op", "write"}});
  ASSERT_NE(h, nullptr);
  auto bounds = IoMetrics::BucketBounds();
  ASSERT_EQ(h->histogram.bucket.size(), bounds.size() + 1);
  EXPECT_EQ(h->histogram.bucket[0].upper_bound, 1e-6);
  EXPECT_EQ(h->histogram.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(h->histogram.bucket[1].cumulative_count, 2u);
  EXPECT_EQ(h->histogram.bucket[2].cumulative_count, 3u);  // 3 us <= 5 us
  EXPECT_EQ(h->histogram.bucket[bounds.size() - 1].cumulative_count, 3u);
  EXPECT_TRUE(std::isinf(h->histogram.bucket.back().upper_bound));
  EXPECT_EQ(h->histogram.bucket.back().cumulative_count, 4u);
  EXPECT_EQ(h->histogram.sample_count, 4u);
  EXPECT_NEAR(h->histogram.sample_sum, 20.000005001, 1e-9);
  // Bytes of successful requests only; the failure counted apart.
  EXPECT_EQ(FindMetric(fs, "writeboost_io_bytes_total", {{"op", "write"}})->counter.value,
            4096 + 4096 + 512);
  EXPECT_EQ(FindMetric(fs, "writeboost_io_errors_total", {{"op", "write"}})->counter.value, 1);
  EXPECT_EQ(FindMetric(fs, "writeboost_io_errors_total", {{"op", "read"}})->counter.value, 0);
}

TEST(IoMetricsTest, SeriesFollowTheAttachedVolumes) {
  std::vector<std::string> attached = {"a", "b"};
  IoMetrics io([&] { return attached; });
  io.Record("a", IoOp::kFlush, 0, 5000, true);
  io.Record("gone", IoOp::kRead, 4096, 5000, true);
  Families fs = io.Collect();
  const auto* dur = FindFamily(fs, "writeboost_io_duration_seconds");
  ASSERT_NE(dur, nullptr);
  // Every op of every attached volume, zero before its first request.
  EXPECT_EQ(dur->metric.size(), 2u * kIoOpCount);
  for (const char* op : {"read", "write", "write_fua", "write_zeroes", "write_zeroes_fua",
                         "trim", "flush"}) {
    EXPECT_NE(FindMetric(fs, "writeboost_io_bytes_total", {{"volume", "b"}, {"op", op}}),
              nullptr) << op;
  }
  EXPECT_EQ(FindMetric(fs, "writeboost_io_duration_seconds", {{"volume", "a"}, {"op", "flush"}})
                ->histogram.sample_count, 1u);
  EXPECT_EQ(FindMetric(fs, "writeboost_io_bytes_total", {{"volume", "gone"}}), nullptr);
  // Detached: dropped; attached again: counting from zero.
  attached = {"b"};
  EXPECT_EQ(FindMetric(io.Collect(), "writeboost_io_bytes_total", {{"volume", "a"}}), nullptr);
  attached = {"a", "b"};
  fs = io.Collect();
  EXPECT_EQ(FindMetric(fs, "writeboost_io_duration_seconds", {{"volume", "a"}, {"op", "flush"}})
                ->histogram.sample_count, 0u);
}

TEST(IoMetricsTest, ConcurrentRecordsAreAllCountedWhileScraping) {
  IoMetrics io([] { return std::vector<std::string>{"v"}; });
  constexpr int kThreads = 6, kEach = 20000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done) io.Collect();
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; t++) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; i++) io.Record("v", IoOp::kWrite, 4096, 1000 + t + i, true);
    });
  }
  for (std::thread& w : writers) w.join();
  done = true;
  scraper.join();
  Families fs = io.Collect();
  EXPECT_EQ(FindMetric(fs, "writeboost_io_duration_seconds", {{"op", "write"}})
                ->histogram.sample_count, uint64_t{kThreads} * kEach);
  EXPECT_EQ(FindMetric(fs, "writeboost_io_bytes_total", {{"op", "write"}})->counter.value,
            double{kThreads} * kEach * 4096);
}

class VolumeMetricsTest : public ::testing::Test {
 protected:
  VolumeMetricsTest() {
    char tmpl[] = "/var/tmp/wbnode-metrics-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~VolumeMetricsTest() override {
    registry_.CloseAll().IgnoreError();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  VolumeConfig Config(const std::string& name) {
    VolumeConfig v;
    v.name = name;
    v.origin = dir_ + "/" + name + ".origin";
    v.cache = dir_ + "/" + name + ".cache";
    v.origin_size = 64 << 20;
    v.cache_size = 16 << 20;
    v.rambuf_size = 4 << 20;
    // Write back only when urgent, so that what the test wrote stays dirty.
    v.tunables["writeback_threshold"] = 0;
    return v;
  }

  std::string dir_;
  VolumeRegistry registry_{64 << 20};
};

TEST_F(VolumeMetricsTest, StatusOfAnOpenVolume) {
  VolumeMetrics metrics(&registry_);
  registry_.SetHealthCallback(
      [&](const std::string& name, bool serving) { metrics.OnVolumeHealth(name, serving); });
  ASSERT_TRUE(registry_.Attach(Config("v"), /*wait=*/true).ok());
  auto entry = registry_.Find("v");
  ASSERT_TRUE(entry.ok());
  {
    absl::StatusOr<IoRef> ref = (*entry)->BeginIo();
    ASSERT_TRUE(ref.ok());
    std::string data(3 * 4096, 'x');
    ASSERT_TRUE((*ref)->Write(0, absl::Span<const char>(data), /*fua=*/true).ok());
    std::string out(4096, 0);
    ASSERT_TRUE((*ref)->Read(0, absl::Span<char>(out.data(), out.size())).ok());
    ASSERT_TRUE((*ref)->Read(1 << 20, absl::Span<char>(out.data(), out.size())).ok());
  }
  Families fs = metrics.Collect();
  auto value = [&](const std::string& name, const MetricLabels& labels) {
    const prometheus::ClientMetric* m = FindMetric(fs, name, labels);
    EXPECT_NE(m, nullptr) << name;
    return m == nullptr ? -1 : m->counter.value + m->gauge.value;
  };
  EXPECT_EQ(value("writeboost_volume_info", {{"volume", "v"}, {"origin", dir_ + "/v.origin"}}), 1);
  EXPECT_EQ(value("writeboost_volume_state", {{"volume", "v"}, {"state", "serving"}}), 1);
  EXPECT_EQ(value("writeboost_volume_state", {{"volume", "v"}, {"state", "failed"}}), 0);
  EXPECT_EQ(value("writeboost_volume_size_bytes", {}), 64 << 20);
  EXPECT_EQ(value("writeboost_rambuf_size_bytes", {}), 4 << 20);
  EXPECT_GT(value("writeboost_volume_open_duration_seconds", {}), 0);
  // Three new blocks written (misses), one read back from the RAM buffer
  // or the cache (a hit), one never written (a miss).
  double writes = 0, read_hits = 0, read_misses = 0;
  for (const auto& m : FindFamily(fs, "writeboost_block_accesses_total")->metric) {
    auto label = [&](const char* k) {
      for (const auto& l : m.label) {
        if (l.name == k) return l.value;
      }
      return std::string();
    };
    if (label("op") == "write") writes += m.counter.value;
    if (label("op") == "read" && label("result") == "hit") read_hits += m.counter.value;
    if (label("op") == "read" && label("result") == "miss") read_misses += m.counter.value;
  }
  EXPECT_EQ(writes, 3);
  EXPECT_EQ(read_hits, 1);
  EXPECT_EQ(read_misses, 1);
  EXPECT_EQ(value("writeboost_dirty_blocks", {}), 3);
  EXPECT_EQ(value("writeboost_dirty_bytes", {}), 3 * 4096);
  EXPECT_GT(value("writeboost_dirty_ratio", {}), 0);
  EXPECT_LT(value("writeboost_dirty_ratio", {}), 1);
  EXPECT_GE(value("writeboost_segments_flushed_total", {}), 1);  // the FUA write
  EXPECT_GE(value("writeboost_group_commits_total", {}), 1);
  EXPECT_GT(value("writeboost_cache_capacity_bytes", {}), 0);
  EXPECT_GT(value("writeboost_cache_free_segments", {}), 0);
  EXPECT_LE(value("writeboost_cache_free_segments", {}), value("writeboost_cache_segments", {}));
  EXPECT_EQ(value("writeboost_device_errors_total", {{"device", "origin"}, {"kind", "io"}}), 0);
  EXPECT_EQ(value("writeboost_device_errors_total", {{"device", "cache"}, {"kind", "checksum"}}), 0);
  EXPECT_EQ(value("writeboost_writers_waiting", {}), 0);
  EXPECT_GE(value("writeboost_oldest_dirty_age_seconds", {}), 0);
  for (const auto& f : fs) {
    EXPECT_TRUE(absl::StartsWith(f.name, "writeboost_")) << f.name;
    if (f.type == prometheus::MetricType::Counter) {
      EXPECT_TRUE(absl::EndsWith(f.name, "_total")) << f.name;
    }
  }
}

TEST_F(VolumeMetricsTest, AVolumeThatFailedToOpenHasStateButNoStatus) {
  VolumeMetrics metrics(&registry_);
  VolumeConfig bad = Config("bad");
  bad.origin_size = 0;  // missing origin, not created
  ASSERT_TRUE(registry_.Attach(bad, /*wait=*/false).ok());  // opens on its own thread
  registry_.WaitOpened();
  Families fs = metrics.Collect();
  const auto* failed = FindMetric(fs, "writeboost_volume_state", {{"state", "failed"}});
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->gauge.value, 1);
  EXPECT_EQ(FindFamily(fs, "writeboost_dirty_blocks"), nullptr);
  EXPECT_EQ(FindFamily(fs, "writeboost_volume_open_duration_seconds"), nullptr);
}

TEST(ProcessMetricsTest, ReadsProc) {
  // CPU time is counted in clock ticks (10 ms): use a few first.
  while (std::clock() < CLOCKS_PER_SEC / 20) {
  }
  Families fs = ProcessMetrics("9.9.9").Collect();
  const auto* info = FindMetric(fs, "writeboost_build_info", {{"version", "9.9.9"}});
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->gauge.value, 1);
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds",
                           "process_max_fds", "writeboost_threads"}) {
    const auto* m = FindMetric(fs, name, {});
    ASSERT_NE(m, nullptr) << name;
    EXPECT_GT(m->counter.value + m->gauge.value, 0) << name;
  }
  // Started within the last hour (this test binary), not in the future.
  double start = FindMetric(fs, "process_start_time_seconds", {})->gauge.value;
  double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);
}

// GET http://127.0.0.1:port/metrics with a plain socket; returns the reply.
std::string HttpGet(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
  close(fd);
  return out;
}

TEST(MetricsServerTest, ServesOnAFreePortAndRefusesATakenOne) {
  VolumeRegistry registry(64 << 20);
  auto server = MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  std::string address = (*server)->address();
  ASSERT_TRUE(absl::StartsWith(address, "127.0.0.1:")) << address;
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(address.substr(10), &port)) << address;
  EXPECT_GT(port, 0);
  (*server)->io()->Record("v", IoOp::kRead, 4096, 1000, true);  // no volume: dropped
  std::string reply = HttpGet(port);
  EXPECT_TRUE(absl::StrContains(reply, "200 OK")) << reply;
  EXPECT_TRUE(absl::StrContains(reply, "writeboost_build_info{")) << reply;
  EXPECT_TRUE(absl::StrContains(reply, "process_cpu_seconds_total ")) << reply;
  EXPECT_FALSE(absl::StrContains(reply, "writeboost_io_bytes_total")) << reply;

  auto again = MetricsServer::Start(address, &registry);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(again.status().message(), address)) << again.status();
  registry.CloseAll().IgnoreError();
}

}  // namespace
}  // namespace wb::node
