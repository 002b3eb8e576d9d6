#include "server/node/admin_convert.h"

#include "absl/strings/str_cat.h"
#include "server/core/device/cache_set.h"
#include "server/core/format/superblock.h"

namespace wb::node {

namespace v1 = writeboost::v1;

v1::VolumeState ToProto(VolumeState s) {
  switch (s) {
    case VolumeState::kOpening: return v1::VOLUME_STATE_OPENING;
    case VolumeState::kServing: return v1::VOLUME_STATE_SERVING;
    case VolumeState::kFailed: return v1::VOLUME_STATE_FAILED;
    case VolumeState::kDetaching: return v1::VOLUME_STATE_DETACHING;
  }
  return v1::VOLUME_STATE_UNSPECIFIED;
}

void FillVolumeInfo(const VolumeEntry& e, bool read_only, v1::VolumeInfo* out) {
  out->set_name(e.name());
  out->set_size_bytes(e.size());
  out->set_state(ToProto(e.state()));
  out->set_origin(e.config().origin);
  for (const std::string& c : CachePaths(e.config())) out->add_caches(c);
  out->set_read_only(read_only);
}

void FillTunables(const Tunables& t,
                  google::protobuf::RepeatedPtrField<v1::Tunable>* out) {
  out->Clear();
  for (const TunableInfo& info : AllTunables()) {
    v1::Tunable* p = out->Add();
    p->set_name(info.name);
    p->set_value(t.*info.field);
    p->set_min(info.min);
    p->set_max(info.max);
    p->set_unit(info.unit);
    p->set_help(info.help);
  }
}

namespace {

v1::CacheLayout ToProtoLayout(uint32_t layout) {
  switch (layout) {
    case kLayoutStripe: return v1::CACHE_LAYOUT_STRIPE;
    case kLayoutMirror: return v1::CACHE_LAYOUT_MIRROR;
    default: return v1::CACHE_LAYOUT_SINGLE;
  }
}

// One CacheDevice per member of a set, in slot order. A stale member (behind
// the set, never read) is out of service like a failed one.
void FillCacheSetDevices(const CacheSet& set, v1::VolumeStatus* out) {
  CacheSetStatus st = set.GetStatus();
  out->set_cache_layout(ToProtoLayout(st.layout));
  out->clear_cache_devices();
  for (const CacheMemberStatus& m : st.members) {
    v1::CacheDevice* dev = out->add_cache_devices();
    dev->set_index(m.index);
    dev->set_path(m.name);
    dev->set_size_bytes(m.size);
    dev->set_errors(m.errors);
    dev->set_health(m.health == MemberHealth::kInSync ? v1::DEVICE_HEALTH_HEALTHY
                                                      : v1::DEVICE_HEALTH_FAILED);
  }
}

}  // namespace

void FillVolumeStatus(VolumeEntry& e, v1::VolumeStatus* out) {
  out->set_name(e.name());
  out->set_state(ToProto(e.state()));
  out->set_failure(e.failure());
  out->set_origin(e.config().origin);
  out->set_cache_layout(ToProtoLayout(e.config().cache_layout));
  out->set_rambuf_size(e.rambuf_size());
  v1::CacheDevice* dev = out->add_cache_devices();
  dev->set_index(0);
  dev->set_path(e.config().cache);
  for (size_t i = 0; i < e.config().more_caches.size(); i++) {
    v1::CacheDevice* more = out->add_cache_devices();
    more->set_index(static_cast<uint32_t>(i + 1));
    more->set_path(e.config().more_caches[i]);
  }

  absl::StatusOr<IoRef> vol = e.BeginIo();
  if (!vol.ok()) {
    dev->set_health(e.state() == VolumeState::kFailed ? v1::DEVICE_HEALTH_FAILED
                                                       : v1::DEVICE_HEALTH_UNSPECIFIED);
    return;
  }
  VolumeStatus st = (*vol)->GetStatus();
  out->set_size_bytes(st.size_bytes);
  out->set_cursor_pos(st.cursor_pos);
  out->set_nr_cache_blocks(st.nr_cache_blocks);
  out->set_nr_segments(st.nr_segments);
  out->set_current_id(st.current_id);
  out->set_last_flushed_id(st.last_flushed_id);
  out->set_last_writeback_id(st.last_writeback_id);
  out->set_nr_dirty_cache_blocks(st.nr_dirty_cache_blocks);
  out->set_nr_partial_flushed(st.nr_partial_flushed);
  uint64_t read_hits = 0, read_misses = 0;
  for (int i = 0; i < 16; i++) {
    v1::StatCounter* c = out->add_stats();
    c->set_write(i & 8);
    c->set_hit(i & 4);
    c->set_on_buffer(i & 2);
    c->set_full_size(i & 1);
    c->set_count(st.stat[i]);
    if (!(i & 8)) ((i & 4) ? read_hits : read_misses) += st.stat[i];
  }
  out->set_segment_size(st.segment_size);
  out->set_ring_blocks(st.ring_blocks);
  out->set_free_blocks(st.free_blocks);
  out->set_dirty_segments(st.dirty_segments);
  out->set_writeback_bytes(st.writeback_bytes);
  out->set_writeback_batches(st.writeback_batches);
  out->set_origin_errors(st.origin_errors);
  out->set_cache_errors(st.cache_errors);
  out->set_checksum_errors(st.checksum_errors);
  out->set_writers_waiting(st.writers_waiting);
  out->set_group_commits(st.group_commits);
  out->set_index_bytes(st.index_bytes);
  out->set_oldest_dirty_age_seconds(st.oldest_dirty_age_s);
  out->set_dirty_epochs(st.dirty_epochs);
  out->set_internal_epoch_cuts(st.internal_epoch_cuts);
  out->set_last_origin_error(st.last_origin_error);
  out->set_generation(st.gen);
  out->set_writeback_rate_bytes_per_second(st.writeback_rate_bps);
  if (st.failed) out->set_failure(st.failure);
  FillTunables(st.tunables, out->mutable_tunables());
  out->set_writeback_mode(st.tunables.writeback_mode == 1 ? v1::WRITEBACK_MODE_SORTED
                                                          : v1::WRITEBACK_MODE_ORDERED);
  v1::ReadCacheStats* rc = out->mutable_read_cache();
  rc->set_enabled(st.tunables.read_cache_threshold != 0);
  rc->set_threshold(st.tunables.read_cache_threshold);
  rc->set_read_hits(read_hits);
  rc->set_read_misses(read_misses);
  rc->set_staged_blocks(st.read_cache_staged);
  rc->set_cache_hit_blocks(st.read_cache_hits);
  rc->set_clean_blocks(st.clean_blocks);
  out->set_zero_blocks(st.zero_blocks);
  out->set_trim_blocks(st.trim_blocks);
  out->set_discarded_blocks(st.discarded_blocks);
  dev->set_size_bytes(st.ring_blocks * 4096);
  dev->set_errors(st.cache_errors);
  dev->set_health(st.failed ? v1::DEVICE_HEALTH_FAILED
                  : st.cache_errors > 0 ? v1::DEVICE_HEALTH_DEGRADED
                                        : v1::DEVICE_HEALTH_HEALTHY);
  if (const CacheSet* set = e.cache_set(); set != nullptr) {
    FillCacheSetDevices(*set, out);
  }
}

absl::StatusOr<VolumeConfig> SpecToConfig(const v1::VolumeSpec& spec) {
  if (absl::Status s = CheckVolumeName(spec.name()); !s.ok()) return s;
  if (spec.origin().empty() || spec.caches().empty()) {
    return absl::InvalidArgumentError("a volume needs an origin and a cache device");
  }
  // Counted before anything is copied: the spec may hold a million paths.
  if (spec.caches_size() > static_cast<int>(kMaxCacheDevices)) {
    return absl::InvalidArgumentError(absl::StrCat(
        spec.caches_size(), " cache devices; a set has at most ",
        kMaxCacheDevices));
  }
  VolumeConfig cfg;
  switch (spec.cache_layout()) {
    case v1::CACHE_LAYOUT_UNSPECIFIED:
    case v1::CACHE_LAYOUT_SINGLE: cfg.cache_layout = kLayoutSingle; break;
    case v1::CACHE_LAYOUT_STRIPE: cfg.cache_layout = kLayoutStripe; break;
    case v1::CACHE_LAYOUT_MIRROR: cfg.cache_layout = kLayoutMirror; break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown cache layout ", spec.cache_layout()));
  }
  if (spec.caches_size() > 1 && cfg.cache_layout == kLayoutSingle) {
    return absl::InvalidArgumentError(absl::StrCat(
        spec.caches_size(), " cache devices need the stripe or mirror layout"));
  }
  cfg.name = spec.name();
  cfg.origin = spec.origin();
  cfg.cache = spec.caches(0);
  for (int i = 1; i < spec.caches_size(); i++) cfg.more_caches.push_back(spec.caches(i));
  cfg.rambuf_size = spec.rambuf_size();
  cfg.segment_size = spec.segment_size();
  cfg.origin_group = spec.origin_group();
  if (absl::Status s = CheckVolumeLimits(cfg); !s.ok()) return s;
  for (const auto& [name, value] : spec.tunables()) {
    if (!GetTunable(Tunables{}, name).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown tunable ", QuoteBounded(name)));
    }
    if (absl::Status s = SetVolumeKey(&cfg, name, absl::StrCat(value)); !s.ok()) return s;
  }
  return cfg;
}

}  // namespace wb::node
