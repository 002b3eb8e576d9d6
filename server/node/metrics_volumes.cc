#include "server/node/metrics_volumes.h"

#include <prometheus/metric_family.h>

#include "server/core/format/layout.h"
#include "server/core/volume.h"
#include "server/node/metrics_families.h"

namespace wb::node {
namespace {

using prometheus::MetricType;
constexpr MetricType kCounter = MetricType::Counter;
constexpr MetricType kGauge = MetricType::Gauge;
constexpr MetricType kHistogram = MetricType::Histogram;

// Known from the registry, whatever the volume's state.
constexpr MetricDef kInfo = {
    "writeboost_volume_info", kGauge,
    "Always 1, for every attached volume; labels origin and cache are its device paths."};
constexpr MetricDef kState = {
    "writeboost_volume_state", kGauge,
    "1 for the volume's current state (opening, serving, failed, detaching), 0 for the others."};
constexpr MetricDef kSize = {
    "writeboost_volume_size_bytes", kGauge, "Size of the volume (its origin); 0 until opened."};
constexpr MetricDef kRambuf = {
    "writeboost_rambuf_size_bytes", kGauge,
    "RAM buffer given to the volume (the bytes of acknowledged writes it can hold)."};
constexpr MetricDef kOpenDuration = {
    "writeboost_volume_open_duration_seconds", kGauge,
    "How long the volume's last open took, devices and log replay, until it served."};

// From the core's status (docs/CORE.md), for volumes that opened.
constexpr MetricDef kBlockAccesses = {
    "writeboost_block_accesses_total", kCounter,
    "4 KiB blocks touched by reads and writes, by the seed's stat classes: op, result "
    "(hit: the block was cached), rambuf (in a RAM buffer), full_block (all of the "
    "block). Reset by the clear_stat message."};
constexpr MetricDef kSegmentsFlushed = {
    "writeboost_segments_flushed_total", kCounter,
    "Log segments made durable on the cache device (the newest durable segment id)."};
constexpr MetricDef kSegmentsPartial = {
    "writeboost_segments_partial_total", kCounter,
    "Segments sealed before they were full (FUA, Flush, sync_data_interval) since open."};
constexpr MetricDef kGroupCommits = {
    "writeboost_group_commits_total", kCounter,
    "Cache device flushes made for FUA writes and Flushes (one per group commit) since open."};
constexpr MetricDef kEpochCuts = {
    "writeboost_internal_epoch_cuts_total", kCounter,
    "Writeback epochs ended by the node itself, not by a Flush or FUA write, since open."};
constexpr MetricDef kWritebackBytes = {
    "writeboost_writeback_bytes_total", kCounter, "Bytes written back to the origin since open."};
constexpr MetricDef kWritebackBatches = {
    "writeboost_writeback_batches_total", kCounter,
    "Writeback batches (sorted, merged runs of segments) since open."};
constexpr MetricDef kReadCacheStaged = {
    "writeboost_read_cache_staged_blocks_total", kCounter,
    "4 KiB blocks that read misses staged into the cache as clean copies, since open."};
constexpr MetricDef kReadCacheHits = {
    "writeboost_read_cache_hit_blocks_total", kCounter,
    "4 KiB blocks read from clean copies (staged reads, written-back blocks), since open."};
constexpr MetricDef kCleanBlocks = {
    "writeboost_clean_blocks", kGauge,
    "Clean 4 KiB copies the cache holds for reads (lost on restart)."};
constexpr MetricDef kZeroTrimBlocks = {
    "writeboost_zero_trim_blocks_total", kCounter,
    "4 KiB blocks of WriteZeroes (kind=zero) and Trim (kind=trim) recorded in the log as "
    "ZERO and TRIM entries, and trimmed blocks discarded on the origin (kind=discard), since "
    "open."};
constexpr MetricDef kDeviceErrors = {
    "writeboost_device_errors_total", kCounter,
    "Failed device operations since open, by device (cache, origin) and kind (io: an I/O "
    "error; checksum: cached data that failed its checksum)."};
constexpr MetricDef kDirtyBlocks = {
    "writeboost_dirty_blocks", kGauge, "Cached 4 KiB blocks not yet written back to the origin."};
constexpr MetricDef kDirtyBytes = {
    "writeboost_dirty_bytes", kGauge, "Bytes of the dirty blocks (dirty_blocks * 4096)."};
constexpr MetricDef kDirtyRatio = {
    "writeboost_dirty_ratio", kGauge, "Dirty blocks over the blocks the cache can hold (0-1)."};
constexpr MetricDef kDirtySegments = {
    "writeboost_dirty_segments", kGauge, "Log segments not yet written back."};
constexpr MetricDef kCapacity = {
    "writeboost_cache_capacity_bytes", kGauge, "Data the cache's log can hold when full."};
constexpr MetricDef kSegments = {
    "writeboost_cache_segments", kGauge, "Full-size segments the cache's log can hold."};
constexpr MetricDef kFreeSegments = {
    "writeboost_cache_free_segments", kGauge,
    "Full-size segments that fit in the free part of the log."};
constexpr MetricDef kUsedRatio = {
    "writeboost_cache_used_ratio", kGauge,
    "Share of the log in use, dirty or clean (0-1); writeback turns urgent at 0.75."};
constexpr MetricDef kWritersWaiting = {
    "writeboost_writers_waiting", kGauge, "Writes blocked now because the log is full."};
constexpr MetricDef kLogFullWaits = {
    "writeboost_log_full_waits_total", kCounter,
    "Writes that had to wait for room in the cache's log (writeback too slow)."};
constexpr MetricDef kWritebackRate = {
    "writeboost_writeback_rate_bytes_per_second", kGauge,
    "Writeback throughput as the core measures it, smoothed over about 5 s."};
constexpr MetricDef kBacklog = {
    "writeboost_writeback_backlog_epochs", kGauge, "Epochs not yet written back."};
constexpr MetricDef kOldestDirty = {
    "writeboost_oldest_dirty_age_seconds", kGauge,
    "Age of the oldest data not yet on the origin: the origin's recovery point if the "
    "cache were lost. 0 when nothing is dirty."};
constexpr MetricDef kOriginUtil = {
    "writeboost_origin_utilization_ratio", kGauge,
    "Share of the last 0.5 s the origin was busy with foreground reads (0-1)."};
constexpr MetricDef kOriginLatency = {
    "writeboost_origin_read_latency_seconds", kGauge,
    "Mean latency of foreground origin reads over the last 0.5 s."};
constexpr MetricDef kOriginIoLatency = {
    "writeboost_origin_io_latency_seconds", kHistogram,
    "Latency of the node's I/O to the origin: op=write is writeback, op=read is "
    "cache misses."};
constexpr MetricDef kGrant = {
    "writeboost_writeback_grant_bytes_per_second", kGauge,
    "Writeback pace granted by the controller; 0 when writeback is paced locally."};
constexpr MetricDef kLeaseHeld = {
    "writeboost_pacing_lease_held", kGauge,
    "1 while a controller lease covers the volume's writeback; only on nodes started "
    "with --controller."};
constexpr MetricDef kIndexBytes = {
    "writeboost_index_memory_bytes", kGauge, "Memory of the volume's index structures."};

constexpr VolumeState kStates[] = {VolumeState::kOpening, VolumeState::kServing,
                                   VolumeState::kFailed, VolumeState::kDetaching};

const char* Bool(bool b) { return b ? "true" : "false"; }

void AddStatus(const std::string& volume, const VolumeStatus& st, FamilySet* out) {
  const MetricLabels v = {{"volume", volume}};
  auto add = [&](const MetricDef& def, double value) { out->Add(def, v, value); };
  for (int i = 0; i < 16; i++) {
    bool write = i & 8, hit = i & 4, rambuf = i & 2, full = i & 1;
    out->Add(kBlockAccesses,
             {{"volume", volume}, {"op", write ? "write" : "read"},
              {"result", hit ? "hit" : "miss"}, {"rambuf", Bool(rambuf)},
              {"full_block", Bool(full)}},
             static_cast<double>(st.stat[StatIndex(write, hit, rambuf, full)]));
  }
  add(kSegmentsFlushed, static_cast<double>(st.last_flushed_id));
  add(kSegmentsPartial, static_cast<double>(st.nr_partial_flushed));
  add(kGroupCommits, static_cast<double>(st.group_commits));
  add(kEpochCuts, static_cast<double>(st.internal_epoch_cuts));
  add(kWritebackBytes, static_cast<double>(st.writeback_bytes));
  add(kWritebackBatches, static_cast<double>(st.writeback_batches));
  add(kReadCacheStaged, static_cast<double>(st.read_cache_staged));
  add(kReadCacheHits, static_cast<double>(st.read_cache_hits));
  add(kCleanBlocks, static_cast<double>(st.clean_blocks));
  for (auto [kind, n] : {std::pair<const char*, uint64_t>{"zero", st.zero_blocks},
                         {"trim", st.trim_blocks}, {"discard", st.discarded_blocks}}) {
    out->Add(kZeroTrimBlocks, {{"volume", volume}, {"kind", kind}}, static_cast<double>(n));
  }
  auto error = [&](const char* device, const char* kind, uint64_t n) {
    out->Add(kDeviceErrors, {{"volume", volume}, {"device", device}, {"kind", kind}},
             static_cast<double>(n));
  };
  error("cache", "io", st.cache_errors);
  error("cache", "checksum", st.checksum_errors);
  error("origin", "io", st.origin_errors);

  add(kDirtyBlocks, static_cast<double>(st.nr_dirty_cache_blocks));
  add(kDirtyBytes, static_cast<double>(st.nr_dirty_cache_blocks * kBlockSize));
  add(kDirtyRatio, st.nr_cache_blocks == 0 ? 0.0
                                           : static_cast<double>(st.nr_dirty_cache_blocks) /
                                                 static_cast<double>(st.nr_cache_blocks));
  add(kDirtySegments, static_cast<double>(st.dirty_segments));
  add(kCapacity, static_cast<double>(st.nr_cache_blocks * kBlockSize));
  add(kSegments, static_cast<double>(st.nr_segments));
  add(kFreeSegments, st.segment_size == 0
                         ? 0.0
                         : static_cast<double>(st.free_blocks * kBlockSize / st.segment_size));
  add(kUsedRatio, st.ring_blocks == 0 ? 0.0
                                      : 1.0 - static_cast<double>(st.free_blocks) /
                                                  static_cast<double>(st.ring_blocks));
  add(kWritersWaiting, static_cast<double>(st.writers_waiting));
  add(kLogFullWaits, static_cast<double>(st.log_full_waits));
  add(kWritebackRate, st.writeback_rate_bps);
  add(kBacklog, static_cast<double>(st.dirty_epochs));
  add(kOldestDirty, st.oldest_dirty_age_s);
  add(kOriginUtil, st.origin_util_percent / 100.0);
  add(kOriginLatency, st.origin_read_latency_ms / 1000.0);
  add(kIndexBytes, static_cast<double>(st.index_bytes));
}

}  // namespace

void VolumeMetrics::OnVolumeHealth(const std::string& volume, bool serving) {
  absl::MutexLock l(&mu_);
  absl::Time now = absl::Now();
  if (!serving) {
    down_since_[volume] = now;
    return;
  }
  auto it = down_since_.find(volume);
  if (it == down_since_.end()) return;
  open_seconds_[volume] = absl::ToDoubleSeconds(now - it->second);
  down_since_.erase(it);
}

std::vector<prometheus::MetricFamily> VolumeMetrics::Collect() const {
  FamilySet out;
  for (const std::shared_ptr<VolumeEntry>& e : registry_->List()) {
    const std::string& name = e->name();
    const MetricLabels v = {{"volume", name}};
    out.Add(kInfo, {{"volume", name}, {"origin", e->config().origin},
                    {"cache", e->config().cache}}, 1);

    VolumeState state = e->state();
    VolumeStatus st;
    bool have_status = false;
    if (absl::StatusOr<IoRef> ref = e->BeginIo(); ref.ok()) {
      st = (*ref)->GetStatus();
      have_status = true;
      // The registry notices a run-time failure within a second; the
      // status knows it at once.
      if (st.failed) state = VolumeState::kFailed;
    }
    for (VolumeState s : kStates) {
      out.Add(kState, {{"volume", name}, {"state", VolumeStateName(s)}}, s == state ? 1 : 0);
    }
    out.Add(kSize, v, static_cast<double>(e->size()));
    out.Add(kRambuf, v, static_cast<double>(e->rambuf_size()));
    {
      absl::MutexLock l(&mu_);
      auto it = open_seconds_.find(name);
      if (it != open_seconds_.end()) out.Add(kOpenDuration, v, it->second);
    }
    if (have_status) AddStatus(name, st, &out);
    for (bool write : {false, true}) {
      OriginPacer::Histogram h = e->pacer().Latency(write);
      out.AddHistogram(kOriginIoLatency, {{"volume", name}, {"op", write ? "write" : "read"}},
                       kOriginLatencyBounds, h.buckets, h.sum_seconds);
    }
    out.Add(kGrant, v, e->pacer().granted_bytes_per_second());
    if (registry_->has_controller()) out.Add(kLeaseHeld, v, e->pacer().lease_held() ? 1 : 0);
  }
  return out.Take();
}

}  // namespace wb::node
