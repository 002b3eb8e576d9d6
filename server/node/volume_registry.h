// The node's volumes: which are attached, in what state, and the open core
// Volume behind each. Like nbdkit's connection/backend split, the services
// only look volumes up here; opening, closing and health live here.
#ifndef WRITEBOOST_NODE_VOLUME_REGISTRY_H_
#define WRITEBOOST_NODE_VOLUME_REGISTRY_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/device/cache_set.h"
#include "server/core/volume.h"
#include "server/node/config.h"
#include "server/node/origin_pacer.h"
#include "server/node/path_policy.h"

namespace wb::node {

enum class VolumeState { kOpening, kServing, kFailed, kDetaching };

const char* VolumeStateName(VolumeState s);

class VolumeEntry;

// Keeps a volume's core object usable: while an IoRef lives, the volume is
// neither closed nor detached. Obtain with VolumeEntry::BeginIo().
class IoRef {
 public:
  IoRef(IoRef&& other) noexcept : entry_(other.entry_), volume_(other.volume_) {
    other.entry_ = nullptr;
  }
  IoRef(const IoRef&) = delete;
  IoRef& operator=(const IoRef&) = delete;
  ~IoRef();
  Volume* operator->() const { return volume_; }
  Volume& operator*() const { return *volume_; }

 private:
  friend class VolumeEntry;
  IoRef(VolumeEntry* entry, Volume* volume) : entry_(entry), volume_(volume) {}
  VolumeEntry* entry_;
  Volume* volume_;
};

// One attached volume. Thread-safe. Owned by shared_ptr: the registry and
// every call that uses the volume hold one.
class VolumeEntry {
 public:
  // policy: where the devices may be (null: anywhere; path_policy.h).
  VolumeEntry(VolumeConfig config, uint64_t rambuf_size,
              const PathPolicy* policy = nullptr);
  ~VolumeEntry();

  const std::string& name() const { return config_.name; }
  const VolumeConfig& config() const { return config_; }
  uint64_t rambuf_size() const { return rambuf_size_; }

  VolumeState state() const;
  // Why opening failed or the volume failed; empty otherwise.
  std::string failure() const;
  // Volume size in bytes; 0 until opened.
  uint64_t size() const;
  // Paces and measures the origin's writes (controller grants).
  OriginPacer& pacer() { return pacer_; }
  // Counts one completed client I/O (for the controller's reports).
  void CountForeground(bool write, uint64_t bytes) {
    (write ? fg_write_bytes_ : fg_read_bytes_).fetch_add(bytes, std::memory_order_relaxed);
  }
  uint64_t foreground_bytes(bool write) const {
    return (write ? fg_write_bytes_ : fg_read_bytes_).load(std::memory_order_relaxed);
  }

  // Starts one operation on the volume. Errors: UNAVAILABLE while opening
  // or detaching, FAILED_PRECONDITION when opening failed.
  absl::StatusOr<IoRef> BeginIo();
  // The cache set under the volume when it has several cache devices, else
  // null. The volume owns it; use it only while holding an IoRef.
  const CacheSet* cache_set() const;

 private:
  friend class IoRef;
  friend class VolumeRegistry;

  void EndIo();
  // REQUIRES: state kOpening. Publishes the opened volume.
  void SetOpened(std::unique_ptr<Volume> volume,
                 const CacheSet* cache_set = nullptr);
  void SetFailed(const absl::Status& why);
  // Sets kDetaching and waits until no IoRef is left.
  void StopIo();
  // Notices a volume that failed at run time. Returns true when it just
  // turned failed.
  bool Sample();

  const VolumeConfig config_;
  const uint64_t rambuf_size_;
  const PathPolicy* const policy_;
  // Declared before volume_: the volume's origin device points at it.
  OriginPacer pacer_;
  std::atomic<uint64_t> fg_read_bytes_{0};
  std::atomic<uint64_t> fg_write_bytes_{0};

  mutable absl::Mutex mu_;
  VolumeState state_ ABSL_GUARDED_BY(mu_) = VolumeState::kOpening;
  std::string failure_ ABSL_GUARDED_BY(mu_);
  // Set once by SetOpened and kept until destruction, so an IoRef's pointer
  // stays valid without the lock.
  std::unique_ptr<Volume> volume_ ABSL_GUARDED_BY(mu_);
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  const CacheSet* cache_set_ ABSL_GUARDED_BY(mu_) = nullptr;  // in volume_
  int ios_ ABSL_GUARDED_BY(mu_) = 0;
};

class VolumeRegistry {
 public:
  // Called (from any thread) when a volume starts or stops serving.
  using HealthFn = std::function<void(const std::string& name, bool serving)>;

  explicit VolumeRegistry(uint64_t default_rambuf_size);
  // Closes every volume (CloseAll).
  ~VolumeRegistry();

  // Whether the node registers with a controller (the lease metric exists
  // only then). REQUIRES: before the first Attach.
  void set_has_controller(bool b) { has_controller_ = b; }
  bool has_controller() const { return has_controller_; }
  // REQUIRES: before the first Attach.
  void SetHealthCallback(HealthFn fn) { health_ = std::move(fn); }

  // Adds cfg as OPENING and opens it (replaying its log) on a thread of its
  // own. ALREADY_EXISTS if the name is taken. With wait, returns the result
  // of opening (the device's or the core's error, e.g. NOT_FOUND for a
  // missing file; RESOURCE_EXHAUSTED when memory ran out), and a volume
  // that failed to open is not kept. With a policy, the devices must be
  // where it allows (path_policy.h); the policy must outlive the registry.
  absl::Status Attach(const VolumeConfig& cfg, bool wait,
                      const PathPolicy* policy = nullptr);
  // NOT_FOUND for an unknown name.
  absl::StatusOr<std::shared_ptr<VolumeEntry>> Find(const std::string& name) const;
  // Sorted by name.
  std::vector<std::shared_ptr<VolumeEntry>> List() const;
  // See DetachVolumeRequest in admin.proto.
  absl::Status Detach(const std::string& name, bool drain, bool force);
  // Waits until no open is in progress.
  void WaitOpened();
  // Seals, flushes and closes every volume; returns the first error.
  // REQUIRES: no I/O in progress (the server has stopped).
  absl::Status CloseAll();

 private:
  // Opens the devices and the volume; the entry ends kServing or kFailed,
  // also when an exception is thrown. Returns why it failed.
  absl::Status Open(std::shared_ptr<VolumeEntry> entry);
  // Open's work, which may throw (std::bad_alloc).
  absl::Status OpenVolume(VolumeEntry& entry);
  void MonitorLoop();
  void SetHealth(const std::string& name, bool serving) {
    if (health_) health_(name, serving);
  }

  const uint64_t default_rambuf_size_;
  HealthFn health_;
  bool has_controller_ = false;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<VolumeEntry>, std::less<>> volumes_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> openers_ ABSL_GUARDED_BY(mu_);
  int opening_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread monitor_;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_VOLUME_REGISTRY_H_
