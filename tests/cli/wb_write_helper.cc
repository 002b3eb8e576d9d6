// Test helper for the CLI tests: puts dirty data into a cache without a
// server, and computes what the origin must hold once that data is written
// back. Both modes replay the same deterministic list of writes.
//
//   wb_write_helper write  CACHE ORIGIN SEED NWRITES
//     Opens the volume with the core API (writeback off), performs the
//     writes (every 16th and the last with FUA) and closes: the data stays
//     dirty in the cache and the origin is untouched.
//   wb_write_helper expect ORIGIN_IMAGE OUT SEED NWRITES
//     Reads ORIGIN_IMAGE (a plain copy of the origin before the writes),
//     applies the same writes in memory and writes the result to OUT.
//
// Exit status 0 on success, 1 with a message on stderr otherwise.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "server/core/device/file_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/volume.h"

namespace {

struct WriteOp {
  uint64_t offset;  // bytes, a multiple of 512
  std::string data;
  bool fua;
};

// splitmix64: a tiny generator whose sequence is the same everywhere.
uint64_t Next(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Writes of 1 to 64 sectors at sector offsets, overlapping one another; a
// quarter of them land in the first 256 KiB so that blocks are rewritten.
std::vector<WriteOp> Plan(uint64_t origin_size, uint64_t seed, int n) {
  std::vector<WriteOp> ops;
  uint64_t state = seed;
  const uint64_t sectors = origin_size / 512;
  for (int i = 0; i < n; i++) {
    uint64_t len = 1 + Next(&state) % 64;
    if (len > sectors) len = sectors;
    uint64_t span = (Next(&state) % 4 == 0 && sectors > 512) ? 512 : sectors;
    uint64_t start = Next(&state) % (span - len + 1);
    WriteOp op{start * 512, std::string(len * 512, '\0'),
               i % 16 == 15 || i == n - 1};
    for (size_t b = 0; b < op.data.size(); b += 8) {
      uint64_t v = Next(&state);
      for (int k = 0; k < 8; k++)
        op.data[b + k] = static_cast<char>(v >> (8 * k));
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

int Die(const std::string& what) {
  std::cerr << "wb_write_helper: " << what << "\n";
  return 1;
}

int Write(const std::string& cache_path, const std::string& origin_path,
          uint64_t seed, int n) {
  auto cache = wb::FileDevice::Open(cache_path);
  if (!cache.ok()) return Die(cache.status().ToString());
  auto origin = wb::FileDevice::Open(origin_path);
  if (!origin.ok()) return Die(origin.status().ToString());
  auto identity = wb::OriginIdentity(origin_path, false);
  if (!identity.ok()) return Die(identity.status().ToString());
  wb::OpenOptions options;
  options.origin_identity = *identity;
  options.enable_writeback = false;
  const uint64_t origin_size = (*origin)->size();
  auto volume =
      wb::Volume::Open(std::move(*cache), std::move(*origin), options);
  if (!volume.ok()) return Die(volume.status().ToString());
  for (const WriteOp& op : Plan(origin_size, seed, n)) {
    absl::Status s = (*volume)->Write(op.offset, op.data, op.fua);
    if (!s.ok()) return Die(s.ToString());
  }
  if (absl::Status s = (*volume)->Close(); !s.ok()) return Die(s.ToString());
  return 0;
}

int Expect(const std::string& image_path, const std::string& out_path,
           uint64_t seed, int n) {
  std::ifstream in(image_path, std::ios::binary);
  if (!in) return Die("cannot read " + image_path);
  std::string image((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  for (const WriteOp& op : Plan(image.size(), seed, n)) {
    image.replace(op.offset, op.data.size(), op.data);
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out.write(image.data(), static_cast<std::streamsize>(image.size()));
  if (!out.flush()) return Die("cannot write " + out_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed;
  int n;
  if (argc != 6 || !absl::SimpleAtoi(argv[4], &seed) ||
      !absl::SimpleAtoi(argv[5], &n) || n <= 0) {
    return Die(
        "usage: wb_write_helper write CACHE ORIGIN SEED NWRITES | "
        "expect ORIGIN_IMAGE OUT SEED NWRITES");
  }
  std::string mode = argv[1];
  if (mode == "write") return Write(argv[2], argv[3], seed, n);
  if (mode == "expect") return Expect(argv[2], argv[3], seed, n);
  return Die("unknown mode " + mode);
}
