// ingest_bench: the core's random 4 KiB write throughput into a real cache
// file (O_DIRECT, io_uring), timed to the completion of a final Flush, with
// unique blocks totalling 10x the RAM buffers (nothing absorbed in RAM).
// bench/run.sh compares it with fio's sequential write of the same file.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "server/core/device/file_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/volume.h"

ABSL_FLAG(std::string, cache, "", "cache file (created)");
ABSL_FLAG(std::string, origin, "", "origin file (created sparse)");
ABSL_FLAG(uint64_t, cache_mib, 2048, "cache size in MiB");
ABSL_FLAG(uint64_t, rambuf_mib, 64, "RAM buffer size in MiB");
ABSL_FLAG(uint64_t, multiple, 10, "bytes written as a multiple of rambuf");

namespace {

std::unique_ptr<wb::Device> OpenFile(const std::string& path, uint64_t size) {
  wb::FileDeviceOptions o;
  o.create = true;
  o.create_size = size;
  auto dev = wb::FileDevice::Open(path, o);
  if (!dev.ok()) {
    std::fprintf(stderr, "ingest_bench: %s\n", dev.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*dev);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string cache_path = absl::GetFlag(FLAGS_cache);
  const std::string origin_path = absl::GetFlag(FLAGS_origin);
  const uint64_t cache_size = absl::GetFlag(FLAGS_cache_mib) << 20;
  const uint64_t rambuf = absl::GetFlag(FLAGS_rambuf_mib) << 20;
  const uint64_t total = rambuf * absl::GetFlag(FLAGS_multiple);
  const uint64_t origin_size = total * 4;
  auto identity = wb::OriginIdentity(origin_path, true);
  {
    auto cache = OpenFile(cache_path, cache_size);
    auto origin = OpenFile(origin_path, origin_size);
    identity = wb::OriginIdentity(origin_path, true);
    wb::FormatOptions fo;
    fo.origin_identity = *identity;
    if (auto s = wb::FormatCache(*cache, *origin, fo); !s.ok()) {
      std::fprintf(stderr, "ingest_bench: format: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  wb::OpenOptions oo;
  oo.origin_identity = *identity;
  oo.rambuf_size = rambuf;
  oo.enable_writeback = false;  // measure the log alone
  auto vol = wb::Volume::Open(OpenFile(cache_path, 0), OpenFile(origin_path, 0), oo);
  if (!vol.ok()) {
    std::fprintf(stderr, "ingest_bench: open: %s\n", vol.status().ToString().c_str());
    return 1;
  }
  std::string block(4096, 'w');
  const uint64_t blocks = total / 4096;
  const uint64_t origin_blocks = origin_size / 4096;
  absl::Time start = absl::Now();
  for (uint64_t i = 0; i < blocks; i++) {
    // A permutation of origin blocks: unique, scattered.
    uint64_t ob = (i * 2654435761ull) % origin_blocks;
    block[0] = static_cast<char>(i);
    if (auto s = (*vol)->Write(ob * 4096, block, false); !s.ok()) {
      std::fprintf(stderr, "ingest_bench: write: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  if (auto s = (*vol)->Flush(); !s.ok()) return 1;
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("{\"bytes\": %llu, \"seconds\": %.3f, \"mib_per_s\": %.1f, \"iops\": %.0f}\n",
              static_cast<unsigned long long>(total), secs,
              total / secs / (1 << 20), blocks / secs);
  return (*vol)->Close().ok() ? 0 : 1;
}
