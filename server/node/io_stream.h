// IoSession: one BlockService.Io stream (pipelined I/O on one volume).
//
// Threads: the gRPC handler thread reads request batches and queues their
// I/Os; a small set of workers owned by the session (started on demand, at
// most stream_workers) executes them on the core, so one slow I/O (a FUA
// write waiting for group commit, an origin read) does not hold up the
// others. A worker that finishes an I/O queues its reply; if no other
// worker is writing to the stream it becomes the writer and sends every
// queued reply in as few messages as the payload limit allows (replies are
// batched like requests; LESSONS.md).
//
// Memory: every I/O is charged (its payload plus a fixed overhead) from the
// moment it is read until its reply has been written. The handler stops
// reading while the stream holds stream_inflight bytes or all streams
// together hold total_inflight, so a client that sends faster than the
// volume absorbs, or that does not read its replies, is pushed back by
// HTTP/2 flow control instead of growing the server's memory.
#ifndef WRITEBOOST_NODE_IO_STREAM_H_
#define WRITEBOOST_NODE_IO_STREAM_H_

#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "server/node/block_ops.h"
#include "writeboost/v1/block.grpc.pb.h"

namespace wb::node {

class IoSession {
 public:
  using Stream = grpc::ServerReaderWriter<writeboost::v1::IoReplyBatch,
                                          writeboost::v1::IoRequestBatch>;

  IoSession(const ServiceContext& svc, grpc::ServerContext* ctx, Stream* stream);
  IoSession(const IoSession&) = delete;
  IoSession& operator=(const IoSession&) = delete;

  // Serves the stream until the client half-closes (after every reply has
  // been sent: OK), the stream breaks, or a stream-level error.
  grpc::Status Run();

 private:
  struct Item {
    std::shared_ptr<const writeboost::v1::IoRequestBatch> batch;
    int index;
    uint64_t charge;
  };

  // Charges and queues every request of batch; starts workers as needed.
  void Dispatch(std::shared_ptr<const writeboost::v1::IoRequestBatch> batch);
  // Waits until this stream and the node are under their limits. False if
  // the call was cancelled meanwhile.
  bool WaitForRoom();
  void WorkerLoop();
  void Execute(const Item& item, writeboost::v1::IoReply* reply);
  // Queues a reply and, unless another worker is writing, writes replies
  // until none are queued.
  void Deliver(writeboost::v1::IoReply reply, uint64_t charge);
  void ReleaseLocked(uint64_t charge, int items) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceContext& svc_;
  grpc::ServerContext* const ctx_;
  Stream* const stream_;
  // Set once from the first message, before any worker starts.
  std::shared_ptr<VolumeEntry> entry_;
  bool read_only_ = false;

  absl::Mutex mu_;
  absl::CondVar cv_;  // items queued, room made, outstanding dropped
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool reading_done_ ABSL_GUARDED_BY(mu_) = false;
  int workers_ ABSL_GUARDED_BY(mu_) = 0;
  int idle_workers_ ABSL_GUARDED_BY(mu_) = 0;
  // Bytes charged to this stream, and I/Os read whose reply is not written.
  uint64_t held_ ABSL_GUARDED_BY(mu_) = 0;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  // Replies waiting for the writer, with their charges.
  std::deque<std::pair<writeboost::v1::IoReply, uint64_t>> replies_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // A Write failed (the client went away): replies are dropped from now on.
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_IO_STREAM_H_
