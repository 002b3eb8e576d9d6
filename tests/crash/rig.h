// Rig: one simulated machine for the crash harness: a cache and an origin
// CrashDevice behind cut-point wrappers that share a gate, and a Volume on
// them. A Rig is either freshly formatted or rebuilt from the images a
// power cut left behind.
#ifndef WRITEBOOST_TESTS_CRASH_RIG_H_
#define WRITEBOOST_TESTS_CRASH_RIG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/core/device/crash_device.h"
#include "server/core/tunables.h"
#include "server/core/volume.h"
#include "tests/crash/cut_device.h"
#include "tests/crash/flaky_read_device.h"

namespace wb::crash {

inline constexpr char kOriginIdentity[] = "crash-harness-origin";

// Small on purpose: thousands of cuts must each recover and read the whole
// volume in a few milliseconds.
struct RigConfig {
  uint64_t cache_size = 4 << 20;
  uint64_t origin_size = 1 << 20;
  uint32_t segment_size = 64 << 10;
  uint64_t rambuf_size = 256 << 10;
  bool async_cache = false;   // segment writes complete out of order
  bool async_origin = false;
  // 4096: writes of part of a block cannot go around the cache
  // (write_around.cc) and take the log instead.
  uint32_t origin_block_size = 512;
  bool enable_writeback = true;
  Tunables tunables;
  absl::Duration io_timeout = absl::Seconds(30);
  // A cache set (server/core/device/cache_set.h): kLayoutStripe or
  // kLayoutMirror over cache_members devices of cache_size bytes each, every
  // one its own CrashDevice. 0: one cache device.
  uint32_t cache_layout = 0;
  uint32_t cache_members = 1;
  // Probability that a cache read longer than one block (writeback's
  // segment reads) fails; never two in a row (flaky_read_device.h). Single
  // cache devices only.
  double cache_read_faults = 0;
};

// Both images of one instant, and what the cut did to the unflushed writes.
struct Snapshot {
  std::string cache;  // a cache set's devices one after another
  std::string origin;
  CutStats cache_stats;
  CutStats origin_stats;
  bool dropped() const { return cache_stats.dropped + origin_stats.dropped > 0; }
  bool torn() const { return cache_stats.torn + origin_stats.torn > 0; }
};

class Rig {
 public:
  // New devices (the cache zero-filled, the origin holding
  // InitialOriginImage), not yet formatted.
  Rig(const RigConfig& config, uint64_t seed);
  // Devices whose durable contents are the given images ("reboot").
  Rig(const RigConfig& config, uint64_t seed, std::string cache_image,
      std::string origin_image);
  // Powers the devices off first, so that tearing the volume down makes
  // nothing more durable.
  ~Rig();

  absl::Status Format();
  absl::Status Open();
  Volume* volume() { return volume_.get(); }
  const RigConfig& config() const { return config_; }

  CrashDevice& cache() { return *cache_; }
  CrashDevice& origin() { return *origin_; }
  // The wrapped cache, for FormatCache and structural checks (the first
  // device of a cache set).
  Device& cache_port() { return cache_port_; }
  // Every cache device's wrapper, in set order.
  std::vector<Device*> CachePorts();
  void set_listener(CutListener* l);
  // Cache reads failed on purpose so far (cache_read_faults).
  uint64_t injected_read_faults() const {
    return flaky_ == nullptr ? 0 : flaky_->injected();
  }

  // Both images at one instant: submissions are paused meanwhile.
  void TakeSnapshot(uint64_t seed, Snapshot* out);

  // Clean shutdown (Close), or a cut: devices off, volume dropped.
  absl::Status Close();
  void PowerOff();

 private:
  RigConfig config_;
  IoGate gate_;
  std::unique_ptr<CrashDevice> cache_;
  std::unique_ptr<CrashDevice> origin_;
  std::unique_ptr<FlakyReadDevice> flaky_;  // when cache_read_faults > 0
  CutPointDevice cache_port_;
  CutPointDevice origin_port_;
  // Cache devices 1 … cache_members - 1 of a cache set (0 is cache_).
  std::vector<std::unique_ptr<CrashDevice>> more_caches_;
  std::vector<std::unique_ptr<CutPointDevice>> more_ports_;
  std::unique_ptr<Volume> volume_;
};

OpenOptions HarnessOpenOptions(const RigConfig& config);

// The cache device a volume opens over `members` (one per cache device):
// the device itself, or a CacheSet of them.
absl::StatusOr<std::unique_ptr<Device>> HarnessCache(
    const RigConfig& config, const std::vector<Device*>& members);

// The cache devices inside `whole`, a buffer of a snapshot's cache images:
// whole itself, or one slice per member of a cache set.
std::vector<std::unique_ptr<Device>> CacheMembersOf(const RigConfig& config,
                                                    Device* whole);

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_RIG_H_
