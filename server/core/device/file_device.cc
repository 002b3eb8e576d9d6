// FileDevice: opening and geometry, the io_uring submit/reap loop, and the
// synchronous fallback.
#include "server/core/device/file_device.h"

#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
// The kernel orders an entry's submission before its completion, through
// ring memory that ThreadSanitizer cannot see: tell it, per Op.
#define WB_RING_SUBMITTED(op) __tsan_release(op)
#define WB_RING_COMPLETED(op) __tsan_acquire(op)
#else
#define WB_RING_SUBMITTED(op) ((void)0)
#define WB_RING_COMPLETED(op) ((void)0)
#endif

namespace wb {

struct FileDevice::Op {
  IoRequest req;
  IoCallback done;
  uint64_t done_bytes = 0;  // Read/write progress across short transfers.
};

namespace {

// One ring entry moves at most this much; its result is an int.
constexpr uint64_t kMaxTransfer = 1u << 30;

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = absl::StrFormat("%s: %s", what, std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(msg);
    case EINVAL:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

// A queue attribute of block device dev (for a partition, of its disk), or
// 0 if sysfs has none (e.g. the anonymous device of tmpfs).
uint64_t QueueAttr(dev_t dev, const char* attr) {
  const std::string base =
      absl::StrFormat("/sys/dev/block/%d:%d/", major(dev), minor(dev));
  for (const char* dir : {"queue/", "../queue/"}) {
    std::ifstream in(base + dir + attr);
    uint64_t value = 0;
    if (in >> value) return value;
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileDevice>> FileDevice::Open(
    const std::string& path, const FileDeviceOptions& options) {
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && !(errno == ENOENT && options.create)) {
    return ErrnoStatus(errno, path);
  }
  if (exists && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is neither a regular file nor a block device", path));
  }
  const bool is_block = exists && S_ISBLK(st.st_mode);
  int flags = O_RDWR | O_CLOEXEC;
  if (options.create && !is_block) flags |= O_CREAT;
  // For a block device O_EXCL is the kernel's own exclusive claim: it also
  // keeps out mounts and other O_EXCL openers that do not use flock.
  if (options.exclusive && is_block) flags |= O_EXCL;

  bool direct = options.direct;
  int fd = -1;
  if (direct) {
    if (options.TEST_refuse_direct) {
      errno = EINVAL;
    } else {
      fd = ::open(path.c_str(), flags | O_DIRECT, 0644);
    }
    if (fd < 0 && errno == EINVAL) direct = false;  // tmpfs and friends.
  }
  if (!direct) fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    if (errno == EBUSY && is_block) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s is in use by another process (block device held exclusively "
          "or mounted)",
          path));
    }
    return ErrnoStatus(errno, path);
  }
  absl::Cleanup close_fd = [fd] { ::close(fd); };

  if (options.exclusive && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s is in use by another process (lock held)", path));
    }
    return ErrnoStatus(errno, absl::StrCat(path, ": flock"));
  }
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, path);

  Geometry geo;
  geo.is_block = is_block;
  if (is_block) {
    int ssz = 0;
    if (::ioctl(fd, BLKGETSIZE64, &geo.size) != 0 ||
        ::ioctl(fd, BLKSSZGET, &ssz) != 0) {
      return ErrnoStatus(errno, absl::StrCat(path, ": block device geometry"));
    }
    geo.lbs = static_cast<uint32_t>(ssz);
    geo.supports_discard = QueueAttr(st.st_rdev, "discard_max_bytes") > 0;
  } else {
    if (options.create && st.st_size == 0) {
      if (options.create_size == 0 || options.create_size % kSectorSize != 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: create_size %d is not a positive multiple of %d", path,
            options.create_size, kSectorSize));
      }
      if (::ftruncate(fd, static_cast<off_t>(options.create_size)) != 0) {
        return ErrnoStatus(errno, absl::StrCat(path, ": ftruncate"));
      }
      st.st_size = static_cast<off_t>(options.create_size);
    }
    geo.size = static_cast<uint64_t>(st.st_size);
    // O_DIRECT on a file needs the alignment of the disk under its
    // filesystem: a 4 KiB-sector disk makes this a 4 KiB-block device.
    const uint64_t disk_lbs =
        direct ? QueueAttr(st.st_dev, "logical_block_size") : 0;
    geo.lbs = disk_lbs == 4096 ? 4096 : kSectorSize;
    geo.supports_discard = true;  // fallocate(PUNCH_HOLE).
    geo.discard_zeroes = true;    // a hole reads as zeroes
  }
  if (options.logical_block_size != 0) {
    const uint32_t want = options.logical_block_size;
    if ((want != 512 && want != 4096) || want % geo.lbs != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: logical block size %d is not 512 or 4096, or is below the "
          "device's %d",
          path, want, geo.lbs));
    }
    geo.lbs = want;
  }
  if (geo.size % kSectorSize != 0 || geo.size % geo.lbs != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: size %d is not a multiple of %d", path, geo.size,
                        std::max<uint64_t>(kSectorSize, geo.lbs)));
  }

  std::move(close_fd).Cancel();
  const int depth = std::clamp(options.queue_depth, 1, 4096);
  std::unique_ptr<FileDevice> dev(new FileDevice(path, fd, direct, geo, depth));
  dev->StartRing(options.use_io_uring);
  return dev;
}

FileDevice::FileDevice(std::string path, int fd, bool direct,
                       const Geometry& geo, int queue_depth)
    : path_(std::move(path)),
      fd_(fd),
      direct_(direct),
      size_(geo.size),
      lbs_(geo.lbs),
      is_block_(geo.is_block),
      supports_discard_(geo.supports_discard),
      discard_zeroes_(geo.discard_zeroes),
      queue_depth_(static_cast<unsigned>(queue_depth)) {}

void FileDevice::StartRing(bool use_io_uring) {
  if (!use_io_uring) return;
  auto ring = std::make_unique<io_uring>();
  // CQ entries default to twice the SQ entries, and inflight_ never exceeds
  // queue_depth_, so the completion queue cannot overflow.
  const int err = io_uring_queue_init(queue_depth_, ring.get(), 0);
  if (err < 0) {
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true)) {
      std::fprintf(stderr,
                   "writeboost: io_uring unavailable (%s); using synchronous "
                   "I/O for %s and later devices\n",
                   std::strerror(-err), path_.c_str());
    }
    return;
  }
  ring_ = std::move(ring);
  reaper_ = std::thread([this] { Reaper(); });
}

FileDevice::~FileDevice() {
  if (ring_ != nullptr) {
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(this, &FileDevice::IdleLocked));
      // A NOP with no Op tells the reaper to stop; nothing else is queued.
      io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data(sqe, nullptr);
      while (io_uring_submit(ring_.get()) < 0)
        absl::SleepFor(absl::Milliseconds(1));
    }
    reaper_.join();
    io_uring_queue_exit(ring_.get());
  }
  ::close(fd_);  // Also releases the flock.
}

void FileDevice::Submit(const IoRequest& req, IoCallback done) {
  absl::Status s = ValidateRequest(*this, req);
  const bool empty = req.op != IoOp::kFlush && req.length == 0;
  const bool noop_discard = req.op == IoOp::kDiscard && !supports_discard_;
  if (!s.ok() || empty || noop_discard) {
    std::move(done)(std::move(s));
    return;
  }
  if (ring_ == nullptr || (req.op == IoOp::kDiscard && is_block_)) {
    std::move(done)(DoSync(req));
    return;
  }
  Op* op = new Op{req, std::move(done)};
  absl::MutexLock l(&mu_);
  // Never block the caller for ring space: it may be the reaper itself,
  // running a callback that submits more I/O.
  if (inflight_ >= queue_depth_) {
    backlog_.push_back(op);
    return;
  }
  ++inflight_;
  StartLocked(op);
}

void FileDevice::StartLocked(Op* op) {
  io_uring* ring = ring_.get();
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  // Every entry is submitted as soon as it is prepared, so with inflight_
  // bounded by the ring size the SQ always has room.
  if (sqe == nullptr) {
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
  }
  const IoRequest& r = op->req;
  const uint64_t n = std::min(r.length - op->done_bytes, kMaxTransfer);
  char* buf = static_cast<char*>(r.buf) + op->done_bytes;
  const uint64_t off = r.offset + op->done_bytes;
  switch (r.op) {
    case IoOp::kRead:
      io_uring_prep_read(sqe, fd_, buf, static_cast<unsigned>(n), off);
      break;
    case IoOp::kWrite:
      io_uring_prep_write(sqe, fd_, buf, static_cast<unsigned>(n), off);
      break;
    case IoOp::kFlush:
      io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
      break;
    case IoOp::kDiscard:
      io_uring_prep_fallocate(sqe, fd_,
                              FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              r.offset, r.length);
      break;
  }
  io_uring_sqe_set_data(sqe, op);
  WB_RING_SUBMITTED(op);
  for (;;) {
    const int ret = io_uring_submit(ring);
    if (ret >= 0) return;
    if (ret == -EINTR) continue;
    // The entry stays queued in the SQ; a later submit picks it up. EAGAIN
    // and EBUSY are the kernel asking us to wait, so wait rather than fail.
    // (EBUSY means a full CQ, which the inflight_ bound rules out; were it to
    // happen here on the reaper thread, nobody would drain the CQ.)
    if (ret != -EAGAIN && ret != -EBUSY) {
      std::fprintf(stderr, "writeboost: %s: io_uring_submit: %s\n",
                   path_.c_str(), std::strerror(-ret));
    }
    mu_.Unlock();
    absl::SleepFor(absl::Milliseconds(1));
    mu_.Lock();
    if (io_uring_sq_ready(ring) == 0) return;  // Someone else submitted it.
  }
}

void FileDevice::Reaper() {
  io_uring* ring = ring_.get();
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    const int err = io_uring_wait_cqe(ring, &cqe);
    if (err == -EINTR || err == -EAGAIN) continue;
    if (err < 0) {
      std::fprintf(stderr, "writeboost: %s: io_uring_wait_cqe: %s\n",
                   path_.c_str(), std::strerror(-err));
      absl::SleepFor(absl::Milliseconds(1));
      continue;
    }
    Op* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
    const int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    if (op == nullptr) return;  // The destructor's stop NOP.
    WB_RING_COMPLETED(op);
    OnCompletion(op, res);
  }
}

void FileDevice::OnCompletion(Op* op, int res) {
  const IoRequest& r = op->req;
  if (res == -EAGAIN || res == -EINTR) {
    absl::MutexLock l(&mu_);
    StartLocked(op);  // Same entry again; it still counts as in flight.
    return;
  }
  if (res == -EOPNOTSUPP && r.op == IoOp::kDiscard) {
    Finish(op, DiscardUnsupported(r));
    return;
  }
  if (res < 0) {
    Finish(op, IoError(r, -res));
    return;
  }
  if (r.op == IoOp::kRead || r.op == IoOp::kWrite) {
    op->done_bytes += static_cast<uint64_t>(res);
    if (op->done_bytes < r.length) {
      if (res == 0) {
        // The file shrank under us (someone truncated it).
        Finish(op, absl::UnavailableError(absl::StrFormat(
                       "%s: %s at offset %d length %d hit end of file at %d",
                       path_, IoOpName(r.op), r.offset, r.length,
                       r.offset + op->done_bytes)));
        return;
      }
      absl::MutexLock l(&mu_);
      StartLocked(op);  // The remainder of a short transfer.
      return;
    }
  }
  Finish(op, absl::OkStatus());
}

void FileDevice::Finish(Op* op, absl::Status s) {
  IoCallback done = std::move(op->done);
  delete op;
  {
    absl::MutexLock l(&mu_);
    --inflight_;
    while (!backlog_.empty() && inflight_ < queue_depth_) {
      Op* next = backlog_.front();
      backlog_.pop_front();
      ++inflight_;
      StartLocked(next);
    }
  }
  std::move(done)(std::move(s));
}

absl::Status FileDevice::IoError(const IoRequest& req, int err) const {
  if (req.op == IoOp::kFlush) {
    return absl::UnavailableError(
        absl::StrFormat("%s: flush failed: %s", path_, std::strerror(err)));
  }
  return absl::UnavailableError(absl::StrFormat(
      "%s: %s at offset %d length %d failed: %s", path_, IoOpName(req.op),
      req.offset, req.length, std::strerror(err)));
}

absl::Status FileDevice::DoSync(const IoRequest& req) {
  char* buf = static_cast<char*>(req.buf);
  uint64_t done = 0;
  switch (req.op) {
    case IoOp::kFlush:
      return ::fdatasync(fd_) == 0 ? absl::OkStatus() : IoError(req, errno);
    case IoOp::kDiscard:
      return DiscardSync(req);
    case IoOp::kRead:
    case IoOp::kWrite:
      break;
  }
  while (done < req.length) {
    const size_t n = std::min(req.length - done, kMaxTransfer);
    const off_t off = static_cast<off_t>(req.offset + done);
    const ssize_t got = req.op == IoOp::kRead
                            ? ::pread(fd_, buf + done, n, off)
                            : ::pwrite(fd_, buf + done, n, off);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return IoError(req, errno);
    if (got == 0) return IoError(req, EIO);  // End of file: it shrank.
    done += static_cast<uint64_t>(got);
  }
  return absl::OkStatus();
}

absl::Status FileDevice::DiscardUnsupported(const IoRequest& req) {
  // Discard is advisory: a device that turns out not to take it keeps the
  // old data, which the trim contract allows, unless the caller relied on
  // discard_zeroes(); it no longer does, and this one call fails so that
  // the caller can write zeroes instead.
  if (!discard_zeroes_.exchange(false)) return absl::OkStatus();
  return absl::UnavailableError(absl::StrFormat(
      "%s: punching a hole is not supported here; trims will write zeroes", path_));
}

absl::Status FileDevice::DiscardSync(const IoRequest& req) {
  int ret;
  if (is_block_) {
    uint64_t range[2] = {req.offset, req.length};
    ret = ::ioctl(fd_, BLKDISCARD, range);
  } else {
    ret = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(req.offset),
                      static_cast<off_t>(req.length));
  }
  if (ret != 0 && errno == EOPNOTSUPP) return DiscardUnsupported(req);
  if (ret != 0) return IoError(req, errno);
  return absl::OkStatus();
}

}  // namespace wb
