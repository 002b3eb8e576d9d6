#include "client/lib/io_stream.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/lib/channel.h"
#include "writeboost/v1/block.grpc.pb.h"

namespace wbclient {

namespace v1 = writeboost::v1;

struct IoStream::Op {
  v1::IoOp op = v1::IO_OP_UNSPECIFIED;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool fua = false;
  std::string data;       // IO_OP_WRITE, until sent
  char* out = nullptr;    // IO_OP_READ
  uint64_t flush_mark = 0;  // IO_OP_FLUSH: RestartGuard::FlushMark() at submission
  Callback done;
  bool sent = false;      // on the current stream
  int attempts = 0;
};

// One gRPC stream; replaced when it breaks.
struct IoStream::Conn {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::IoRequestBatch, v1::IoReplyBatch>> rw;
  bool named = false;       // the volume name went out in a message
  bool writes_done = false;
  uint64_t generation = 0;  // of the daemon behind it, once verified
};

struct IoStream::StubHolder {
  std::unique_ptr<v1::BlockService::Stub> stub;
};

namespace {

// Safe to send again after a broken stream (LESSONS: only what cannot
// double-apply out of order).
bool Repeatable(v1::IoOp op) { return op == v1::IO_OP_READ || op == v1::IO_OP_FLUSH; }

// Per-message payload cap on the client side. The server refuses a message
// over its max_payload + 64 KiB of framing (RESOURCE_EXHAUSTED, and the
// stream with it), so a smaller max_payload lowers the cap.
constexpr uint64_t kBatchBytes = 1 << 20;

// Bytes an I/O adds to its request message or to the reply batch.
uint64_t PayloadOf(v1::IoOp op, uint64_t length, const std::string& data) {
  if (op == v1::IO_OP_READ) return length;
  return data.size();
}

}  // namespace

IoStream::IoStream(std::shared_ptr<grpc::Channel> channel, std::string volume,
                   const Options& options, uint64_t max_payload,
                   std::shared_ptr<RestartGuard> guard)
    : volume_(std::move(volume)),
      options_(options),
      batch_bytes_(max_payload > 0 ? std::min(kBatchBytes, max_payload) : kBatchBytes),
      guard_(std::move(guard)),
      channel_(std::move(channel)),
      stub_(std::make_unique<StubHolder>()) {
  stub_->stub = v1::BlockService::NewStub(channel_);
}

absl::StatusOr<std::unique_ptr<IoStream>> IoStream::Open(std::shared_ptr<grpc::Channel> channel,
                                                         std::string volume,
                                                         const Options& options,
                                                         uint64_t max_payload,
                                                         std::shared_ptr<RestartGuard> guard) {
  if (options.queue_depth < 1 || options.max_batch < 1) {
    return absl::InvalidArgumentError("queue_depth and max_batch must be positive");
  }
  std::unique_ptr<IoStream> s(new IoStream(std::move(channel), std::move(volume), options,
                                           max_payload, std::move(guard)));
  s->receiver_ = std::thread([p = s.get()] { p->ReceiverLoop(); });
  s->sender_ = std::thread([p = s.get()] { p->SenderLoop(); });
  return s;
}

IoStream::~IoStream() { Close().IgnoreError(); }

void IoStream::Read(uint64_t offset, absl::Span<char> out, Callback done) {
  Op op;
  op.op = v1::IO_OP_READ;
  op.offset = offset;
  op.length = out.size();
  op.out = out.data();
  op.done = std::move(done);
  Submit(std::move(op));
}

void IoStream::Write(uint64_t offset, absl::Span<const char> data, bool fua, Callback done) {
  Op op;
  op.op = v1::IO_OP_WRITE;
  op.offset = offset;
  op.length = data.size();
  op.data.assign(data.data(), data.size());
  op.fua = fua;
  op.done = std::move(done);
  Submit(std::move(op));
}

void IoStream::Flush(Callback done) {
  Op op;
  op.op = v1::IO_OP_FLUSH;
  // Taken before the flush can be sent: it covers what was acknowledged by
  // then (a write acknowledged later may or may not be covered).
  if (guard_ != nullptr) op.flush_mark = guard_->FlushMark();
  op.done = std::move(done);
  Submit(std::move(op));
}

void IoStream::Trim(uint64_t offset, uint64_t length, Callback done) {
  Op op;
  op.op = v1::IO_OP_TRIM;
  op.offset = offset;
  op.length = length;
  op.done = std::move(done);
  Submit(std::move(op));
}

void IoStream::WriteZeroes(uint64_t offset, uint64_t length, bool fua, Callback done) {
  Op op;
  op.op = v1::IO_OP_WRITE_ZEROES;
  op.offset = offset;
  op.length = length;
  op.fua = fua;
  op.done = std::move(done);
  Submit(std::move(op));
}

void IoStream::Submit(Op op) {
  absl::Status refused = guard_ != nullptr ? guard_->status() : absl::OkStatus();
  if (refused.ok()) {
    absl::MutexLock l(&mu_);
    while (static_cast<int>(ops_.size()) >= options_.queue_depth && !stopped_ && !closing_) {
      cv_.Wait(&mu_);
    }
    if (stopped_ || closing_) {
      refused = !fatal_.ok() ? fatal_ : absl::FailedPreconditionError("the stream is closed");
    } else {
      uint64_t id = next_id_++;
      ops_[id] = std::make_unique<Op>(std::move(op));
      unsent_.push_back(id);
      cv_.SignalAll();
      return;
    }
  }
  std::move(op.done)(refused);
}

void IoStream::Drain() {
  absl::MutexLock l(&mu_);
  while (!ops_.empty() || completing_ > 0) cv_.Wait(&mu_);
}

absl::Status IoStream::Close() {
  Drain();
  {
    absl::MutexLock l(&mu_);
    closing_ = true;
    cv_.SignalAll();
  }
  if (sender_.joinable()) sender_.join();
  if (receiver_.joinable()) receiver_.join();
  absl::MutexLock l(&mu_);
  if (fatal_.ok() && guard_ != nullptr) return guard_->status();
  return fatal_;
}

void IoStream::SenderLoop() {
  v1::IoRequestBatch batch;
  absl::MutexLock l(&mu_);
  while (true) {
    while (!stopped_ && !(conn_ != nullptr && !unsent_.empty()) &&
           !(closing_ && conn_ != nullptr && !conn_->writes_done && ops_.empty())) {
      cv_.Wait(&mu_);
    }
    if (stopped_) return;
    std::shared_ptr<Conn> conn = conn_;
    if (unsent_.empty()) {
      // Closing with nothing left: half-close; the server then ends the
      // stream and the receiver stops.
      conn->writes_done = true;
      sending_ = true;
      mu_.Unlock();
      conn->rw->WritesDone();
      mu_.Lock();
      sending_ = false;
      cv_.SignalAll();
      continue;
    }
    batch.Clear();
    if (!conn->named) {
      batch.set_volume(volume_);
      conn->named = true;
    }
    uint64_t bytes = 0;
    while (!unsent_.empty() && batch.requests_size() < options_.max_batch) {
      Op& op = *ops_[unsent_.front()];
      // Reads count too: their data comes back in the reply batch.
      const uint64_t payload = PayloadOf(op.op, op.length, op.data);
      if (batch.requests_size() > 0 && bytes + payload > batch_bytes_) break;
      v1::IoRequest* r = batch.add_requests();
      r->set_id(unsent_.front());
      r->set_op(op.op);
      r->set_offset(op.offset);
      r->set_length(op.length);
      r->set_fua(op.fua);
      // Writes are never sent twice, so their data moves into the message.
      if (op.op == v1::IO_OP_WRITE) r->set_data(std::move(op.data));
      bytes += payload;
      op.sent = true;
      unsent_.pop_front();
    }
    sending_ = true;
    mu_.Unlock();
    grpc::WriteOptions wo;
    conn->rw->Write(batch, wo);  // a failure shows up in the receiver's Read
    mu_.Lock();
    sending_ = false;
    cv_.SignalAll();
  }
}

void IoStream::ReceiverLoop() {
  v1::IoReplyBatch replies;
  while (true) {
    auto conn = std::make_shared<Conn>();
    // Why the stream ended, when we know better than Finish().
    absl::Status broke;
    uint64_t before = 0;
    if (guard_ != nullptr) {
      absl::StatusOr<uint64_t> g = ReadGeneration(channel_, options_, volume_);
      if (g.ok()) {
        before = *g;
      } else {
        broke = g.status();
      }
    }
    if (broke.ok()) {
      PrepareContext(&conn->ctx, options_, /*deadline=*/false);
      conn->rw = stub_->stub->Io(&conn->ctx);
      {
        absl::MutexLock l(&mu_);
        conn_ = conn;
        cv_.SignalAll();
      }
      while (conn->rw->Read(&replies)) {
        if (guard_ != nullptr && conn->generation == 0) {
          broke = Verify(before, conn.get());
          if (!broke.ok()) {
            // Unverified replies are dropped: HandleBreak resends the reads
            // and flushes and fails the writes as "may have been applied".
            conn->ctx.TryCancel();
            while (conn->rw->Read(&replies)) {
            }
            break;
          }
        }
        for (const v1::IoReply& r : replies.replies()) {
          absl::Status s = r.code() == 0 ? absl::OkStatus()
                                         : absl::Status(static_cast<absl::StatusCode>(r.code()),
                                                        r.message());
          Complete(r.id(), s, &r.data(), conn->generation);
        }
      }
      {
        // No more writes on this stream; Finish() must not race one.
        absl::MutexLock l(&mu_);
        conn_ = nullptr;
        while (sending_) cv_.Wait(&mu_);
      }
      absl::Status finished = FromGrpcStatus(conn->rw->Finish());
      if (broke.ok()) {
        broke = finished.ok() ? absl::UnavailableError("the server ended the stream") : finished;
      }
    }
    absl::MutexLock l(&mu_);
    if (closing_ && ops_.empty()) {
      stopped_ = true;
      cv_.SignalAll();
      return;
    }
    HandleBreak(broke);
    if (stopped_) return;
    // Let the server come back before opening the next stream.
    cv_.WaitWithTimeout(&mu_, options_.retry_backoff);
  }
}

absl::Status IoStream::Verify(uint64_t before, Conn* conn) {
  // The stream was bound to a daemon between the two reads; generations
  // only grow, so equal reads pin down the daemon's generation.
  absl::StatusOr<uint64_t> after = ReadGeneration(channel_, options_, volume_);
  if (!after.ok()) return after.status();
  if (*after != before) {
    return absl::UnavailableError(absl::StrCat("volume ", volume_,
                                               " was reopened while the stream connected "
                                               "(open generation ", before, " -> ", *after,
                                               ")"));
  }
  conn->generation = before;
  // A lost guard fails the completions; the stream itself is fine.
  guard_->Observe(before).IgnoreError();
  return absl::OkStatus();
}

void IoStream::HandleBreak(const absl::Status& status) {
  // Transport trouble and a stopping server are worth a new stream; any
  // other stream-level error would only repeat.
  bool transient = absl::IsUnavailable(status) || absl::IsCancelled(status) ||
                   absl::IsDeadlineExceeded(status) || absl::IsAborted(status);
  // Streams that broke with no reply in between: the server is unreachable.
  // Queued I/Os then fail too rather than wait for it forever.
  bool unreachable = transient && ++breaks_without_reply_ > options_.retries;
  std::vector<std::pair<uint64_t, absl::Status>> failed;
  std::vector<uint64_t> again;
  for (auto& [id, op] : ops_) {
    if (!op->sent && transient) {
      if (unreachable) {
        failed.emplace_back(id, absl::UnavailableError(absl::StrCat(
                                    "cannot reach the server (", status.message(),
                                    "); the request was not sent")));
        continue;
      }
      continue;  // still queued: goes on the next stream
    }
    if (transient && Repeatable(op->op) && op->attempts < options_.retries) {
      op->attempts++;
      op->sent = false;
      again.push_back(id);
      continue;
    }
    failed.emplace_back(
        id, transient && op->sent
                ? absl::UnavailableError(absl::StrCat(
                      "the stream broke (", status.message(),
                      "); the request may or may not have been applied"))
                : status);
  }
  if (unreachable) {
    unsent_.clear();
    breaks_without_reply_ = 0;
  }
  // Resend in submission order, ahead of what was never sent.
  std::sort(again.begin(), again.end());
  unsent_.insert(unsent_.begin(), again.begin(), again.end());
  if (!transient) {
    fatal_ = status;
    stopped_ = true;
    unsent_.clear();
  }
  cv_.SignalAll();
  mu_.Unlock();
  for (const auto& [id, s] : failed) Complete(id, s, nullptr, 0);
  mu_.Lock();
}

void IoStream::Complete(uint64_t id, const absl::Status& status, const std::string* data,
                        uint64_t generation) {
  std::unique_ptr<Op> op;
  {
    absl::MutexLock l(&mu_);
    auto it = ops_.find(id);
    if (it == ops_.end()) return;  // not ours (or answered twice)
    op = std::move(it->second);
    ops_.erase(it);
    if (data != nullptr) breaks_without_reply_ = 0;  // the server answered
    completing_++;
    cv_.SignalAll();  // a slot is free
  }
  absl::Status s = status;
  if (s.ok() && op->op == v1::IO_OP_READ) {
    if (data == nullptr || data->size() != op->length) {
      s = absl::DataLossError("the server returned a read of the wrong length");
    } else {
      std::memcpy(op->out, data->data(), op->length);
    }
  }
  if (s.ok() && guard_ != nullptr) {
    if ((op->op == v1::IO_OP_WRITE || op->op == v1::IO_OP_WRITE_ZEROES) && !op->fua) {
      guard_->NoteAck(generation);
    } else if (op->op == v1::IO_OP_FLUSH) {
      guard_->NoteFlushed(op->flush_mark, generation).IgnoreError();
    }
    // Once writes were lost, nothing completes as if they were not.
    s = guard_->status();
  }
  std::move(op->done)(s);
  absl::MutexLock l(&mu_);
  completing_--;
  cv_.SignalAll();
}

}  // namespace wbclient
