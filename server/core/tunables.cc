#include "server/core/tunables.h"

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace wb {

const std::vector<TunableInfo>& AllTunables() {
  static const std::vector<TunableInfo> kAll = {
      {"writeback_threshold", &Tunables::writeback_threshold, 0, 100, "%",
       "write back autonomously while origin utilisation is below this; 0 "
       "writes back only when urgent or on drop_caches"},
      {"nr_max_batched_writeback", &Tunables::nr_max_batched_writeback, 1,
       1024, "segments", "writeback batch size, in full segments' worth of data"},
      {"update_sb_record_interval", &Tunables::update_sb_record_interval, 0,
       3600, "s", "longest the durable progress record may lag writeback"},
      {"sync_data_interval", &Tunables::sync_data_interval, 0, 3600, "s",
       "seal and flush a partial RAM buffer this often; 0 disables"},
      {"read_cache_threshold", &Tunables::read_cache_threshold, 0, 127,
       "blocks", "read caching: not yet implemented, accepted and stored"},
      {"write_around_mode", &Tunables::write_around_mode, 0, 1, "bool",
       "1: writes go to the origin, not the log (setting it drains dirty "
       "data first); reads still hit the cache"},
      {"barrier_deadline_ms", &Tunables::barrier_deadline_ms, 1, 10000, "ms",
       "longest a FUA write waits to start behind a busy flusher"},
      {"writeback_mode", &Tunables::writeback_mode, 0, 1, "enum",
       "0 ordered (origin always at a Flush boundary); 1 sorted (faster, "
       "origin inconsistent if the cache is lost)"},
      {"read_latency_target_ms", &Tunables::read_latency_target_ms, 0, 10000,
       "ms", "pause non-urgent writeback while foreground origin reads are "
       "slower than this on average; 0 disables"},
      {"sequential_cutoff", &Tunables::sequential_cutoff, 0, 1u << 30, "bytes",
       "a sequential write run longer than this goes straight to the origin "
       "while nothing is dirty; 0 disables"},
  };
  return kAll;
}

static const TunableInfo* Find(absl::string_view name) {
  for (const auto& info : AllTunables()) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

static std::string KnownNames() {
  std::vector<std::string> names;
  for (const auto& info : AllTunables()) names.push_back(info.name);
  return absl::StrJoin(names, ", ");
}

absl::Status SetTunable(Tunables* t, absl::string_view name, uint64_t value) {
  const TunableInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrFormat(
        "unknown tunable \"%s\"; known: %s", name, KnownNames()));
  }
  if (value < info->min || value > info->max) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s = %u is out of range; valid: %u to %u %s", name, value, info->min,
        info->max, info->unit));
  }
  t->*(info->field) = static_cast<uint32_t>(value);
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> GetTunable(const Tunables& t, absl::string_view name) {
  const TunableInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrFormat(
        "unknown tunable \"%s\"; known: %s", name, KnownNames()));
  }
  return t.*(info->field);
}

absl::Status ValidateTunables(const Tunables& t) {
  Tunables copy = t;
  for (const auto& info : AllTunables()) {
    absl::Status s = SetTunable(&copy, info.name, t.*(info.field));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace wb
