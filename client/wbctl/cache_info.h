// Reading a cache's metadata for people: both progress copies, a scan of
// the log, and their descriptions as aligned text (Report) or JSON. Shared by
// format, check and dump. Everything here only reads the cache.
#ifndef WRITEBOOST_CLIENT_WBCTL_CACHE_INFO_H_
#define WRITEBOOST_CLIENT_WBCTL_CACHE_INFO_H_

#include <array>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/wbctl/output.h"
#include "server/core/device/device.h"
#include "server/core/recovery.h"

namespace wbctl {

using Json = nlohmann::ordered_json;

// One progress copy (block 1 or 2), decoded on its own so that a tool can
// say which copies are valid; ReadCacheHead only keeps the newer one.
struct ProgressCopy {
  bool valid = false;
  std::string error;  // why not, when !valid
  wb::ProgressRecord record;
};
absl::StatusOr<std::array<ProgressCopy, 2>> ReadProgressCopies(
    wb::Device& cache, const wb::Uuid& uuid);

struct SegmentSummary {
  uint64_t id = 0;
  uint64_t pos = 0;
  uint64_t gen = 0;
  uint64_t durable_through = 0;
  bool starts_epoch = false;
  uint32_t entries = 0;
  uint32_t data_blocks = 0;
};

// The accepted log, as ReplayLog sees it, with counts.
struct LogScan {
  wb::ReplayReport report;
  uint64_t dirty_entries = 0;            // DIRTY entries in accepted segments
  uint64_t distinct_dirty_blocks = 0;    // origin blocks they cover
  std::vector<SegmentSummary> segments;  // only when asked for
};

// Runs ReplayLog over head's log. verify_all_data checks every data block's
// crc (wbctl check); progress(done, total) as ReplayOptions. Errors are
// ReplayLog's: kDataLoss for a corrupt segment that was durable, or I/O.
absl::StatusOr<LogScan> ScanLog(
    wb::Device& cache, const wb::CacheHead& head, bool verify_all_data,
    bool keep_segments, std::function<void(uint64_t, uint64_t)> progress);

void DescribeSuperblock(const wb::Superblock& sb, const wb::Geometry& geo,
                        Report* r);
Json SuperblockJson(const wb::Superblock& sb, const wb::Geometry& geo);

// `current` is the record in use (ReadCacheHead's); with_tunables adds the
// stored tunables.
void DescribeProgress(const std::array<ProgressCopy, 2>& copies,
                      const wb::ProgressRecord& current, bool with_tunables,
                      Report* r);
Json ProgressJson(const std::array<ProgressCopy, 2>& copies,
                  const wb::ProgressRecord& current);

void DescribeLog(const LogScan& scan, const wb::Geometry& geo, Report* r);
Json LogJson(const LogScan& scan, const wb::Geometry& geo);
Json SegmentSummaryJson(const SegmentSummary& s);

}  // namespace wbctl

#endif  // WRITEBOOST_CLIENT_WBCTL_CACHE_INFO_H_
