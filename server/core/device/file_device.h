// FileDevice: a regular file or a block device, opened O_DIRECT and driven
// by io_uring.
//
// Submit() queues the I/O on one ring and returns; a reaper thread owned by
// the device runs the callbacks. Short reads and writes are continued and
// -EAGAIN is retried there, so a callback sees either the whole I/O done or
// an error. Flush is fdatasync (IORING_OP_FSYNC with DATASYNC), which on a
// block device also flushes the device's volatile cache.
//
// Fallbacks, each one reported by an accessor:
// - O_DIRECT refused with EINVAL (tmpfs on older kernels): buffered I/O;
//   Flush still fdatasyncs, so durability holds, only the page cache is used.
// - io_uring unavailable (io_uring_queue_init fails, e.g. disabled by
//   policy): synchronous pread/pwrite/fdatasync inline in Submit(), logged
//   once to stderr.
// - Block-device discard (BLKDISCARD) runs inline in Submit(): io_uring has
//   no discard op in the liburing we build against.
#ifndef WRITEBOOST_CORE_DEVICE_FILE_DEVICE_H_
#define WRITEBOOST_CORE_DEVICE_FILE_DEVICE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/device/device.h"

struct io_uring;

namespace wb {

struct FileDeviceOptions {
  // Open with O_DIRECT (falling back to buffered I/O where refused).
  bool direct = true;
  // flock(LOCK_EX | LOCK_NB), and O_EXCL for block devices: no other opener
  // (another process, or another Open() in this one) may drive the device.
  bool exclusive = true;
  // Regular files only: create the file if missing, and size it to
  // create_size (a positive multiple of 512) if it is empty.
  bool create = false;
  uint64_t create_size = 0;
  // Most I/Os on the ring at once; more wait in a queue inside the device.
  int queue_depth = 128;
  // 0: the device's own (BLKSSZGET); for files 512, or 4096 when O_DIRECT
  // is in use and the disk under the filesystem has 4 KiB sectors. Files may
  // say 4096 to emulate a 4 KiB-sector device; nothing may go below the
  // default.
  uint32_t logical_block_size = 0;
  // false: synchronous I/O inline in Submit(), as when io_uring is missing.
  bool use_io_uring = true;
  // Tests: behave as if O_DIRECT open failed with EINVAL.
  bool TEST_refuse_direct = false;
};

// Thread-safe. Callbacks run on the reaper thread (inline in Submit() for
// the synchronous fallbacks and for failed validation).
// REQUIRES: no Submit() once destruction has begun, and the device is not
// destroyed from one of its own callbacks.
class FileDevice final : public Device {
 public:
  // Errors: kNotFound (no such file), kPermissionDenied, kFailedPrecondition
  // ("<path> is in use by another process (lock held)", or a block device
  // busy under O_EXCL), kInvalidArgument (not a file or block device, size
  // not a multiple of 512 or of the logical block size, bad options),
  // kUnavailable for other OS errors. Every message names the path.
  static absl::StatusOr<std::unique_ptr<FileDevice>> Open(
      const std::string& path, const FileDeviceOptions& options = {});
  // Waits for every submitted I/O to complete, stops the reaper, closes.
  ~FileDevice() override;

  uint64_t size() const override { return size_; }
  uint32_t logical_block_size() const override { return lbs_; }
  std::string name() const override { return path_; }
  bool supports_discard() const override { return supports_discard_; }
  bool discard_zeroes() const override { return discard_zeroes_.load(); }

  void Submit(const IoRequest& req, IoCallback done) override;

  bool direct() const { return direct_; }  // O_DIRECT in effect.
  bool uses_io_uring() const { return ring_ != nullptr; }
  bool is_block_device() const { return is_block_; }

 private:
  struct Op;
  struct Geometry {
    uint64_t size = 0;
    uint32_t lbs = 512;
    bool is_block = false;
    bool supports_discard = false;
    bool discard_zeroes = false;
  };

  FileDevice(std::string path, int fd, bool direct, const Geometry& geo,
             int queue_depth);
  void StartRing(bool use_io_uring);

  // Runs req synchronously on the calling thread.
  absl::Status DoSync(const IoRequest& req);
  absl::Status DiscardSync(const IoRequest& req);
  // The result of a discard the device refused (EOPNOTSUPP).
  absl::Status DiscardUnsupported(const IoRequest& req);
  absl::Status IoError(const IoRequest& req, int err) const;

  // Puts the remainder of op on the ring and submits it.
  void StartLocked(Op* op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return inflight_ == 0 && backlog_.empty();
  }
  void Reaper();
  void OnCompletion(Op* op, int res);
  void Finish(Op* op, absl::Status s);

  const std::string path_;
  const int fd_;
  const bool direct_;
  const uint64_t size_;
  const uint32_t lbs_;
  const bool is_block_;
  const bool supports_discard_;
  std::atomic<bool> discard_zeroes_;  // cleared when a hole cannot be punched
  const unsigned queue_depth_;

  // Null when io_uring is not in use. The submission side is used only under
  // mu_; the completion side only by the reaper thread.
  std::unique_ptr<io_uring> ring_;
  std::thread reaper_;

  absl::Mutex mu_;
  // I/Os on the ring (submitted, callback not yet started).
  unsigned inflight_ ABSL_GUARDED_BY(mu_) = 0;
  // I/Os waiting for ring space, in arrival order.
  std::deque<Op*> backlog_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_DEVICE_FILE_DEVICE_H_
