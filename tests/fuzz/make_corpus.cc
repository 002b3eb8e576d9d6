// make_corpus: writes the recovery fuzzer's seed corpus into DIR (checked
// in as tests/fuzz/corpus; docs/TESTING.md). Every seed is a cache the
// engine itself produced on the fuzzer's machine (fuzz_image.h), encoded
// sparsely; the regress-* seeds are hand-made images of past findings.
//
//   make_corpus DIR
//
// Cache-set UUIDs and format times are random, so a second run writes
// different bytes with the same structure.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "server/core/device/crash_device.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/format/layout.h"
#include "server/core/format/progress.h"
#include "server/core/format/segment.h"
#include "server/core/format/superblock.h"
#include "server/core/util/coding.h"
#include "server/core/util/crc32c.h"
#include "server/core/volume.h"
#include "tests/fuzz/fuzz_image.h"
#include "tests/fuzz/reference_replay.h"

namespace wb::fuzz {
namespace {

[[noreturn]] void Die(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "make_corpus: %s: %s\n", what.c_str(),
               s.ToString().c_str());
  std::exit(1);
}

void Check(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(what, s);
}

// A block's worth of one 8-byte word repeated: compact in the sparse
// encoding, and different for every (tag, block).
std::string BlockData(uint64_t tag, uint64_t block, uint64_t blocks = 1) {
  std::string out(blocks * 4096, '\0');
  for (uint64_t b = 0; b < blocks; b++) {
    for (uint64_t w = 0; w < 512; w++) {
      PutFixed64(out.data() + b * 4096 + w * 8,
                 0x6d63000000000000ull | (tag << 24) | (block + b));
    }
  }
  return out;
}

absl::StatusOr<Uuid> SuperblockUuid(const std::string& image) {
  absl::StatusOr<Superblock> sb = Superblock::Decode(image.data());
  if (!sb.ok()) return sb.status();
  return sb->uuid;
}

std::string Formatted(uint32_t segment_size) {
  MemDevice cache(kCacheSize);
  auto origin = MemDevice::FromImage(OriginImage());
  FormatOptions f;
  f.segment_size = segment_size;
  f.origin_identity = kOriginIdentity;
  // Writeback only when the ring fills or on drop_caches, so that the
  // images keep dirty data.
  f.tunables.writeback_threshold = 0;
  Check(FormatCache(cache, *origin, f), "format");
  return cache.Image();
}

// One run of the engine on a cache image: open, do, close.
std::string Session(const std::string& image, std::string* origin_image,
                    bool writeback,
                    const std::function<void(Volume&)>& work) {
  auto cache = MemDevice::FromImage(image);
  auto origin = MemDevice::FromImage(*origin_image);
  OpenOptions o;
  o.origin_identity = kOriginIdentity;
  o.rambuf_size = 256 << 10;
  o.enable_writeback = writeback;
  auto v = Volume::Open(std::make_unique<DeviceRef>(cache.get()),
                        std::make_unique<DeviceRef>(origin.get()), o);
  if (!v.ok()) Die("open", v.status());
  work(**v);
  Check((*v)->Close(), "close");
  v->reset();
  *origin_image = origin->Image();
  return cache->Image();
}

void Write(Volume& v, uint64_t tag, uint64_t block, uint64_t blocks, bool fua) {
  std::string data = BlockData(tag, block, blocks);
  Check(v.Write(block * 4096, absl::MakeSpan(data), fua), "write");
}

// Sectors [first, first + n) of a block, FUA: a partial entry.
void WriteSectors(Volume& v, uint64_t tag, uint64_t block, uint64_t first,
                  uint64_t n) {
  std::string data = BlockData(tag, block).substr(0, n * 512);
  Check(v.Write(block * 4096 + first * 512, absl::MakeSpan(data), true),
        "write sectors");
}

class Corpus {
 public:
  explicit Corpus(std::filesystem::path dir) : dir_(std::move(dir)) {}

  void Add(const std::string& name, const std::string& image, uint8_t flags) {
    std::string input = EncodeImage(image, flags);
    std::ofstream out(dir_ / name, std::ios::binary | std::ios::trunc);
    out.write(input.data(), static_cast<std::streamsize>(input.size()));
    RefReplay r = ReferenceReplay(image);
    std::printf("%-28s %7zu bytes  %s\n", name.c_str(), input.size(),
                r.head_ok ? absl::StrFormat(
                                "%zu segments, ids %u-%u, gen %u, %d copies%s",
                                r.accepted.size(), r.progress.last_writeback_id + 1,
                                r.last_id, r.progress.gen, r.copies_valid,
                                r.cut_on_bad_data ? ", torn tail" : "")
                                .c_str()
                          : ("refused: " + r.refusal).c_str());
  }

 private:
  std::filesystem::path dir_;
};

// Seeds from the engine's own runs.
void CleanImages(Corpus& c) {
  const std::string empty = Formatted(64 << 10);
  c.Add("empty-64k", empty, kAllFixes);
  c.Add("empty-128k", Formatted(128 << 10), kAllFixes);
  c.Add("empty-256k-raw", Formatted(256 << 10), 0);

  std::string origin = OriginImage();
  std::string shorts = Session(empty, &origin, false, [](Volume& v) {
    for (uint64_t i = 0; i < 5; i++) Write(v, 1, 10 * i, 1 + i % 3, true);
    WriteSectors(v, 1, 10, 1, 2);  // over block 10: a partial newer copy
  });
  c.Add("short-segments", shorts, kAllFixes);
  c.Add("short-segments-raw", shorts, 0);
  c.Add("short-segments-4k", shorts, kAllFixes | kBigSectors);
  // The newer progress copy destroyed (a device that lost it): the older
  // one is used, and the fix flags leave the records alone.
  std::string lost = shorts;
  ProgressRecord p0 = *ProgressRecord::Decode(lost.data() + 4096,
                                              *SuperblockUuid(lost));
  ProgressRecord p1 = *ProgressRecord::Decode(lost.data() + 8192,
                                              *SuperblockUuid(lost));
  lost[(p0.seq > p1.seq ? 1 : 2) * 4096 + 100] ^= 1;
  c.Add("short-segments-lost-progress", lost,
        kFixSuperblockCrc | kFixSegmentCrc | kFixDataCrc);

  origin = OriginImage();
  std::string full = Session(empty, &origin, false, [](Volume& v) {
    Write(v, 2, 100, 40, false);
    Check(v.Flush(), "flush");
    Write(v, 2, 200, 3, true);
  });
  c.Add("full-segments", full, kAllFixes);

  // Three generations over the same blocks, nothing written back.
  origin = OriginImage();
  std::string gens = empty;
  for (uint64_t g = 0; g < 3; g++) {
    gens = Session(gens, &origin, false, [g](Volume& v) {
      Write(v, 10 + g, 5 + g, 4, true);
      Write(v, 10 + g, 50, 20, false);
      WriteSectors(v, 10 + g, 7, g, 1);
    });
  }
  c.Add("three-generations", gens, kAllFixes);

  // Writeback moves the log's start; more than a ring of writes wraps it.
  origin = OriginImage();
  std::string wrapped = Session(empty, &origin, true, [](Volume& v) {
    for (uint64_t i = 0; i < 12; i++) {
      Write(v, 20 + i, (i * 37) % 200, 15, i % 3 == 0);
      if (i == 5) Check(v.DropCaches(nullptr), "drop_caches");
    }
    Check(v.DropCaches(nullptr), "drop_caches");
    for (uint64_t i = 0; i < 7; i++) Write(v, 40 + i, 3 * i, 15, i % 2 == 0);
  });
  c.Add("wrapped", wrapped, kAllFixes);
}

// Power cuts: a CrashDevice cache, cut at every device flush of a run with
// writeback. Kept, for a torn segment and for a wrapped log, the cut that
// encodes shortest. (A cut never leaves a torn progress copy: a record's
// fields all sit in its first sector, and sectors are atomic.)
void PowerCutImages(Corpus& c) {
  auto crash = CrashDevice::FromImage(Formatted(64 << 10));
  auto origin = MemDevice::FromImage(OriginImage());
  std::string torn_segment, wrapped;
  auto keep = [](std::string* kept, std::string image) {
    if (kept->empty() ||
        EncodeImage(image, 0).size() < EncodeImage(*kept, 0).size()) {
      *kept = std::move(image);
    }
  };
  crash->SetPersistencePointHook([&](uint64_t n) {
    std::string image = crash->PowerCutImage(n * 7919);
    RefReplay r = ReferenceReplay(image);
    if (!r.head_ok || r.accepted.empty()) return;
    if (r.cut_on_bad_data) {
      keep(&torn_segment, std::move(image));
    } else if (r.next_pos < r.accepted.front().pos) {
      keep(&wrapped, std::move(image));
    }
  });
  OpenOptions o;
  o.origin_identity = kOriginIdentity;
  o.rambuf_size = 256 << 10;
  auto v = Volume::Open(std::make_unique<DeviceRef>(crash.get()),
                        std::make_unique<DeviceRef>(origin.get()), o);
  if (!v.ok()) Die("open", v.status());
  for (uint64_t i = 0; i < 40; i++) {
    Write(**v, 60 + i, (i * 53) % 220, 1 + i % 20, i % 4 == 0);
    if (i % 10 == 9) Check((*v)->DropCaches(nullptr), "drop_caches");
  }
  Check((*v)->Close(), "close");
  v->reset();
  crash->SetPersistencePointHook(nullptr);

  if (!torn_segment.empty()) {
    c.Add("cut-torn-segment", torn_segment, 0);
    c.Add("cut-torn-segment-fixed", torn_segment,
          kFixSuperblockCrc | kFixProgressCrc | kFixSegmentCrc);
  }
  if (!wrapped.empty()) c.Add("cut-wrapped", wrapped, 0);
  if (torn_segment.empty() || wrapped.empty()) {
    std::fprintf(stderr, "make_corpus: no cut had a %s\n",
                 torn_segment.empty() ? "torn segment" : "wrapped log");
  }
}

// Image surgery for the regress-* seeds.
struct Surgery {
  std::string image;
  Superblock sb;
  Geometry geo;

  explicit Surgery(std::string formatted) : image(std::move(formatted)) {
    sb = *Superblock::Decode(image.data());
    geo = *Geometry::Make(sb.segment_size, image.size(), sb.origin_size);
  }
  ProgressRecord Record(int copy) {
    return *ProgressRecord::Decode(image.data() + (1 + copy) * 4096, sb.uuid);
  }
  void Put(const ProgressRecord& r) { r.EncodeTo(image.data() + (1 + r.copy()) * 4096); }
  void Tear(int copy) { std::memset(image.data() + (1 + copy) * 4096 + 2048, 0x5a, 2048); }
  void PutData(uint64_t pos, const std::string& block) {
    std::memcpy(image.data() + Geometry::RingOffset(pos), block.data(), 4096);
  }
  // A segment header at pos whose data crcs match what the image holds
  // where its data blocks go.
  void PlantHeader(uint64_t pos, uint64_t id, uint64_t gen,
                   std::vector<SegmentEntry> entries) {
    uint64_t at = pos + geo.meta_blocks;
    for (SegmentEntry& e : entries) {
      if (!EntryKindHasData(e.kind)) continue;
      e.data_crc = Crc32c(image.data() + Geometry::RingOffset(at++), 4096);
    }
    EncodeSegmentMeta(id, sb.uuid, id - 1, gen, kSegmentStartsEpoch, entries,
                      geo, image.data() + Geometry::RingOffset(pos));
  }
  // A segment holding one full block of tagged data.
  void PlantSegment(uint64_t pos, uint64_t id, uint64_t gen, uint64_t block,
                    uint64_t tag) {
    PutData(pos + geo.meta_blocks, BlockData(tag, block));
    PlantHeader(pos, id, gen, {{block, 0xff, EntryKind::kDirty, 0, 0}});
  }
};

// Inputs that each failed the target before a core fix (regression seeds;
// tests/crash/recovery_regress_test.cc holds the same cases as unit tests).
void RegressImages(Corpus& c) {
  const std::string empty = Formatted(64 << 10);
  {
    // The newer progress copy torn: it may have announced gen + 1, so a
    // segment of gen + 1 can sit past the log. The fuzz target's three
    // writes take ids 1-3 at blocks 0-6; id 4 at block 7 is where the walk
    // looks after reopen.
    Surgery s(empty);
    s.Tear(1);
    uint64_t gen = s.Record(0).gen;
    s.PlantSegment(7, 4, gen + 1, 0, 99);
    c.Add("regress-torn-progress-gen", s.image, 0);
  }
  {
    // next_pos in the ring's tail, where no segment can start.
    Surgery s(empty);
    ProgressRecord r = s.Record(1);
    r.seq = 2;
    r.next_pos = s.geo.ring_blocks - s.geo.seg_blocks + 1;
    s.Put(r);
    c.Add("regress-next-pos-tail", s.image, 0);
  }
  {
    // Ids and generations at 2^62 and above wrap the writer's arithmetic.
    Surgery s(empty);
    ProgressRecord r = s.Record(1);
    r.seq = 2;
    r.last_writeback_id = uint64_t{1} << 62;
    r.gen_start_id = r.last_writeback_id + 1;
    s.Put(r);
    c.Add("regress-huge-writeback-id", s.image, 0);
    r = s.Record(1);
    r.seq = 3;
    r.last_writeback_id = 0;
    r.gen_start_id = 1;
    r.gen = UINT64_MAX;
    s.Put(r);
    c.Add("regress-huge-gen", s.image, 0);
  }
  {
    // An origin identity that is not UTF-8 (check --json cannot print it).
    Surgery s(empty);
    s.sb.origin_identity = "uuid:\xff\xfe";
    s.sb.EncodeTo(s.image.data());
    c.Add("regress-identity-not-utf8", s.image, 0);
  }
  {
    // An entry without data (a reserved kind) before one with data: the
    // data blocks belong to the data-carrying entries in order.
    Surgery s(empty);
    s.PutData(1, BlockData(98, 6));
    s.PlantHeader(0, 1, s.Record(1).gen,
                  {{5, 0xff, EntryKind::kTrim, 0, 1},
                   {6, 0xff, EntryKind::kDirty, 0, 0}});
    c.Add("regress-no-data-entry", s.image, 0);
  }
  {
    // A chain that wraps the ring and runs into its own first segment:
    // ids 1-15 from block 8 in full segments, then id 16 at block 0 long
    // enough to cover the first segment's head.
    Surgery s(empty);
    ProgressRecord r = s.Record(1);
    r.seq = 2;
    r.next_pos = 8;
    s.Put(r);
    const uint64_t data = s.geo.max_data_blocks;
    uint64_t pos = r.next_pos;
    for (uint64_t id = 1;; id++) {
      const bool last = pos == 0;
      const uint64_t n = last ? r.next_pos + 1 : data;
      std::vector<SegmentEntry> entries;
      for (uint64_t i = 0; i < n; i++) {
        uint64_t block = (id * data + i) % s.geo.origin_blocks;
        // The last one's data over the first one's blocks is what is there.
        if (pos + s.geo.meta_blocks + i < r.next_pos || !last) {
          s.PutData(pos + s.geo.meta_blocks + i, BlockData(97, block));
        }
        entries.push_back({block, 0xff, EntryKind::kDirty, 0, 0});
      }
      s.PlantHeader(pos, id, r.gen, entries);
      if (last) break;
      pos = s.geo.NextPos(pos, s.geo.meta_blocks + n);
    }
    c.Add("regress-ring-overlap", s.image, 0);
  }
}

}  // namespace
}  // namespace wb::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::filesystem::create_directories(argv[1]);
  wb::fuzz::Corpus corpus(argv[1]);
  wb::fuzz::CleanImages(corpus);
  wb::fuzz::PowerCutImages(corpus);
  wb::fuzz::RegressImages(corpus);
  return 0;
}
