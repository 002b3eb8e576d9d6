// Run-time tunables, with the seed's names. They persist in the progress
// record (docs/FORMAT.md) and so survive restarts.
#ifndef WRITEBOOST_CORE_TUNABLES_H_
#define WRITEBOOST_CORE_TUNABLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wb {

inline constexpr uint32_t kWritebackOrdered = 0;  // epoch by epoch
inline constexpr uint32_t kWritebackSorted = 1;   // no origin consistency

struct Tunables {
  uint32_t writeback_threshold = 70;       // % origin utilisation; 0 = only urgent
  uint32_t nr_max_batched_writeback = 32;  // segments per writeback batch
  uint32_t update_sb_record_interval = 1;  // s the progress record may lag
  uint32_t sync_data_interval = 5;         // s between forced seals; 0 = off
  uint32_t read_cache_threshold = 0;       // not yet implemented; 0 = off
  uint32_t write_around_mode = 0;          // 1: writes bypass the log
  uint32_t barrier_deadline_ms = 10;       // max FUA wait behind a busy flusher
  uint32_t writeback_mode = 0;             // kWritebackOrdered or kWritebackSorted
  uint32_t read_latency_target_ms = 0;     // pause writeback above it; 0 = off
  uint32_t sequential_cutoff = 0;          // bytes; longer runs bypass; 0 = off

  bool operator==(const Tunables&) const = default;
};

struct TunableInfo {
  const char* name;
  uint32_t Tunables::*field;
  uint32_t min;
  uint32_t max;
  const char* unit;
  const char* help;
};

// Every tunable, in documentation order.
const std::vector<TunableInfo>& AllTunables();

// Sets name = value after checking its range. kNotFound for an unknown name
// (listing the known ones), kOutOfRange with the valid range otherwise.
absl::Status SetTunable(Tunables* t, absl::string_view name, uint64_t value);
absl::StatusOr<uint32_t> GetTunable(const Tunables& t, absl::string_view name);

// Checks every field (e.g. after reading them back from disk).
absl::Status ValidateTunables(const Tunables& t);

}  // namespace wb

#endif  // WRITEBOOST_CORE_TUNABLES_H_
