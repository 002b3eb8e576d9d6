#include "server/node/volume_registry.h"

#include <cstdlib>
#include <exception>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/node/log.h"
#include "server/node/paced_device.h"
#include "server/node/volume_setup.h"

namespace wb::node {

const char* VolumeStateName(VolumeState s) {
  switch (s) {
    case VolumeState::kOpening: return "opening";
    case VolumeState::kServing: return "serving";
    case VolumeState::kFailed: return "failed";
    case VolumeState::kDetaching: return "detaching";
  }
  return "unknown";
}

IoRef::~IoRef() {
  if (entry_ != nullptr) entry_->EndIo();
}

VolumeEntry::VolumeEntry(VolumeConfig config, uint64_t rambuf_size,
                         const PathPolicy* policy)
    : config_(std::move(config)), rambuf_size_(rambuf_size), policy_(policy) {}

// The Volume's destructor seals and flushes if Close() was never called;
// a writeback batch waiting for its pace must not hold that up.
VolumeEntry::~VolumeEntry() { pacer_.SetUnlimited(); }

VolumeState VolumeEntry::state() const {
  absl::MutexLock l(&mu_);
  return state_;
}

std::string VolumeEntry::failure() const {
  absl::MutexLock l(&mu_);
  return failure_;
}

uint64_t VolumeEntry::size() const {
  absl::MutexLock l(&mu_);
  return size_;
}

absl::StatusOr<IoRef> VolumeEntry::BeginIo() {
  absl::MutexLock l(&mu_);
  switch (state_) {
    case VolumeState::kOpening:
      return absl::UnavailableError(absl::StrCat(
          "volume ", name(), " is replaying its log; retry shortly"));
    case VolumeState::kDetaching:
      return absl::UnavailableError(absl::StrCat("volume ", name(), " is being detached"));
    case VolumeState::kFailed:
      // A volume that failed at run time still serves what the core allows
      // (reads); one that never opened has nothing to serve.
      if (volume_ == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("volume ", name(), " failed to open: ", failure_));
      }
      break;
    case VolumeState::kServing:
      break;
  }
  ios_++;
  return IoRef(this, volume_.get());
}

void VolumeEntry::EndIo() {
  absl::MutexLock l(&mu_);
  ios_--;
}

void VolumeEntry::SetOpened(std::unique_ptr<Volume> volume,
                            const CacheSet* cache_set) {
  absl::MutexLock l(&mu_);
  size_ = volume->size();
  cache_set_ = cache_set;
  volume_ = std::move(volume);
  state_ = VolumeState::kServing;
}

const CacheSet* VolumeEntry::cache_set() const {
  absl::MutexLock l(&mu_);
  return cache_set_;
}

void VolumeEntry::SetFailed(const absl::Status& why) {
  absl::MutexLock l(&mu_);
  state_ = VolumeState::kFailed;
  failure_ = why.ToString();
}

void VolumeEntry::StopIo() {
  absl::MutexLock l(&mu_);
  state_ = VolumeState::kDetaching;
  mu_.Await(absl::Condition(
      +[](int* ios) { return *ios == 0; }, &ios_));
}

bool VolumeEntry::Sample() {
  absl::StatusOr<IoRef> ref = BeginIo();
  if (!ref.ok()) return false;
  VolumeStatus st = (*ref)->GetStatus();
  absl::MutexLock l(&mu_);
  if (st.failed && state_ == VolumeState::kServing) {
    state_ = VolumeState::kFailed;
    failure_ = st.failure;
    return true;
  }
  return false;
}

VolumeRegistry::VolumeRegistry(uint64_t default_rambuf_size)
    : default_rambuf_size_(default_rambuf_size) {
  monitor_ = std::thread([this] { MonitorLoop(); });
}

VolumeRegistry::~VolumeRegistry() { CloseAll().IgnoreError(); }

absl::Status VolumeRegistry::Attach(const VolumeConfig& cfg, bool wait,
                                    const PathPolicy* policy) {
  auto entry = std::make_shared<VolumeEntry>(
      cfg, cfg.rambuf_size != 0 ? cfg.rambuf_size : default_rambuf_size_, policy);
  {
    absl::MutexLock l(&mu_);
    if (stop_) return absl::UnavailableError("the node is shutting down");
    if (!volumes_.emplace(cfg.name, entry).second) {
      return absl::AlreadyExistsError(absl::StrCat("volume ", cfg.name, " is already attached"));
    }
    opening_++;
    if (!wait) {
      openers_.emplace_back([this, entry] { Open(entry).IgnoreError(); });
      return absl::OkStatus();
    }
  }
  absl::Status status = Open(entry);
  if (status.ok()) return status;
  {
    absl::MutexLock l(&mu_);
    volumes_.erase(cfg.name);
  }
  SetHealth(cfg.name, false);  // gone now: health forgets the name
  return status;
}

absl::Status VolumeRegistry::Open(std::shared_ptr<VolumeEntry> entry) {
  const VolumeConfig& cfg = entry->config();
  SetHealth(cfg.name, false);
  absl::Status status;
  // An exception must not leave the entry OPENING for good, nor escape an
  // opener thread (std::terminate): opening allocates the RAM buffers, the
  // index and the devices' rings, and a request may ask for more than the
  // node has. Whatever was built is freed as the exception unwinds.
  try {
    status = OpenVolume(*entry);
  } catch (const std::bad_alloc&) {
    status = absl::ResourceExhaustedError(absl::StrCat(
        "volume ", cfg.name, ": out of memory while opening it (rambuf_size ",
        entry->rambuf_size(), ")"));
  } catch (const std::exception& e) {
    status = absl::InternalError(
        absl::StrCat("volume ", cfg.name, ": cannot open: ", e.what()));
  }
  if (!status.ok()) {
    Log("volume %s: cannot open: %s", cfg.name, status.ToString());
    entry->SetFailed(status);
  }
  SetHealth(cfg.name, status.ok());
  absl::MutexLock l(&mu_);
  opening_--;
  return status;
}

absl::Status VolumeRegistry::OpenVolume(VolumeEntry& entry) {
  const VolumeConfig& cfg = entry.config();
  absl::Time start = absl::Now();
  // The core allocates the RAM buffers one segment at a time: a size the
  // node cannot have would first take every byte there is, from every
  // other thread too (gRPC's included), before the last allocation fails.
  // Reserving the whole size once (untouched, so it costs nothing) refuses
  // it at once instead.
  if (void* probe = std::malloc(entry.rambuf_size()); probe != nullptr) {
    std::free(probe);
  } else {
    throw std::bad_alloc();
  }
  absl::StatusOr<VolumeDevices> devices = OpenVolumeDevices(cfg, entry.policy_);
  if (!devices.ok()) return devices.status();
  OpenOptions opts;
  opts.origin_identity = devices->origin_identity;
  opts.rambuf_size = entry.rambuf_size();
  opts.io_timeout = absl::Seconds(cfg.io_timeout_s);
  // Writeback's origin writes go through the entry's pacer.
  auto origin = std::make_unique<PacedDevice>(std::move(devices->origin),
                                              &entry.pacer());
  const CacheSet* cache_set = devices->cache_set;
  absl::StatusOr<std::unique_ptr<Volume>> vol = Volume::Open(
      std::move(devices->cache), std::move(origin), opts);
  if (!vol.ok()) return vol.status();
  VolumeStatus st = (*vol)->GetStatus();
  absl::Status status;
  for (const auto& [name, value] : cfg.tunables) {
    absl::StatusOr<uint32_t> cur = GetTunable(st.tunables, name);
    if (cur.ok() && *cur == value) continue;
    status.Update((*vol)->SetTunable(name, value));
  }
  if (!status.ok()) return status;
  Log("volume %s: serving %s (%d MiB) through cache %s; replayed %d "
      "dirty blocks in %s",
      cfg.name, cfg.origin, st.size_bytes >> 20,
      cache_set != nullptr ? cache_set->name() : cfg.cache,
      st.nr_dirty_cache_blocks, absl::FormatDuration(absl::Now() - start));
  entry.SetOpened(*std::move(vol), cache_set);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<VolumeEntry>> VolumeRegistry::Find(
    const std::string& name) const {
  absl::MutexLock l(&mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) {
    return absl::NotFoundError(absl::StrCat("no volume named \"", name, "\""));
  }
  return it->second;
}

std::vector<std::shared_ptr<VolumeEntry>> VolumeRegistry::List() const {
  absl::MutexLock l(&mu_);
  std::vector<std::shared_ptr<VolumeEntry>> out;
  for (const auto& [name, e] : volumes_) out.push_back(e);
  return out;
}

absl::Status VolumeRegistry::Detach(const std::string& name, bool drain, bool force) {
  absl::StatusOr<std::shared_ptr<VolumeEntry>> found = Find(name);
  if (!found.ok()) return found.status();
  std::shared_ptr<VolumeEntry> e = *found;
  if (e->state() == VolumeState::kOpening) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", name, " is still replaying its log; detach it afterwards"));
  }
  if (e->state() == VolumeState::kDetaching) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", name, " is already being detached"));
  }
  // New I/O is refused from here on; what is in flight finishes first.
  VolumeState before = e->state();
  e->StopIo();
  Volume* v;
  {
    absl::MutexLock l(&e->mu_);
    v = e->volume_.get();
  }
  absl::Status status;
  if (v != nullptr) {
    if (drain) {
      Log("volume %s: draining before detach", name);
      status = v->DropCaches(nullptr);
    } else if (!force) {
      uint64_t dirty = v->GetStatus().nr_dirty_cache_blocks;
      if (dirty > 0) {
        status = absl::FailedPreconditionError(absl::StrCat(
            "volume ", name, " has ", dirty, " dirty blocks; detach with drain "
            "to write them back first, or force to leave them in the cache"));
      }
    }
    if (!status.ok()) {
      absl::MutexLock l(&e->mu_);
      e->state_ = before;  // refused: keep serving
      return status;
    }
    // A writeback batch waiting for its pace would hold Close up.
    e->pacer_.SetUnlimited();
    status = v->Close();
  }
  {
    absl::MutexLock l(&mu_);
    volumes_.erase(name);
  }
  SetHealth(name, false);
  Log("volume %s: detached%s", name, status.ok() ? "" : ": " + status.ToString());
  return status;
}

void VolumeRegistry::WaitOpened() {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(+[](int* n) { return *n == 0; }, &opening_));
}

absl::Status VolumeRegistry::CloseAll() {
  std::vector<std::thread> openers;
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    openers.swap(openers_);
  }
  for (std::thread& t : openers) t.join();
  if (monitor_.joinable()) monitor_.join();
  std::map<std::string, std::shared_ptr<VolumeEntry>, std::less<>> volumes;
  {
    absl::MutexLock l(&mu_);
    volumes.swap(volumes_);
  }
  absl::Status result;
  for (auto& [name, e] : volumes) {
    e->StopIo();
    absl::MutexLock l(&e->mu_);
    if (e->volume_ == nullptr) continue;
    e->pacer_.SetUnlimited();  // a paced writeback batch would hold Close up
    absl::Status s = e->volume_->Close();
    Log("volume %s: closed%s", name, s.ok() ? " cleanly" : ": " + s.ToString());
    result.Update(s);
  }
  return result;
}

void VolumeRegistry::MonitorLoop() {
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Seconds(1))) return;
    }
    for (const std::shared_ptr<VolumeEntry>& e : List()) {
      if (e->Sample()) {
        Log("volume %s: FAILED: %s", e->name(), e->failure());
        SetHealth(e->name(), false);
      }
    }
  }
}

}  // namespace wb::node
