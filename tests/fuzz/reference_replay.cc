#include "tests/fuzz/reference_replay.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "absl/strings/str_format.h"
#include "server/core/util/coding.h"

namespace wb::fuzz {

namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kRingStartBlock = 256;
constexpr uint64_t kIdLimit = uint64_t{1} << 62;  // rule 2

const char* Block(const std::string& image, uint64_t block) {
  return image.data() + block * kBlock;
}
const char* RingBlock(const std::string& image, uint64_t pos) {
  return Block(image, kRingStartBlock + pos);
}

// crc32c (Castagnoli, reflected polynomial 0x82f63b78, initial value ~0,
// final complement), computed here rather than by the core's ISA-L-backed
// Crc32c, so that a fault there cannot hide from the check. A byte table
// built from the bitwise definition keeps it fast enough to fuzz with.
uint32_t Crc32c(const void* data, size_t n) {
  static const auto* table = [] {
    auto* t = new std::array<uint32_t, 256>();
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c >> 1) ^ (c & 1 ? 0x82f63b78u : 0);
      (*t)[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t crc = ~0u;
  for (size_t i = 0; i < n; i++) crc = (crc >> 8) ^ (*table)[(crc ^ p[i]) & 0xff];
  return ~crc;
}

bool CrcOk(const char* block) {
  return GetFixed32(block + 4) == Crc32c(block + 8, kBlock - 8);
}

// Sectors of origin block b that lie inside the origin.
uint8_t SectorsInside(const RefReplay& r, uint64_t b) {
  uint64_t first = b * 8;
  uint64_t sectors = r.origin_size / 512;
  if (first + 8 <= sectors) return 0xff;
  return static_cast<uint8_t>((1u << (sectors - first)) - 1);
}

// Rule 1, and the geometry the superblock's fields define.
bool ReadSuperblock(const std::string& image, RefReplay* r) {
  const char* sb = Block(image, 0);
  auto refuse = [&](std::string why) {
    r->refusal = "superblock: " + why;
    return false;
  };
  if (GetFixed32(sb) != 0x42534257) return refuse("no magic");
  if (!CrcOk(sb)) return refuse("crc");
  uint32_t version = GetFixed32(sb + 8);
  if (version > 1) return refuse("newer version");
  if (version == 0) return refuse("version 0");  // [beyond FORMAT.md]
  if (GetFixed32(sb + 12) != kBlock) return refuse("block size");
  if (GetFixed32(sb + 36) != kRingStartBlock) return refuse("ring start");
  // A device opened alone must be a single-device cache: layout 0, one
  // device, index 0. Members of a stripe or mirror set are opened together.
  if (GetFixed32(sb + 64) != 0 || GetFixed32(sb + 68) != 1 ||
      GetFixed32(sb + 72) != 0) {
    return refuse("layout");
  }
  // Zero and fixed fields: a single device's membership generation is 1,
  // its member UUID and slots zero; bytes 736 on are zero, and so is the
  // origin identity's padding after its first NUL.
  auto all_zero = [&](uint64_t from, uint64_t to) {
    return std::all_of(sb + from, sb + to, [](char c) { return c == 0; });
  };
  if (GetFixed32(sb + 76) != 1 || !all_zero(80, 96) || !all_zero(224, 736)) {
    return refuse("membership fields of a single device");
  }
  if (!all_zero(736, kBlock) || sb[223] != 0 ||
      !all_zero(96 + strnlen(sb + 96, 128), 224)) {
    return refuse("non-zero reserved bytes");
  }
  std::memcpy(r->uuid.data(), sb + 16, 16);
  r->segment_size = GetFixed32(sb + 32);
  if (r->segment_size < (64u << 10) || r->segment_size > (4u << 20) ||
      !std::has_single_bit(r->segment_size)) {
    return refuse("segment size");
  }
  r->ring_blocks = GetFixed64(sb + 40);
  if (r->ring_blocks != image.size() / kBlock - kRingStartBlock) {
    return refuse("ring_blocks does not match the device");
  }
  r->origin_size = GetFixed64(sb + 48);
  // [beyond FORMAT.md] an origin size that is no whole number of sectors,
  // or above 2^48 blocks.
  if (r->origin_size == 0 || r->origin_size % 512 != 0 ||
      (r->origin_size + kBlock - 1) / kBlock > (uint64_t{1} << 48)) {
    return refuse("origin size");
  }
  r->origin_blocks = (r->origin_size + kBlock - 1) / kBlock;
  r->origin_identity.assign(sb + 96, strnlen(sb + 96, 128));
  r->seg_blocks = r->segment_size / kBlock;
  uint32_t m = 1;
  while (64 + uint64_t{r->seg_blocks - m} * 16 > uint64_t{m} * kBlock) m++;
  r->meta_blocks = m;
  r->max_entries = (m * kBlock - 64) / 16;
  // [beyond FORMAT.md] the ring holds at least four full segments.
  if (r->ring_blocks < 4 * uint64_t{r->seg_blocks}) {
    return refuse("ring smaller than four segments");
  }
  return true;
}

// [beyond FORMAT.md] the stored tunables lie in their documented ranges
// (docs/CORE.md's table, in the record's order; not the core's own table).
struct RefTunable {
  const char* name;
  uint32_t min;
  uint32_t max;
};
constexpr RefTunable kRefTunables[] = {
    {"writeback_threshold", 0, 100},
    {"nr_max_batched_writeback", 1, 1024},
    {"update_sb_record_interval", 0, 3600},
    {"sync_data_interval", 0, 3600},
    {"read_cache_threshold", 0, 127},
    {"write_around_mode", 0, 1},
    {"barrier_deadline_ms", 1, 10000},
    {"writeback_mode", 0, 1},
    {"read_latency_target_ms", 0, 10000},
    {"sequential_cutoff", 0, 1u << 30},
};

bool TunablesOk(const char* rec) {
  for (size_t i = 0; i < std::size(kRefTunables); i++) {
    uint32_t v = GetFixed32(rec + 64 + 4 * i);
    if (v < kRefTunables[i].min || v > kRefTunables[i].max) return false;
  }
  return true;
}

// Rule 2.
bool ReadProgress(const std::string& image, RefReplay* r) {
  int use = -1;
  for (int c = 0; c < 2; c++) {
    const char* p = Block(image, 1 + c);
    r->copy_valid[c] = GetFixed32(p) == 0x52504257 && CrcOk(p) &&
                       std::memcmp(p + 16, r->uuid.data(), 16) == 0;
    if (!r->copy_valid[c]) continue;
    // Bytes 104 on are zero; a valid checksum over other bytes is a writer
    // this reader does not understand, and refuses the cache.
    if (!std::all_of(p + 104, p + kBlock, [](char x) { return x == 0; })) {
      r->refusal = "progress record with non-zero reserved bytes";
      return false;
    }
    r->copies_valid++;
    // Equal seqs cannot both come from the writer; FORMAT.md leaves the
    // choice open, and the first copy is taken.
    if (use < 0 || GetFixed64(p + 8) > r->progress.seq) {
      use = c;
      r->progress.seq = GetFixed64(p + 8);
    }
  }
  if (use < 0) {
    r->refusal = "no valid progress record";
    return false;
  }
  const char* p = Block(image, 1 + use);
  RefProgress& q = r->progress;
  q.last_writeback_id = GetFixed64(p + 32);
  q.next_pos = GetFixed64(p + 40);
  q.gen = GetFixed64(p + 48);
  q.gen_start_id = GetFixed64(p + 56);
  if (q.next_pos >= r->ring_blocks ||
      r->ring_blocks - q.next_pos < r->seg_blocks) {
    r->refusal = "next_pos leaves less than a segment";
    return false;
  }
  if (q.last_writeback_id >= kIdLimit || q.gen >= kIdLimit) {
    r->refusal = "id or generation beyond 2^62";
    return false;
  }
  // [beyond FORMAT.md] the current generation cannot start further ahead
  // than a full ring of segments.
  if (q.gen_start_id > q.last_writeback_id + 1 + r->ring_blocks) {
    r->refusal = "gen_start_id too far ahead";
    return false;
  }
  if (!TunablesOk(p)) {
    r->refusal = "tunables out of range";
    return false;
  }
  return true;
}

// Rule 3 for the segment at pos, expected to have id `expected`. Returns
// false if it is not accepted.
bool ReadSegment(const std::string& image, const RefReplay& r, uint64_t pos,
                 uint64_t expected, uint64_t prev_gen, RefSegment* s) {
  const char* h = RingBlock(image, pos);
  if (GetFixed32(h) != 0x47534257) return false;
  uint32_t count = GetFixed32(h + 48);
  if (count > r.max_entries) return false;
  if (GetFixed32(h + 4) != Crc32c(h + 8, 56 + uint64_t{count} * 16)) {
    return false;
  }
  if (std::memcmp(h + 16, r.uuid.data(), 16) != 0) return false;
  s->id = GetFixed64(h + 8);
  if (s->id != expected) return false;
  if (GetFixed16(h + 54) != r.meta_blocks) return false;
  if (GetFixed32(h + 60) != 0) return false;  // reserved, zero
  s->durable_through = GetFixed64(h + 32);
  // [beyond FORMAT.md] a segment cannot have been durable before itself.
  if (s->durable_through >= s->id) return false;
  s->gen = GetFixed64(h + 40);
  s->flags = GetFixed16(h + 52);
  s->data_blocks = GetFixed32(h + 56);
  s->entries.clear();
  uint32_t with_data = 0;
  for (uint32_t i = 0; i < count; i++) {
    const char* e = h + 64 + uint64_t{i} * 16;
    RefEntry x;
    x.block = GetFixed64(e) & ((uint64_t{1} << 48) - 1);
    x.mask = static_cast<uint8_t>(e[6]);
    x.kind = static_cast<uint8_t>(e[7]);
    x.crc = GetFixed32(e + 8);
    x.aux = GetFixed32(e + 12);
    if (x.kind < 1 || x.kind > 5) return false;
    if (x.kind == 5) return false;  // LAYOUT: reserved, no writer emits it
    // aux is a run length for TRIM and ZERO, and zero for every other kind.
    if (x.kind != 3 && x.kind != 4 && x.aux != 0) return false;
    // A TRIM or ZERO run is at least one block, all inside the origin.
    if ((x.kind == 3 || x.kind == 4) &&
        (x.aux == 0 || x.aux > r.origin_blocks - std::min(x.block, r.origin_blocks))) {
      return false;
    }
    if (x.block >= r.origin_blocks) return false;
    if (x.mask == 0 || (x.mask & ~SectorsInside(r, x.block)) != 0) {
      return false;
    }
    x.has_data = x.kind == 1 || x.kind == 2;  // DIRTY, CLEAN
    if (x.has_data) x.data_pos = pos + r.meta_blocks + with_data++;
    s->entries.push_back(x);
  }
  if (s->data_blocks != with_data) return false;
  if (s->data_blocks > r.seg_blocks - r.meta_blocks) return false;
  s->length = r.meta_blocks + s->data_blocks;
  if (pos + s->length > r.ring_blocks) return false;
  const RefProgress& p = r.progress;
  if (s->gen < prev_gen || s->gen > p.gen) return false;
  if (s->id >= p.gen_start_id ? s->gen != p.gen : s->gen >= p.gen) {
    return false;
  }
  s->pos = pos;
  for (RefEntry& x : s->entries) {
    if (!x.has_data) continue;
    x.data_ok = Crc32c(RingBlock(image, x.data_pos), kBlock) == x.crc;
    s->data_ok &= x.data_ok;
  }
  return true;
}

}  // namespace

uint64_t RefNextPos(const RefReplay& r, uint64_t pos, uint64_t len) {
  uint64_t next = pos + len;
  return r.ring_blocks - next < r.seg_blocks ? 0 : next;
}

RefReplay ReferenceReplay(const std::string& image) {
  RefReplay r;
  if (!ReadSuperblock(image, &r) || !ReadProgress(image, &r)) return r;
  r.head_ok = true;

  // Rule 3: contiguous ids from last_writeback_id + 1; stop at the first
  // segment that fails. Each position can hold one id, so the walk ends
  // within ring_blocks steps.
  const RefProgress& p = r.progress;
  uint64_t pos = p.next_pos;
  uint64_t expected = p.last_writeback_id + 1;
  uint64_t prev_gen = 0;
  bool wrapped = false;
  while (r.walked.size() <= r.ring_blocks) {
    RefSegment s;
    if (!ReadSegment(image, r, pos, expected, prev_gen, &s)) break;
    // [beyond FORMAT.md, proposed] the log never holds more than the ring:
    // once the walk has wrapped, a segment reaching the log's first block
    // overlaps it, and the writer never reuses blocks of a live segment.
    if (wrapped && pos + s.length > p.next_pos) {
      r.stopped_on_overlap = true;
      break;
    }
    prev_gen = s.gen;
    uint64_t next = RefNextPos(r, pos, s.length);
    wrapped |= next <= pos;
    pos = next;
    expected++;
    r.walked.push_back(std::move(s));
  }

  // Rule 4: D bounds what was certainly durable; later segments must be
  // whole, and the chain ends before the first that is not.
  r.durable_bound = p.last_writeback_id;
  for (const RefSegment& s : r.walked) {
    r.durable_bound = std::max(r.durable_bound, s.durable_through);
  }
  // wbctl check reads every segment's data in order: the first mismatch
  // is corruption in a segment recorded as durable, a torn tail otherwise.
  r.check_ok = true;
  for (const RefSegment& s : r.walked) {
    if (s.data_ok) continue;
    r.check_ok = s.id > r.durable_bound;
    break;
  }
  for (const RefSegment& s : r.walked) {
    if (!s.data_ok && s.id > r.durable_bound) {
      r.cut_on_bad_data = true;
      break;
    }
    for (const RefEntry& e : s.entries) {
      r.has_no_data_entry |= !e.has_data;
      if (e.kind == 3 || e.kind == 4) r.zeroed_blocks += e.aux;
    }
    r.accepted.push_back(s);
  }
  r.last_id = r.accepted.empty() ? p.last_writeback_id : r.accepted.back().id;
  r.next_pos = r.accepted.empty()
                   ? p.next_pos
                   : RefNextPos(r, r.accepted.back().pos,
                                r.accepted.back().length);
  return r;
}

std::vector<SectorSource> ExpectedSources(const RefReplay& r) {
  std::vector<SectorSource> out(r.origin_size / 512);
  // Rule 5: later segments, and later entries within one, override.
  for (const RefSegment& s : r.accepted) {
    for (const RefEntry& e : s.entries) {
      if (e.kind == 3 || e.kind == 4) {  // TRIM, ZERO: whole blocks of zeroes
        for (uint64_t b = e.block; b < e.block + e.aux; b++) {
          for (uint32_t i = 0; i < 8; i++) {
            if (SectorsInside(r, b) & (1u << i)) out[b * 8 + i] = {true, true, 0, false};
          }
        }
        continue;
      }
      // CLEAN copies (kind 2) are not indexed by replay: the origin's data.
      if (e.kind != 1) continue;
      for (uint32_t i = 0; i < 8; i++) {
        if (!(e.mask & (1u << i))) continue;
        out[e.block * 8 + i] = {true, false, e.data_pos, !e.data_ok};
      }
    }
  }
  return out;
}

bool HasHeaderAboveGen(const std::string& image, const RefReplay& r,
                       uint64_t gen) {
  for (uint64_t pos = 0; pos + r.meta_blocks <= r.ring_blocks; pos++) {
    const char* h = RingBlock(image, pos);
    if (GetFixed32(h) != 0x47534257) continue;
    uint32_t count = GetFixed32(h + 48);
    if (count > r.max_entries) continue;
    if (GetFixed32(h + 4) != Crc32c(h + 8, 56 + uint64_t{count} * 16)) continue;
    if (std::memcmp(h + 16, r.uuid.data(), 16) != 0) continue;
    if (GetFixed64(h + 40) > gen) return true;
  }
  return false;
}

}  // namespace wb::fuzz
