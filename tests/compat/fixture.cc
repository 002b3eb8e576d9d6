#include "tests/compat/fixture.h"

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"

namespace wb::compat {

absl::StatusOr<Manifest> ReadManifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read " + path);
  Manifest m;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    n++;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "layout") {
      ls >> m.layout;
    } else if (key == "origin_identity") {
      ls >> m.origin_identity;
    } else if (key == "origin_size") {
      ls >> m.origin_size;
    } else if (key == "cache") {
      ls >> m.caches.emplace_back();
    } else if (key == "origin") {
      ls >> m.origin;
    } else if (key == "range") {
      ExpectedRange r;
      std::string kind;
      ls >> r.offset >> r.length >> kind;
      if (kind == "seed") {
        r.kind = ExpectedRange::kSeed;
        ls >> r.seed;
      } else if (kind == "zero") {
        r.kind = ExpectedRange::kZero;
      } else if (kind == "zero-or-seed") {
        r.kind = ExpectedRange::kZeroOrSeed;
        ls >> r.seed;
      } else {
        ls.setstate(std::ios::failbit);
      }
      m.ranges.push_back(r);
    } else {
      ls.setstate(std::ios::failbit);
    }
    if (ls.fail()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: cannot parse \"%s\"", path, n, line));
    }
  }
  if (m.caches.empty() || m.origin.empty() || m.origin_size == 0) {
    return absl::InvalidArgumentError(path + ": cache, origin or size missing");
  }
  return m;
}

absl::Status Gunzip(const std::string& src, const std::string& dst) {
  gzFile in = gzopen(src.c_str(), "rb");
  if (in == nullptr) return absl::NotFoundError("cannot open " + src);
  std::ofstream out(dst, std::ios::binary | std::ios::trunc);
  char buf[1 << 16];
  int n;
  while ((n = gzread(in, buf, sizeof(buf))) > 0) out.write(buf, n);
  const bool ok = n == 0;
  gzclose(in);
  out.close();
  if (!ok || !out) return absl::DataLossError("cannot decompress " + src);
  return absl::OkStatus();
}

std::string CheckRange(const ExpectedRange& r, const std::string& data) {
  for (uint64_t sector = 0; sector < r.length; sector += 512) {
    bool is_zero = true, is_seed = true;
    for (uint64_t i = sector; i < sector + 512; i++) {
      const uint8_t b = static_cast<uint8_t>(data[i]);
      is_zero &= b == 0;
      is_seed &= b == PatternByte(r.seed, r.offset + i);
    }
    const bool ok = r.kind == ExpectedRange::kSeed   ? is_seed
                    : r.kind == ExpectedRange::kZero ? is_zero
                                                     : is_zero || is_seed;
    if (!ok) {
      return absl::StrFormat(
          "sector at byte %u (range %u+%u) is not %s %u",
          r.offset + sector, r.offset, r.length,
          r.kind == ExpectedRange::kSeed   ? "seed"
          : r.kind == ExpectedRange::kZero ? "zero"
                                           : "zero or seed",
          r.seed);
    }
  }
  return "";
}

}  // namespace wb::compat
