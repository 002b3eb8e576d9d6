#include "tests/fuzz/volume_check.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "server/core/util/coding.h"
#include "server/core/volume.h"
#include "tests/crash/buffer_device.h"
#include "tests/fuzz/compare_recovery.h"
#include "tests/fuzz/fuzz_image.h"

namespace wb::fuzz {

namespace {

constexpr uint64_t kSectors = kOriginSize / 512;

// Buffers are kept from input to input: fresh megabytes for every input
// cost more in page faults than the checks themselves.
const std::string& KnownOrigin() {
  static const std::string* origin = new std::string(OriginImage());
  return *origin;
}

// What the whole volume must read: bytes, and the sectors whose copy is
// corrupt (a read that needs one fails with kDataLoss).
struct Contents {
  std::string bytes;
  std::vector<bool> corrupt;
  bool has_no_data_entry = false;  // names read findings (finding.h)
};

void Expected(const RefReplay& ref, const std::string& image,
              const std::string& origin, Contents* c) {
  c->bytes.assign(origin);
  c->corrupt.assign(kSectors, false);
  c->has_no_data_entry = ref.has_no_data_entry;
  std::vector<SectorSource> src = ExpectedSources(ref);
  for (uint64_t s = 0; s < kSectors; s++) {
    if (!src[s].cached) continue;
    if (src[s].zero) {
      std::memset(c->bytes.data() + s * 512, 0, 512);
      continue;
    }
    std::memcpy(c->bytes.data() + s * 512,
                image.data() + (kRingStart + src[s].ring_block) * 4096 +
                    (s % 8) * 512,
                512);
    c->corrupt[s] = src[s].corrupt;
  }
}

bool AnyCorrupt(const Contents& c, uint64_t first, uint64_t n) {
  return std::any_of(c.corrupt.begin() + first, c.corrupt.begin() + first + n,
                     [](bool b) { return b; });
}

// Reads sectors [first, first + n) and holds them to want.
Outcome ReadRange(Volume& v, const Contents& want, uint64_t first, uint64_t n,
                  const char* phase) {
  const char* id = want.has_no_data_entry ? "no_data_entry" : "read";
  static std::string got;
  got.resize(n * 512);
  absl::Status st = v.Read(first * 512, absl::MakeSpan(got));
  if (AnyCorrupt(want, first, n)) {
    FUZZ_EXPECT(absl::IsDataLoss(st), id,
                "%s: sectors %u+%u need a corrupt copy but read %s", phase,
                first, n, st.ToString());
    return std::nullopt;
  }
  FUZZ_EXPECT(st.ok(), id, "%s: sectors %u+%u: %s", phase, first, n,
              st.ToString());
  for (uint64_t s = 0; s < n; s++) {
    FUZZ_EXPECT(std::memcmp(got.data() + s * 512,
                            want.bytes.data() + (first + s) * 512, 512) == 0,
                id, "%s: sector %u (block %u) reads other data (word 0x%x)",
                phase, first + s, (first + s) / 8,
                GetFixed64(got.data() + s * 512));
  }
  return std::nullopt;
}

Outcome ReadAll(Volume& v, const Contents& want, uint64_t seed,
                const char* phase) {
  FUZZ_RETURN_IF_FINDING(ReadRange(v, want, 0, kSectors, phase));
  if (AnyCorrupt(want, 0, kSectors)) {
    for (uint64_t b = 0; b < kSectors / 8; b++) {
      FUZZ_RETURN_IF_FINDING(ReadRange(v, want, b * 8, 8, phase));
    }
  }
  // Some sectors inside one block.
  uint64_t first = seed % kSectors;
  uint64_t n = 1 + (seed >> 12) % (8 - first % 8);
  return ReadRange(v, want, first, n, phase);
}

struct PlannedWrite {
  uint64_t first;  // sector
  uint64_t n;      // sectors
  bool fua;        // else a Flush follows
  uint64_t data_blocks;
};

// Blocks the log already holds are the interesting ones to overwrite.
std::vector<PlannedWrite> PlanWrites(const RefReplay& ref, uint64_t seed) {
  const uint64_t blocks = kOriginSize / 4096;
  std::vector<uint64_t> logged;
  for (const RefSegment& s : ref.accepted) {
    for (const RefEntry& e : s.entries) {
      if (e.has_data) logged.push_back(e.block);
    }
  }
  auto pick = [&](uint64_t salt) {
    uint64_t h = (seed ^ salt) * 0x9e3779b97f4a7c15ull;
    if (!logged.empty() && (h >> 60) < 12) return logged[(h >> 8) % logged.size()];
    return (h >> 8) % blocks;
  };
  uint64_t b2 = pick(2);
  uint64_t s2 = (seed >> 20) % 8;
  uint64_t n2 = 1 + (seed >> 24) % (8 - s2);
  if (s2 == 0 && n2 == 8) n2 = 7;  // keep it partial
  uint64_t b3 = std::min(pick(3), blocks - 2);
  return {{pick(1) * 8, 8, true, 1},
          {b2 * 8 + s2, n2, true, 1},
          {b3 * 8, 16, false, 2}};
}

// How many of the writes find room on the ring: a new segment needs a
// full segment's room before the oldest live one (the writer's rule that
// ring blocks are reused only after writeback, which is off here).
size_t WritesWithRoom(const RefReplay& ref,
                      const std::vector<PlannedWrite>& writes) {
  bool live = !ref.accepted.empty();
  uint64_t tail = live ? ref.accepted.front().pos : 0;
  uint64_t head = ref.next_pos;
  for (size_t i = 0; i < writes.size(); i++) {
    bool room = !live || head > tail ||
                (head < tail && tail - head >= ref.seg_blocks);
    if (!room) return i;
    if (!live) tail = head;
    live = true;
    head = RefNextPos(ref, head, ref.meta_blocks + writes[i].data_blocks);
  }
  return writes.size();
}

void FillWrite(const PlannedWrite& w, size_t index, std::string* data) {
  data->assign(w.n * 512, '\0');
  for (uint64_t s = 0; s < w.n; s++) {
    for (uint64_t x = 0; x < 64; x++) {
      PutFixed64(data->data() + s * 512 + x * 8,
                 0x7772000000000000ull | (uint64_t{index} << 40) |
                     ((w.first + s) << 8) | x);
    }
  }
}

// Opens a volume on *cache and *origin (both kept up to date by it).
absl::StatusOr<std::unique_ptr<Volume>> OpenOn(std::string* cache,
                                               std::string* origin,
                                               uint8_t flags,
                                               absl::Duration io_timeout,
                                               bool writeback = false) {
  const uint32_t lbs = (flags & kBigSectors) ? 4096 : 512;
  OpenOptions o;
  o.origin_identity = kOriginIdentity;
  o.rambuf_size = 256 << 10;
  o.io_timeout = io_timeout;
  // Off but for the drain (DrainAll): reads and the ring's room stay
  // deterministic.
  o.enable_writeback = writeback;
  return Volume::Open(
      std::make_unique<crash::BufferDevice>(cache, "fuzz-cache", lbs),
      std::make_unique<crash::BufferDevice>(origin, "fuzz-origin", lbs), o);
}

// Opens with writeback on and drains the log on this thread (DropCaches
// waits for the writeback thread), so that writeback parses every segment
// of every input and the outcome is the same on every replay. The origin
// must then hold what the volume read, but for sectors whose copy is
// corrupt; a drain may fail only when a DIRTY entry of the log has data that
// fails its checksum (writeback refuses such a batch, even when a newer copy
// hides the bad one from reads).
Outcome DrainAll(std::string* cache, std::string* origin, uint8_t flags,
                 const RefReplay& ref, const Contents& want) {
  auto v = OpenOn(cache, origin, flags, absl::Seconds(10), /*writeback=*/true);
  FUZZ_EXPECT(v.ok(), "drain", "open with writeback on: %s",
              v.status().ToString());
  absl::Status st = (*v)->DropCaches(nullptr);
  bool any_corrupt = false;
  for (const RefSegment& s : ref.accepted) {
    for (const RefEntry& e : s.entries) any_corrupt |= e.kind == 1 && !e.data_ok;
  }
  FUZZ_EXPECT(st.ok() || any_corrupt, "drain",
              "drop_caches failed with no corrupt DIRTY copy in the log: %s",
              st.ToString());
  absl::Status closed = (*v)->Close();
  v->reset();
  if (!st.ok()) return std::nullopt;
  FUZZ_EXPECT(closed.ok(), "drain", "Close after drop_caches: %s",
              closed.ToString());
  for (uint64_t s = 0; s < kSectors; s++) {
    FUZZ_EXPECT(want.corrupt[s] ||
                    std::memcmp(origin->data() + s * 512,
                                want.bytes.data() + s * 512, 512) == 0,
                "drain",
                "after drop_caches the origin's sector %u (block %u) holds "
                "word 0x%x, the volume read 0x%x",
                s, s / 8, GetFixed64(origin->data() + s * 512),
                GetFixed64(want.bytes.data() + s * 512));
  }
  return std::nullopt;
}

}  // namespace

constexpr uint64_t kGenerationLimit = uint64_t{1} << 62;  // rule 2

Outcome CheckVolume(const std::string& image, const RefReplay& ref,
                    uint8_t flags, uint64_t seed) {
  // More TRIM/ZERO blocks than there are virtual cache blocks (one per
  // ring block) is a log no writer made: refused as corrupt.
  const bool opens = ref.head_ok && ref.origin_size == kOriginSize &&
                     ref.origin_identity == kOriginIdentity &&
                     ref.zeroed_blocks <= ref.ring_blocks;
  std::vector<PlannedWrite> writes = PlanWrites(ref, seed);
  const size_t with_room = opens ? WritesWithRoom(ref, writes) : 0;
  static std::string cache;
  cache.assign(image);
  // Writes reach the origin only by going around the log (write_around_mode,
  // sequential_cutoff, which a stored record may turn on); writeback is off.
  static std::string origin;
  origin.assign(KnownOrigin());
  auto v = OpenOn(
      &cache, &origin, flags,
      with_room == writes.size() ? absl::Seconds(10) : absl::Milliseconds(50));
  FUZZ_EXPECT(v.ok() == opens, "open", "Volume::Open says \"%s\", the "
              "reference %s",
              v.status().ToString(),
              opens ? "opens it" : "refuses: " + ref.refusal);
  if (!opens) return std::nullopt;

  static Contents model;
  Expected(ref, image, origin, &model);
  // A write that goes around needs no room in the ring.
  const Tunables t = (*v)->GetStatus().tunables;
  const bool may_bypass = t.write_around_mode != 0 || t.sequential_cutoff != 0;
  FUZZ_RETURN_IF_FINDING(ReadAll(**v, model, seed, "after open"));

  // Writes: what they acknowledge must survive a clean close and reopen.
  std::string data;
  for (size_t i = 0; i < writes.size(); i++) {
    const PlannedWrite& w = writes[i];
    FillWrite(w, i, &data);
    absl::Status st = (*v)->Write(w.first * 512, absl::MakeSpan(data), w.fua);
    if (st.ok() && !w.fua) st = (*v)->Flush();
    if (i >= with_room && !(may_bypass && st.ok())) {
      FUZZ_EXPECT(!st.ok(), "write", "write %u went onto a full ring", i);
      continue;
    }
    FUZZ_EXPECT(st.ok(), "write", "write %u (sectors %u+%u): %s", i, w.first,
                w.n, st.ToString());
    std::memcpy(model.bytes.data() + w.first * 512, data.data(), data.size());
    std::fill(model.corrupt.begin() + w.first,
              model.corrupt.begin() + w.first + w.n, false);
  }
  FUZZ_RETURN_IF_FINDING(ReadAll(**v, model, seed, "after writes"));
  absl::Status st = (*v)->Close();
  FUZZ_EXPECT(st.ok(), "write", "Close: %s", st.ToString());
  v->reset();

  // Reopen: the core against the reference on the new image, then rule 6,
  // then every block against the model.
  const RefReplay ref2 = ReferenceReplay(cache);
  {
    crash::BufferDevice dev(&cache, "fuzz-cache");
    FUZZ_RETURN_IF_FINDING(CompareRecovery(dev, ref2));
  }
  const uint64_t gen = ref.progress.gen + (ref.copies_valid == 2 ? 1 : 2);
  // Rule 2 refuses a generation of 2^62 or more: an image whose open had to
  // record one has used up its generations (only a fuzzer gets there), and
  // the reopen is refused as the rule says.
  if (gen >= kGenerationLimit) {
    FUZZ_EXPECT(!ref2.head_ok, "progress", "generation %u after open was "
                "accepted, rule 2 refuses it", gen);
    return std::nullopt;
  }
  FUZZ_EXPECT(ref2.head_ok, "progress", "after a clean close the cache is "
              "refused: %s", ref2.refusal);
  FUZZ_EXPECT(ref2.progress.gen == gen &&
                  ref2.progress.gen_start_id == ref.last_id + 1,
              "progress", "generation %u from id %u after open; rule 6 says "
              "%u from %u",
              ref2.progress.gen, ref2.progress.gen_start_id, gen,
              ref.last_id + 1);
  FUZZ_EXPECT(ref2.progress.last_writeback_id == ref.progress.last_writeback_id &&
                  ref2.progress.next_pos == ref.progress.next_pos,
              "progress", "the log's start moved without writeback: id %u at "
              "%u, was %u at %u",
              ref2.progress.last_writeback_id + 1, ref2.progress.next_pos,
              ref.progress.last_writeback_id + 1, ref.progress.next_pos);
  static Contents after;
  Expected(ref2, cache, origin, &after);
  v = OpenOn(&cache, &origin, flags, absl::Seconds(10));
  FUZZ_EXPECT(v.ok(), "open", "reopen after a clean close: %s",
              v.status().ToString());
  FUZZ_RETURN_IF_FINDING(ReadAll(**v, after, seed, "after reopen"));
  // A header of a generation the new record does not exceed cannot be left
  // by any crash (rule 6): such an image may legitimately lose the writes
  // above to it, so durability is held only without one.
  if (!HasHeaderAboveGen(image, ref, gen - 1)) {
    for (uint64_t s = 0; s < kSectors; s++) {
      FUZZ_EXPECT(after.corrupt[s] == model.corrupt[s] &&
                      (model.corrupt[s] ||
                       std::memcmp(after.bytes.data() + s * 512,
                                   model.bytes.data() + s * 512, 512) == 0),
                  "durability",
                  "sector %u (block %u) changed across close and reopen "
                  "(word 0x%x, was 0x%x)",
                  s, s / 8, GetFixed64(after.bytes.data() + s * 512),
                  GetFixed64(model.bytes.data() + s * 512));
    }
  }
  st = (*v)->Close();
  FUZZ_EXPECT(st.ok(), "write", "Close after reopen: %s", st.ToString());
  v->reset();
  return DrainAll(&cache, &origin, flags, ref2, after);
}

}  // namespace wb::fuzz
