#include "tests/crash/rig.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/core/assemble_cache_set.h"
#include "server/core/device/cache_set.h"
#include "server/core/device/device_ref.h"
#include "server/core/format_cache_set.h"
#include "tests/crash/slice_device.h"
#include "tests/crash/value_model.h"

namespace wb::crash {
namespace {

CrashDeviceOptions DeviceOptions(const char* name, bool async, uint64_t seed,
                                 uint32_t block_size = 512) {
  CrashDeviceOptions o;
  o.logical_block_size = block_size;
  o.name = name;
  o.async_completion = async;
  o.seed = seed;
  o.max_delay = absl::Microseconds(300);
  return o;
}

// Cache device i's part of a cache image (the whole image when single).
std::string MemberImage(const RigConfig& config, std::string& image, int i) {
  if (config.cache_layout == 0) return std::move(image);
  return image.substr(i * config.cache_size, config.cache_size);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Device>> HarnessCache(
    const RigConfig& config, const std::vector<Device*>& members) {
  if (config.cache_layout == 0) {
    return std::unique_ptr<Device>(std::make_unique<DeviceRef>(members[0]));
  }
  std::vector<std::unique_ptr<Device>> refs;
  for (Device* d : members) refs.push_back(std::make_unique<DeviceRef>(d));
  absl::StatusOr<std::unique_ptr<CacheSet>> set =
      AssembleCacheSet(std::move(refs));
  if (!set.ok()) return set.status();
  return std::unique_ptr<Device>(*std::move(set));
}

std::vector<std::unique_ptr<Device>> CacheMembersOf(const RigConfig& config,
                                                    Device* whole) {
  std::vector<std::unique_ptr<Device>> out;
  if (config.cache_layout == 0) {
    out.push_back(std::make_unique<DeviceRef>(whole));
    return out;
  }
  for (uint32_t i = 0; i < config.cache_members; i++) {
    out.push_back(std::make_unique<SliceDevice>(
        whole, i * config.cache_size, config.cache_size,
        absl::StrCat("cache", i)));
  }
  return out;
}

OpenOptions HarnessOpenOptions(const RigConfig& config) {
  OpenOptions oo;
  oo.origin_identity = kOriginIdentity;
  oo.rambuf_size = config.rambuf_size;
  oo.io_timeout = config.io_timeout;
  oo.enable_writeback = config.enable_writeback;
  oo.writeback_depth = 4;
  return oo;
}

Rig::Rig(const RigConfig& config, uint64_t seed)
    : Rig(config, seed,
          std::string(config.cache_size * std::max(1u, config.cache_members),
                      '\0'),
          InitialOriginImage(config.origin_size)) {}

Rig::Rig(const RigConfig& config, uint64_t seed, std::string cache_image,
         std::string origin_image)
    : config_(config),
      cache_(CrashDevice::FromImage(
          MemberImage(config, cache_image, 0),
          DeviceOptions("cache", config.async_cache, seed * 2 + 1))),
      origin_(CrashDevice::FromImage(
          std::move(origin_image),
          DeviceOptions("origin", config.async_origin, seed * 2 + 2,
                        config.origin_block_size))),
      flaky_(config.cache_read_faults > 0
                 ? std::make_unique<FlakyReadDevice>(
                       cache_.get(), config.cache_read_faults, kBlockSize,
                       seed * 2 + 3)
                 : nullptr),
      cache_port_(flaky_ != nullptr ? static_cast<Device*>(flaky_.get())
                                    : cache_.get(),
                  Role::kCache, &gate_),
      origin_port_(origin_.get(), Role::kOrigin, &gate_) {
  for (uint32_t i = 1; config.cache_layout != 0 && i < config.cache_members;
       i++) {
    more_caches_.push_back(CrashDevice::FromImage(
        MemberImage(config, cache_image, i),
        DeviceOptions(i == 1 ? "cache1" : "cache2+", config.async_cache,
                      seed * 2 + 1 + 1000 * i)));
    more_ports_.push_back(std::make_unique<CutPointDevice>(
        more_caches_.back().get(), Role::kCache, &gate_));
  }
}

Rig::~Rig() { PowerOff(); }

absl::Status Rig::Format() {
  FormatOptions fo;
  fo.segment_size = config_.segment_size;
  fo.origin_identity = kOriginIdentity;
  fo.tunables = config_.tunables;
  if (config_.cache_layout == 0) {
    return FormatCache(cache_port_, origin_port_, fo);
  }
  return FormatCacheSet(CachePorts(), config_.cache_layout, origin_port_, fo);
}

std::vector<Device*> Rig::CachePorts() {
  std::vector<Device*> ports = {&cache_port_};
  for (auto& p : more_ports_) ports.push_back(p.get());
  return ports;
}

absl::Status Rig::Open() {
  absl::StatusOr<std::unique_ptr<Device>> cache =
      HarnessCache(config_, CachePorts());
  if (!cache.ok()) return cache.status();
  auto v = Volume::Open(*std::move(cache),
                        std::make_unique<DeviceRef>(&origin_port_),
                        HarnessOpenOptions(config_));
  if (!v.ok()) return v.status();
  volume_ = std::move(*v);
  if (flaky_ != nullptr) flaky_->Arm();
  return absl::OkStatus();
}

void Rig::set_listener(CutListener* l) {
  cache_port_.set_listener(l);
  origin_port_.set_listener(l);
  for (auto& p : more_ports_) p->set_listener(l);
}

void Rig::TakeSnapshot(uint64_t seed, Snapshot* out) {
  absl::MutexLock gate(&gate_.mu());
  cache_->PowerCutImageInto(seed, &out->cache, &out->cache_stats);
  // The other devices of a cache set lose their own, independent subsets.
  for (size_t i = 0; i < more_caches_.size(); i++) {
    thread_local std::string image;
    CutStats st;
    more_caches_[i]->PowerCutImageInto(seed + 0x9e3779b9 * (i + 1), &image,
                                       &st);
    out->cache += image;
    out->cache_stats.uncovered += st.uncovered;
    out->cache_stats.dropped += st.dropped;
    out->cache_stats.torn += st.torn;
    out->cache_stats.kept += st.kept;
  }
  origin_->PowerCutImageInto(seed ^ 0x5bd1e995, &out->origin,
                             &out->origin_stats);
}

absl::Status Rig::Close() {
  if (volume_ == nullptr) return absl::OkStatus();
  absl::Status s = volume_->Close();
  volume_.reset();
  return s;
}

void Rig::PowerOff() {
  set_listener(nullptr);
  cache_->PowerOff();
  for (auto& c : more_caches_) c->PowerOff();
  origin_->PowerOff();
  // The volume's shutdown now fails fast against dead devices.
  volume_.reset();
}

}  // namespace wb::crash
