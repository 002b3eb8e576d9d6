#include "tests/crash/rig.h"

#include <utility>

#include "server/core/device/device_ref.h"
#include "tests/crash/value_model.h"

namespace wb::crash {
namespace {

CrashDeviceOptions DeviceOptions(const char* name, bool async, uint64_t seed) {
  CrashDeviceOptions o;
  o.name = name;
  o.async_completion = async;
  o.seed = seed;
  o.max_delay = absl::Microseconds(300);
  return o;
}

}  // namespace

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
    : Rig(config, seed, std::string(config.cache_size, '\0'),
          InitialOriginImage(config.origin_size)) {}

Rig::Rig(const RigConfig& config, uint64_t seed, std::string cache_image,
         std::string origin_image)
    : config_(config),
      cache_(CrashDevice::FromImage(
          std::move(cache_image),
          DeviceOptions("cache", config.async_cache, seed * 2 + 1))),
      origin_(CrashDevice::FromImage(
          std::move(origin_image),
          DeviceOptions("origin", config.async_origin, seed * 2 + 2))),
      cache_port_(cache_.get(), Role::kCache, &gate_),
      origin_port_(origin_.get(), Role::kOrigin, &gate_) {}

Rig::~Rig() { PowerOff(); }

absl::Status Rig::Format() {
  FormatOptions fo;
  fo.segment_size = config_.segment_size;
  fo.origin_identity = kOriginIdentity;
  fo.tunables = config_.tunables;
  return FormatCache(cache_port_, origin_port_, fo);
}

absl::Status Rig::Open() {
  auto v = Volume::Open(std::make_unique<DeviceRef>(&cache_port_),
                        std::make_unique<DeviceRef>(&origin_port_),
                        HarnessOpenOptions(config_));
  if (!v.ok()) return v.status();
  volume_ = std::move(*v);
  return absl::OkStatus();
}

void Rig::set_listener(CutListener* l) {
  cache_port_.set_listener(l);
  origin_port_.set_listener(l);
}

void Rig::TakeSnapshot(uint64_t seed, Snapshot* out) {
  absl::MutexLock gate(&gate_.mu());
  cache_->PowerCutImageInto(seed, &out->cache, &out->cache_stats);
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
  origin_->PowerOff();
  // The volume's shutdown now fails fast against dead devices.
  volume_.reset();
}

}  // namespace wb::crash
