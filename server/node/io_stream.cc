#include "server/node/io_stream.h"

#include "absl/strings/str_cat.h"
#include "server/node/grpc_status.h"

namespace wb::node {

namespace v1 = writeboost::v1;

namespace {

// Charged per I/O on top of its payload: the request and reply objects.
constexpr uint64_t kItemOverhead = 256;

bool KindOf(v1::IoOp op, IoKind* kind) {
  switch (op) {
    case v1::IO_OP_READ: *kind = IoKind::kRead; return true;
    case v1::IO_OP_WRITE: *kind = IoKind::kWrite; return true;
    case v1::IO_OP_FLUSH: *kind = IoKind::kFlush; return true;
    case v1::IO_OP_TRIM: *kind = IoKind::kTrim; return true;
    case v1::IO_OP_WRITE_ZEROES: *kind = IoKind::kWriteZeroes; return true;
    default: return false;
  }
}

}  // namespace

IoSession::IoSession(const ServiceContext& svc, grpc::ServerContext* ctx, Stream* stream)
    : svc_(svc), ctx_(ctx), stream_(stream) {}

grpc::Status IoSession::Run() {
  auto first = std::make_shared<v1::IoRequestBatch>();
  if (!stream_->Read(first.get())) return grpc::Status::OK;  // nothing asked
  const std::string volume = first->volume();
  Access access;
  absl::StatusOr<std::shared_ptr<VolumeEntry>> entry =
      ResolveVolume(svc_, *ctx_, volume, Access::kRead, &access);
  if (!entry.ok()) return ToGrpcStatus(entry.status());
  entry_ = *entry;
  read_only_ = access < Access::kWrite;

  absl::Status status;
  std::shared_ptr<v1::IoRequestBatch> batch = std::move(first);
  while (true) {
    Dispatch(std::move(batch));
    if (!WaitForRoom()) break;
    batch = std::make_shared<v1::IoRequestBatch>();
    if (!stream_->Read(batch.get())) break;
    if (!batch->volume().empty() && batch->volume() != volume) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "this stream addresses volume \"", volume, "\", not ",
          QuoteBounded(batch->volume())));
      break;
    }
  }

  // Answer everything already read, then stop the workers.
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&mu_);
    reading_done_ = true;
    cv_.SignalAll();
    while (outstanding_ > 0) cv_.Wait(&mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  if (!status.ok()) return ToGrpcStatus(status);
  if (ctx_->IsCancelled()) return grpc::Status::CANCELLED;
  return grpc::Status::OK;
}

void IoSession::Dispatch(std::shared_ptr<const v1::IoRequestBatch> batch) {
  const int n = batch->requests_size();
  if (n == 0) return;
  uint64_t total = 0;
  absl::MutexLock l(&mu_);
  for (int i = 0; i < n; i++) {
    const v1::IoRequest& r = batch->requests(i);
    uint64_t payload = r.op() == v1::IO_OP_WRITE  ? r.data().size()
                       : r.op() == v1::IO_OP_READ ? std::min(r.length(), svc_.max_payload)
                                                  : 0;
    uint64_t charge = kItemOverhead + payload;
    total += charge;
    queue_.push_back(Item{batch, i, charge});
  }
  held_ += total;
  outstanding_ += n;
  svc_.total_inflight->Charge(total);
  // Enough workers for what is queued, up to the stream's limit.
  int wanted = static_cast<int>(queue_.size()) - idle_workers_;
  while (wanted-- > 0 && workers_ < svc_.stream_workers) {
    workers_++;
    threads_.emplace_back([this] { WorkerLoop(); });
  }
  cv_.SignalAll();
}

bool IoSession::WaitForRoom() {
  {
    absl::MutexLock l(&mu_);
    while (held_ >= svc_.stream_inflight && !broken_) {
      if (ctx_->IsCancelled()) return false;
      cv_.WaitWithTimeout(&mu_, absl::Milliseconds(100));
    }
    if (broken_) return false;
  }
  return svc_.total_inflight->WaitForRoom([this] { return ctx_->IsCancelled(); });
}

void IoSession::WorkerLoop() {
  absl::MutexLock l(&mu_);
  while (true) {
    if (queue_.empty()) {
      if (reading_done_) return;
      idle_workers_++;
      cv_.Wait(&mu_);
      idle_workers_--;
      continue;
    }
    Item item = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    v1::IoReply reply;
    Execute(item, &reply);
    uint64_t charge = item.charge;
    item.batch.reset();  // the request's payload is no longer needed
    Deliver(std::move(reply), charge);
    mu_.Lock();
  }
}

void IoSession::Execute(const Item& item, v1::IoReply* reply) {
  const v1::IoRequest& r = item.batch->requests(item.index);
  reply->set_id(r.id());
  absl::Status s;
  IoArgs a;
  if (!KindOf(r.op(), &a.kind)) {
    s = absl::InvalidArgumentError(absl::StrCat("unknown op ", static_cast<int>(r.op())));
  } else if (read_only_ && IsWrite(a.kind)) {
    s = absl::PermissionDeniedError(absl::StrCat(
        "the token grants read-only access to volume \"", entry_->name(), "\""));
  } else {
    a.offset = r.offset();
    a.length = r.length();
    a.fua = r.fua();
    a.data = &r.data();
    a.out = reply->mutable_data();
    s = ExecuteAndRecordIo(svc_, *entry_, a);
  }
  if (!s.ok()) {
    reply->clear_data();
    reply->set_code(ToWireCode(s));
    reply->set_message(std::string(s.message()));
  }
}

void IoSession::ReleaseLocked(uint64_t charge, int items) {
  held_ -= charge;
  outstanding_ -= items;
  svc_.total_inflight->Release(charge);
  cv_.SignalAll();
}

void IoSession::Deliver(v1::IoReply reply, uint64_t charge) {
  absl::MutexLock l(&mu_);
  if (broken_) {
    ReleaseLocked(charge, 1);
    return;
  }
  replies_.emplace_back(std::move(reply), charge);
  if (writing_) return;  // the writer will pick it up
  writing_ = true;
  v1::IoReplyBatch out;
  while (!replies_.empty() && !broken_) {
    out.Clear();
    uint64_t bytes = 0, charges = 0;
    int items = 0;
    while (!replies_.empty()) {
      auto& [r, c] = replies_.front();
      if (items > 0 && bytes + r.data().size() > svc_.max_payload) break;
      bytes += r.data().size();
      charges += c;
      items++;
      *out.add_replies() = std::move(r);
      replies_.pop_front();
    }
    mu_.Unlock();
    bool ok = stream_->Write(out);
    out.Clear();  // frees read payloads before retaking the lock
    mu_.Lock();
    ReleaseLocked(charges, items);
    if (!ok) {
      // The client is gone; nobody will read what is left.
      broken_ = true;
      for (auto& [r, c] : replies_) ReleaseLocked(c, 1);
      replies_.clear();
    }
  }
  writing_ = false;
}

}  // namespace wb::node
