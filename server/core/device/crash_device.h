// CrashDevice: an in-memory Device with a real device's flush semantics, for
// crash simulation.
//
// Reads see the latest completed writes. Next to that, the device keeps the
// durable image (what a flush has made safe) and every write that no
// completed flush has covered yet. A Flush covers exactly the writes that had
// completed when it was submitted; it makes them durable when it completes.
// PowerCutImage() then answers "what might the disk hold if power failed
// now": the durable image plus an arbitrary (seeded) subset of the uncovered
// writes, each possibly torn at 512-byte sectors.
//
// With async_completion, reads, writes and flushes complete on a device
// thread after a random delay, so they finish out of submission order, as on
// a real device with a deep queue. Otherwise everything completes inline.
//
// Discard is not supported: it completes at once and changes nothing.
//
// Thread-safe. Must not be destroyed from one of its own callbacks. Memory: two
// copies of the image plus the bytes of the uncovered writes; a write costs a
// copy of itself, never of the image.
#ifndef WRITEBOOST_CORE_DEVICE_CRASH_DEVICE_H_
#define WRITEBOOST_CORE_DEVICE_CRASH_DEVICE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/core/device/device.h"

namespace wb {

struct CrashDeviceOptions {
  uint32_t logical_block_size = 512;  // 512 or 4096.
  std::string name = "crash";
  // Complete I/O on a device thread after a random delay in [0, max_delay].
  bool async_completion = false;
  uint64_t seed = 1;  // Seeds the delays.
  absl::Duration max_delay = absl::Microseconds(200);
};

// What one PowerCutImage() did with the uncovered writes.
struct CutStats {
  uint64_t uncovered = 0;  // Writes no completed flush covered.
  uint64_t dropped = 0;    // Lost wholly.
  uint64_t torn = 0;       // Some sectors kept, some lost.
  uint64_t kept = 0;       // Kept wholly.
};

class CrashDevice final : public Device {
 public:
  // A zero-filled device. REQUIRES: size % logical_block_size == 0.
  explicit CrashDevice(uint64_t size, CrashDeviceOptions options = {});
  // A device whose durable (and current) contents are image, e.g. a
  // PowerCutImage() to "reboot" after a cut.
  static std::unique_ptr<CrashDevice> FromImage(
      std::string image, CrashDeviceOptions options = {});
  // Completes every queued async I/O at once (normally, or failed after
  // PowerOff) and joins the device thread.
  ~CrashDevice() override;

  uint64_t size() const override { return size_; }
  uint32_t logical_block_size() const override {
    return options_.logical_block_size;
  }
  std::string name() const override { return options_.name; }

  void Submit(const IoRequest& req, IoCallback done) override;

  // The bytes that survive a power cut at this instant: the durable image,
  // then a subset chosen by seed of the uncovered writes (completed ones in
  // completion order, then in-flight ones in submission order), each kept
  // write possibly torn: every 512-byte sector of it kept or dropped
  // independently. Same state and seed, same image. stats may be null.
  std::string PowerCutImage(uint64_t seed, CutStats* stats = nullptr) const;
  // The same image written into *image (resized to size()), reusing its
  // memory. Prefer it in loops: for a 64 MiB image the page faults of a
  // fresh allocation can cost far more than the copy itself.
  void PowerCutImageInto(uint64_t seed, std::string* image,
                         CutStats* stats = nullptr) const;
  // What reads see now.
  std::string Image() const;
  // What has been made durable by completed flushes.
  std::string DurableImage() const;

  // From now on every new I/O, and every async one still queued, fails with
  // kUnavailable("power is off"). Writes in flight at this moment stay
  // candidates for PowerCutImage().
  void PowerOff();

  // hook(n) runs synchronously in Submit() of the n-th flush (n counts from
  // 1), before that flush covers anything, on the submitting thread. Hook
  // calls are serialized. The hook may call PowerCutImage() and the other
  // accessors, but must not submit I/O to this device.
  void SetPersistencePointHook(absl::AnyInvocable<void(uint64_t n)> hook);

  uint64_t writes() const;   // Writes submitted.
  uint64_t flushes() const;  // Flushes submitted.
  // Writes not yet made durable by a flush (completed or in flight).
  uint64_t uncovered_writes() const;

 private:
  struct WriteRecord {
    uint64_t offset = 0;
    std::string data;
    uint64_t done_seq = 0;  // Position in completion order, from 1.
  };
  // An async I/O waiting for its completion time.
  struct Pending {
    IoRequest req;
    IoCallback done;
    uint64_t write_id = 0;    // kWrite: key in inflight_.
    uint64_t cover_upto = 0;  // kFlush: covers done_seq <= this.
  };

  CrashDevice(std::string image, CrashDeviceOptions options);

  // Executes req now (inline, or on the device thread when it is due) and
  // returns its status.
  absl::Status CompleteLocked(Pending& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes durable every completed write with done_seq <= cover_upto.
  void ApplyFlushLocked(uint64_t cover_upto) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Schedule(Pending p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeviceThread();

  const uint64_t size_;
  const CrashDeviceOptions options_;

  // Serializes hook calls; taken before mu_, never after it.
  absl::Mutex hook_mu_;
  absl::AnyInvocable<void(uint64_t)> hook_ ABSL_GUARDED_BY(hook_mu_);

  mutable absl::Mutex mu_;
  std::string durable_ ABSL_GUARDED_BY(mu_);
  std::string current_ ABSL_GUARDED_BY(mu_);
  // Completed writes no completed flush has covered, in completion order.
  std::deque<WriteRecord> completed_ ABSL_GUARDED_BY(mu_);
  // Writes submitted and not completed, by id (= submission order).
  std::map<uint64_t, WriteRecord> inflight_ ABSL_GUARDED_BY(mu_);
  uint64_t next_write_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t done_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flushes_ ABSL_GUARDED_BY(mu_) = 0;
  bool powered_off_ ABSL_GUARDED_BY(mu_) = false;

  // Async mode only. Keyed by (due time, arrival) so equal times stay FIFO.
  std::map<std::pair<absl::Time, uint64_t>, Pending> queue_
      ABSL_GUARDED_BY(mu_);
  uint64_t queue_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 delay_rng_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar queue_cv_;
  std::thread thread_;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_CRASH_DEVICE_H_
