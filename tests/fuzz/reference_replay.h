// A second, independent reading of docs/FORMAT.md's recovery rules, for the
// fuzzer to hold the core's recovery against. It parses the bytes itself
// (nothing from server/core/format or recovery) and is written for clarity,
// not speed: it works on a whole image in memory.
//
// Where the core refuses something that FORMAT.md does not list, the rule is
// marked "[beyond FORMAT.md]" in reference_replay.cc; those are the places
// where the document lags the code.
#ifndef WRITEBOOST_TESTS_FUZZ_REFERENCE_REPLAY_H_
#define WRITEBOOST_TESTS_FUZZ_REFERENCE_REPLAY_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace wb::fuzz {

struct RefEntry {
  uint64_t block = 0;  // origin block
  uint8_t mask = 0;
  uint8_t kind = 0;
  uint32_t crc = 0;
  bool has_data = false;
  uint32_t aux = 0;       // TRIM and ZERO: blocks in the run
  uint64_t data_pos = 0;  // ring block of its data, when has_data
  bool data_ok = false;   // the data block matches crc
};

struct RefSegment {
  uint64_t id = 0;
  uint64_t pos = 0;
  uint64_t gen = 0;
  uint64_t durable_through = 0;
  uint16_t flags = 0;
  uint64_t length = 0;  // blocks on the ring
  uint32_t data_blocks = 0;
  std::vector<RefEntry> entries;
  bool data_ok = true;  // every data block matches its crc
};

struct RefProgress {
  uint64_t seq = 0;
  uint64_t last_writeback_id = 0;
  uint64_t next_pos = 0;
  uint64_t gen = 0;
  uint64_t gen_start_id = 0;
};

struct RefReplay {
  // Rules 1 and 2: the head. When !head_ok nothing below it is set.
  bool head_ok = false;
  std::string refusal;
  std::array<uint8_t, 16> uuid{};
  uint32_t segment_size = 0;
  uint32_t seg_blocks = 0;
  uint32_t meta_blocks = 0;
  uint32_t max_entries = 0;
  uint64_t ring_blocks = 0;
  uint64_t origin_size = 0;
  uint64_t origin_blocks = 0;
  std::string origin_identity;
  std::array<bool, 2> copy_valid{};
  int copies_valid = 0;
  RefProgress progress;  // the copy in use

  // Rule 3: the chain of segments whose headers pass.
  std::vector<RefSegment> walked;
  // Rule 4: D, and the chain after the torn-data cut (what recovery uses).
  uint64_t durable_bound = 0;
  std::vector<RefSegment> accepted;
  bool cut_on_bad_data = false;
  bool stopped_on_overlap = false;  // the walk ran into its own first segment
  bool has_no_data_entry = false;   // an accepted entry of a kind without data
  uint64_t zeroed_blocks = 0;       // blocks of the accepted TRIM/ZERO runs
  uint64_t last_id = 0;   // last accepted id (last_writeback_id if none)
  uint64_t next_pos = 0;  // where id last_id + 1 goes

  // wbctl check verifies every data block: a mismatch in a segment recorded
  // as durable (id <= D) makes the cache corrupt.
  bool check_ok = false;
};

// Recovery of a whole cache image by FORMAT.md.
RefReplay ReferenceReplay(const std::string& image);

// The ring position after a segment at pos spanning len blocks (FORMAT.md,
// "Placement").
uint64_t RefNextPos(const RefReplay& r, uint64_t pos, uint64_t len);

// What a read of one origin sector must return after recovery (rule 5):
// the newest accepted copy holding it, or the origin.
struct SectorSource {
  bool cached = false;
  bool zero = false;        // a TRIM or ZERO entry: reads as zeroes
  uint64_t ring_block = 0;  // when cached
  bool corrupt = false;     // its block does not match its crc
};
std::vector<SectorSource> ExpectedSources(const RefReplay& r);

// Whether the ring holds a segment header (magic, crc, this cache set) of a
// generation above `gen`, anywhere: a walk after the next open may take it.
bool HasHeaderAboveGen(const std::string& image, const RefReplay& r,
                       uint64_t gen);

}  // namespace wb::fuzz

#endif  // WRITEBOOST_TESTS_FUZZ_REFERENCE_REPLAY_H_
