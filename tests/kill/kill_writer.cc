// kill_writer: opens (or formats) a volume on two files and writes the
// deterministic stream of kill_workload.h until it is killed. It prints one
// line per durability acknowledgement, after the call returned:
//   ready               the volume is open (recovery is done)
//   fua <seq>           FUA write <seq> was acknowledged
//   flushed <seq>       a Flush issued after write <seq> returned succeeded
// stdout is line-buffered, so a line is in the pipe before the next write.
#include <cstdio>
#include <random>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "server/core/device/file_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/volume.h"
#include "tests/crash/value_model.h"
#include "tests/kill/kill_workload.h"

ABSL_FLAG(std::string, dir, "", "directory holding cache.img and origin.img");
ABSL_FLAG(uint64_t, cycle, 1, "cycle number: sequence numbers start there");
ABSL_FLAG(bool, format, false, "format the cache first");
ABSL_FLAG(uint64_t, seed, 1, "seeds the flush cadence");

namespace wb::kill {
namespace {

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "kill_writer: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 2;
}

int Main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  auto cache = FileDevice::Open(dir + "/" + kCacheFile);
  if (!cache.ok()) return Fail("opening the cache", cache.status());
  auto origin = FileDevice::Open(dir + "/" + kOriginFile);
  if (!origin.ok()) return Fail("opening the origin", origin.status());
  auto identity = OriginIdentity(dir + "/" + kOriginFile, true);
  if (!identity.ok()) return Fail("origin identity", identity.status());
  if (absl::GetFlag(FLAGS_format)) {
    FormatOptions fo;
    fo.segment_size = kSegmentBytes;
    fo.origin_identity = *identity;
    fo.tunables.nr_max_batched_writeback = 4;  // writeback runs often
    if (absl::Status s = FormatCache(**cache, **origin, fo); !s.ok()) {
      return Fail("format", s);
    }
  }
  OpenOptions oo;
  oo.origin_identity = *identity;
  oo.rambuf_size = 1 << 20;
  auto volume = Volume::Open(std::move(*cache), std::move(*origin), oo);
  if (!volume.ok()) return Fail("open", volume.status());
  std::printf("ready\n");

  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  const uint64_t base = absl::GetFlag(FLAGS_cycle) * kCycleSpan;
  std::string buf;
  uint64_t next_flush = 1 + rng() % 40;
  for (uint64_t i = 1; i < kCycleSpan; i++) {
    const uint64_t seq = base + i;
    const KillWrite w = WriteOf(seq);
    buf.resize(w.count * 512);
    for (uint64_t s = 0; s < w.count; s++) {
      crash::FillSector(w.first + s, seq, buf.data() + s * 512);
    }
    if (absl::Status s = (*volume)->Write(w.first * 512, buf, w.fua); !s.ok()) {
      return Fail("write", s);
    }
    if (w.fua) std::printf("fua %lu\n", seq);
    if (i == next_flush) {
      if (absl::Status s = (*volume)->Flush(); !s.ok()) return Fail("flush", s);
      std::printf("flushed %lu\n", seq);
      next_flush = i + 1 + rng() % 40;
    }
  }
  return 0;
}

}  // namespace
}  // namespace wb::kill

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return wb::kill::Main();
}
