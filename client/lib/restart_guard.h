// libwbclient RestartGuard: notices that writeboostd restarted and may have
// lost writes it had acknowledged, so that no later Flush reports them
// durable.
//
// writeboostd acknowledges a plain write once it sits in RAM; SIGKILL or a
// crash loses it. libwbclient reconnects by itself and resends flushes, and
// a restarted daemon answers a Flush for what *it* acknowledged. Without the
// guard, "write, daemon killed and restarted, Flush OK" would tell the
// application that a lost write is durable.
//
// The guard compares open generations (AdminService.GetStatus:
// VolumeStatus.generation, which grows by one at every open of the cache).
// Every plain write or write-zeroes acknowledged and not yet covered by a
// successful flush is "pending" and carries a lower bound of the generation
// that acknowledged it (the smallest bound is kept). When a server of some
// other generation answers while writes are pending (a new Io stream, or a
// flush), those writes may be gone and the guard becomes lost. A restart
// while nothing is pending loses nothing and goes unreported. A clean restart
// (SIGTERM seals and flushes) looks the same as a crash from here and is
// reported too.
//
// Where generations come from: an Io stream reads it before it opens and at
// its first reply, and completes nothing before the two agree (io_stream.h),
// so its replies carry the exact generation. A unary call cannot tell which
// daemon answered it, so a plain write uses a bound read before it is sent
// (a status call when nothing is pending, else known()), and a Flush that
// covers pending writes reads the generation after its reply (volume.h).
// Bounds never exceed the real generation, so a loss is never missed; the
// price is that a restart may be reported when the pending writes were in
// fact acknowledged by the new daemon.
//
// Lost is sticky: the guard's status() is DATA_LOSS from then on, and every
// later call on the Volume and its streams fails with it; the application
// must treat every write it had not flushed as lost and open the volume
// again (a new Volume starts clean). That is what a disk that lost its
// volatile write cache must do, and it keeps an application from reading
// stale blocks as if nothing happened.
//
// Thread-safe.
#ifndef WRITEBOOST_CLIENT_LIB_RESTART_GUARD_H_
#define WRITEBOOST_CLIENT_LIB_RESTART_GUARD_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/lib/options.h"

namespace grpc {
class Channel;
}

namespace wbclient {

class RestartGuard {
 public:
  explicit RestartGuard(std::string volume) : volume_(std::move(volume)) {}

  // OK, or the DATA_LOSS that made the guard lost.
  absl::Status status() const;
  // True while an acknowledged plain write is not known to be durable.
  bool pending() const;
  // The newest generation seen so far (0: none): a lower bound of the
  // generation that will answer a request sent now.
  uint64_t known() const;

  // Taken just before a flush is sent: the flush covers the writes
  // acknowledged so far. Give it back to NoteFlushed.
  uint64_t FlushMark() const;
  // A plain write or write-zeroes was acknowledged by a server whose
  // generation is at least `generation`.
  void NoteAck(uint64_t generation);
  // A server of exactly `generation` answers from now on (a new, verified
  // Io stream). Returns status(): DATA_LOSS when pending writes were
  // acknowledged by another generation.
  absl::Status Observe(uint64_t generation);
  // A flush sent after FlushMark() returned `mark` succeeded, and the
  // generation serving the volume after its reply is `generation`.
  // Returns status(): DATA_LOSS when pending writes were acknowledged by
  // another generation.
  absl::Status NoteFlushed(uint64_t mark, uint64_t generation);

 private:
  void ObserveLocked(uint64_t generation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string volume_;
  mutable absl::Mutex mu_;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;    // plain acks so far
  uint64_t covered_ ABSL_GUARDED_BY(mu_) = 0;  // of which known durable
  // Smallest generation bound of the pending acks; valid while
  // acked_ > covered_.
  uint64_t pending_generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t known_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status lost_ ABSL_GUARDED_BY(mu_);
};

// One AdminService.GetStatus call: the open generation of `volume` on the
// server behind `channel`. UNAVAILABLE while the volume is not serving
// (replaying its log), FAILED_PRECONDITION when it failed, else the call's
// own error.
absl::StatusOr<uint64_t> ReadGeneration(const std::shared_ptr<grpc::Channel>& channel,
                                        const Options& options, const std::string& volume);

}  // namespace wbclient

#endif  // WRITEBOOST_CLIENT_LIB_RESTART_GUARD_H_
