// libwbclient IoStream: pipelined I/O on one volume over BlockService.Io.
//
// Up to queue_depth I/Os are in flight; submitting one more blocks until a
// reply arrives. A sender thread packs queued I/Os into messages of up to
// max_batch I/Os and up to min(1 MiB, the server's max_payload_bytes) of
// read and write payload (a single larger I/O goes alone), sending a partial
// batch as soon as the queue is empty, so latency stays low at low depth. A
// receiver thread completes them, in whatever order the server answers.
//
// Completions: `done(status)` runs on the receiver thread. It must not block
// and must not call Drain() or Close(); it may submit one new I/O per
// completion (a slot is free by then).
//
// Broken streams (server restart, connection loss): the stream is reopened.
// Reads and flushes that were in flight are sent again (up to
// options.retries times); writes, trims and write-zeroes in flight fail
// with UNAVAILABLE, since whether they were applied is unknown and
// repeating them could undo a later write. I/Os not yet sent wait for the
// new stream, unless more than options.retries streams in a row break
// without a reply: then they fail with UNAVAILABLE too ("not sent"). Errors that concern the whole
// stream (NOT_FOUND, UNAUTHENTICATED, PERMISSION_DENIED...) fail every I/O
// and every later submission with that status.
//
// Restarts (with a RestartGuard, restart_guard.h): every stream learns the
// open generation of the daemon it talks to, by a status call before it
// opens and another at its first reply; they must agree (else the daemon
// restarted in between and the stream is reopened). Nothing is completed on
// a stream before that. A stream on another generation while acknowledged
// writes are unflushed makes the guard lost: from then on every I/O fails
// with DATA_LOSS, flushes included.
#ifndef WRITEBOOST_CLIENT_LIB_IO_STREAM_H_
#define WRITEBOOST_CLIENT_LIB_IO_STREAM_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "client/lib/options.h"
#include "client/lib/restart_guard.h"

namespace grpc {
class Channel;
}

namespace wbclient {

class IoStream {
 public:
  using Callback = absl::AnyInvocable<void(absl::Status) &&>;

  // Normally through Volume::OpenStream(). max_payload: the server's
  // max_payload_bytes (0: unknown, 1 MiB per message). guard: shared with
  // the Volume and its other streams; null: no restart detection.
  static absl::StatusOr<std::unique_ptr<IoStream>> Open(
      std::shared_ptr<grpc::Channel> channel, std::string volume, const Options& options,
      uint64_t max_payload = 0, std::shared_ptr<RestartGuard> guard = nullptr);
  // Close().
  ~IoStream();
  IoStream(const IoStream&) = delete;
  IoStream& operator=(const IoStream&) = delete;

  // `out` must stay valid until done runs; it is filled only on success.
  void Read(uint64_t offset, absl::Span<char> out, Callback done);
  // `data` is copied before Write returns.
  void Write(uint64_t offset, absl::Span<const char> data, bool fua, Callback done);
  void Flush(Callback done);
  void Trim(uint64_t offset, uint64_t length, Callback done);
  void WriteZeroes(uint64_t offset, uint64_t length, bool fua, Callback done);

  // Waits until every I/O submitted so far has completed.
  void Drain();
  // Drains, ends the stream and stops the threads. OK, or the error that
  // ended the stream for good (or the guard's DATA_LOSS).
  absl::Status Close();

 private:
  struct Op;
  struct Conn;

  IoStream(std::shared_ptr<grpc::Channel> channel, std::string volume, const Options& options,
           uint64_t max_payload, std::shared_ptr<RestartGuard> guard);
  void Submit(Op op);
  void SenderLoop();
  void ReceiverLoop();
  // At the first reply of `conn`: its generation must equal `before`, read
  // just before it opened. Sets conn->generation; an error means "reopen".
  absl::Status Verify(uint64_t before, Conn* conn);
  // The stream `conn` ended with `status`: retry or fail what it carried.
  void HandleBreak(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `generation`: of the stream that answered (0 without a guard).
  void Complete(uint64_t id, const absl::Status& status, const std::string* data,
                uint64_t generation);

  const std::string volume_;
  const Options options_;
  // Read and write payload bytes per message at most.
  const uint64_t batch_bytes_;
  const std::shared_ptr<RestartGuard> guard_;
  std::shared_ptr<grpc::Channel> channel_;
  struct StubHolder;
  std::unique_ptr<StubHolder> stub_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Submitted and not completed, by id.
  absl::flat_hash_map<uint64_t, std::unique_ptr<Op>> ops_ ABSL_GUARDED_BY(mu_);
  // Ids waiting for the sender.
  std::deque<uint64_t> unsent_ ABSL_GUARDED_BY(mu_);
  // Completions running right now (ops_ no longer holds them).
  int completing_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<Conn> conn_ ABSL_GUARDED_BY(mu_);  // null between streams
  bool sending_ ABSL_GUARDED_BY(mu_) = false;        // sender in Write()
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  // Consecutive broken streams without a reply from the server.
  int breaks_without_reply_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  std::thread sender_;
  std::thread receiver_;
};

}  // namespace wbclient

#endif  // WRITEBOOST_CLIENT_LIB_IO_STREAM_H_
