#include "tests/crash/stale_plant.h"

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "absl/strings/str_format.h"
#include "server/core/device/aligned_io.h"
#include "server/core/recovery.h"
#include "server/core/util/crc32c.h"
#include "tests/crash/value_model.h"

namespace wb::crash {

std::string PlantStaleSegment(Device& cache, uint64_t seed) {
  absl::StatusOr<CacheHead> head = ReadCacheHead(cache);
  if (!head.ok()) return "";
  absl::StatusOr<ReplayReport> report = ReplayLog(cache, *head, {}, nullptr);
  if (!report.ok()) return "";
  const Geometry& g = head->geo;
  const uint64_t pos = report->next_pos;
  // The free run after the log's end: up to its oldest live segment, or to
  // the ring's end when the live part does not wrap past it.
  uint64_t free = g.ring_blocks - pos;
  if (report->segments_accepted > 0 && pos <= report->first_pos) {
    free = report->first_pos - pos;
  }
  if (free <= g.meta_blocks) return "";
  const uint64_t nr_data = std::min<uint64_t>({8, g.max_data_blocks,
                                                free - g.meta_blocks,
                                                g.origin_blocks});

  std::mt19937_64 rng(seed);
  const uint64_t planted_id = kPlantedIdBase + seed % 1000000;
  AlignedBuffer buf((g.meta_blocks + nr_data) * uint64_t{kBlockSize});
  std::vector<SegmentEntry> entries;
  std::set<uint64_t> blocks;
  while (blocks.size() < nr_data) blocks.insert(rng() % g.origin_blocks);
  for (uint64_t block : blocks) {
    char* data = buf.data() + (g.meta_blocks + entries.size()) * uint64_t{kBlockSize};
    SegmentEntry e;
    e.origin_block = block;
    e.mask = g.ValidSectorMask(block);
    for (uint32_t i = 0; i < kSectorsPerBlock; i++) {
      if (e.mask & (1u << i)) FillSector(block * 8 + i, planted_id, data + i * 512);
    }
    e.data_crc = Crc32c(data, kBlockSize);
    entries.push_back(e);
  }
  // One id skipped; the generation the progress record expects for it.
  const ProgressRecord& p = head->progress;
  const uint64_t id = report->last_id + 2;
  const uint64_t gen = id >= p.gen_start_id ? p.gen : p.gen - 1;
  EncodeSegmentMeta(id, head->sb.uuid, report->last_id, gen, 0, entries, g,
                    buf.data());
  if (!cache.Write(Geometry::RingOffset(pos), buf.data(), buf.size()).ok() ||
      !cache.Flush().ok()) {
    return "";
  }
  return absl::StrFormat(
      "planted segment %u (generation %u, %u blocks of %s) at block %u, "
      "right after segment %u",
      id, gen, nr_data, ValueName(planted_id), pos, report->last_id);
}

}  // namespace wb::crash
