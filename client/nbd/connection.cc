#include "client/nbd/connection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace wbnbd {

namespace {

// Completion of a group of stream I/Os that make up one NBD request. Shared
// with the completion callbacks, which run on the stream's receiver thread
// and may still be inside Done() when the waiter wakes up.
class Group {
 public:
  explicit Group(int pieces) : left_(pieces) {}

  void Done(const absl::Status& s) {
    absl::MutexLock l(&mu_);
    if (!s.ok() && status_.ok()) status_ = s;
    if (--left_ == 0) cv_.Signal();
  }

  absl::Status Wait() {
    absl::MutexLock l(&mu_);
    while (left_ > 0) cv_.Wait(&mu_);
    return status_;
  }

  wbclient::IoStream::Callback Callback(std::shared_ptr<Group> self) {
    return [self = std::move(self)](absl::Status s) { self->Done(s); };
  }

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  int left_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// The write bytes libwbclient's IoStream puts into one message at most
// (kBatchBytes in client/lib/io_stream.cc), whatever the server's limit.
constexpr uint64_t kClientBatchBytes = 1 << 20;

int Pieces(uint64_t length, uint64_t chunk) {
  return static_cast<int>(std::max<uint64_t>(1, (length + chunk - 1) / chunk));
}

}  // namespace

Connection::Connection(const BridgeConfig& config, std::unique_ptr<wbclient::Volume> volume,
                       std::unique_ptr<wbclient::Admin> admin,
                       std::unique_ptr<wbclient::IoStream> stream, uint64_t generation)
    : config_(config),
      volume_(std::move(volume)),
      admin_(std::move(admin)),
      stream_(std::move(stream)),
      generation_(generation) {
  uint64_t limit = volume_->max_payload() > 0 ? volume_->max_payload() : (1u << 20);
  if (config_.chunk > 0) limit = std::min(limit, config_.chunk);
  // Whole sectors, and whole cache blocks where the limit allows.
  chunk_ = limit >= 4096 ? limit / 4096 * 4096 : std::max<uint64_t>(512, limit / 512 * 512);
}

Connection::~Connection() { Close().IgnoreError(); }

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const BridgeConfig& config,
                                                             const std::string& name) {
  absl::StatusOr<std::unique_ptr<wbclient::Volume>> volume =
      wbclient::Volume::Open(config.endpoint, name, config.options);
  if (!volume.ok()) return volume.status();
  if ((*volume)->max_payload() < kClientBatchBytes && config.options.max_batch > 1) {
    // libwbclient packs up to kClientBatchBytes of writes into one message,
    // which a server with a smaller payload limit refuses as a whole (and
    // the stream with it). One I/O per message stays under the limit.
    wbclient::Options one = config.options;
    one.max_batch = 1;
    volume = wbclient::Volume::Open(config.endpoint, name, one);
    if (!volume.ok()) return volume.status();
  }
  std::unique_ptr<wbclient::Admin> admin;
  uint64_t generation = 0;
  if (config.check_restart) {
    absl::StatusOr<std::unique_ptr<wbclient::Admin>> a =
        wbclient::Admin::Connect(config.endpoint, config.options);
    if (!a.ok()) return a.status();
    absl::StatusOr<writeboost::v1::VolumeStatus> st = (*a)->GetStatus(name);
    if (!st.ok()) {
      return absl::Status(st.status().code(),
                          absl::StrCat("reading the volume's generation (check-restart): ",
                                       st.status().message()));
    }
    generation = st->generation();
    admin = std::move(*a);
  }
  absl::StatusOr<std::unique_ptr<wbclient::IoStream>> stream =
      (*volume)->OpenStream(config.options.queue_depth);
  if (!stream.ok()) return stream.status();
  return std::unique_ptr<Connection>(new Connection(config, std::move(*volume), std::move(admin),
                                                    std::move(*stream), generation));
}

absl::Status Connection::Poisoned() const {
  if (!poisoned_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock l(&mu_);
  return poison_;
}

absl::Status Connection::Read(uint64_t offset, absl::Span<char> out) {
  if (absl::Status p = Poisoned(); !p.ok()) return p;
  const int n = Pieces(out.size(), chunk_);
  auto group = std::make_shared<Group>(n);
  for (int i = 0; i < n; i++) {
    uint64_t at = uint64_t(i) * chunk_;
    uint64_t len = std::min<uint64_t>(chunk_, out.size() - at);
    stream_->Read(offset + at, out.subspan(at, len), group->Callback(group));
  }
  return group->Wait();
}

absl::Status Connection::Write(uint64_t offset, absl::Span<const char> data, bool fua) {
  if (absl::Status p = Poisoned(); !p.ok()) return p;
  const int n = Pieces(data.size(), chunk_);
  auto group = std::make_shared<Group>(n);
  for (int i = 0; i < n; i++) {
    uint64_t at = uint64_t(i) * chunk_;
    uint64_t len = std::min<uint64_t>(chunk_, data.size() - at);
    // FUA on every piece: each is durable before the reply, and the
    // server's group commit makes one device flush serve them together.
    stream_->Write(offset + at, data.subspan(at, len), fua, group->Callback(group));
  }
  return group->Wait();
}

absl::Status Connection::Flush() {
  if (absl::Status p = Poisoned(); !p.ok()) return p;
  auto group = std::make_shared<Group>(1);
  stream_->Flush(group->Callback(group));
  if (absl::Status s = group->Wait(); !s.ok()) return s;
  return CheckGeneration();
}

absl::Status Connection::CheckGeneration() {
  if (admin_ == nullptr) return absl::OkStatus();
  absl::StatusOr<writeboost::v1::VolumeStatus> st = admin_->GetStatus(volume_->name());
  if (!st.ok()) {
    // The flush was answered, but by which incarnation of the server is
    // unknown: do not report success for it.
    return absl::UnavailableError(absl::StrCat(
        "flush answered but the volume's generation could not be checked: ",
        st.status().message()));
  }
  // Generations only grow: equal means the flush was served by the same
  // open of the cache that acknowledged every earlier write.
  if (st->generation() == generation_) return absl::OkStatus();
  absl::Status lost = absl::DataLossError(absl::StrCat(
      "writeboostd reopened volume ", volume_->name(), " (generation ", generation_, " -> ",
      st->generation(), ") after this connection started: writes it acknowledged "
      "before a restart may be lost; reconnect to continue"));
  absl::MutexLock l(&mu_);
  if (poison_.ok()) poison_ = lost;
  poisoned_.store(true, std::memory_order_release);
  return poison_;
}

absl::Status Connection::Trim(uint64_t offset, uint64_t length, bool fua) {
  if (absl::Status p = Poisoned(); !p.ok()) return p;
  auto group = std::make_shared<Group>(1);
  stream_->Trim(offset, length, group->Callback(group));
  if (absl::Status s = group->Wait(); !s.ok() || !fua) return s;
  return Flush();
}

absl::Status Connection::WriteZeroes(uint64_t offset, uint64_t length, bool fua) {
  if (absl::Status p = Poisoned(); !p.ok()) return p;
  const uint64_t chunk = std::max<uint64_t>(config_.zero_chunk / 4096 * 4096, 4096);
  const int n = Pieces(length, chunk);
  auto group = std::make_shared<Group>(n);
  for (int i = 0; i < n; i++) {
    uint64_t at = uint64_t(i) * chunk;
    uint64_t len = std::min<uint64_t>(chunk, length - at);
    stream_->WriteZeroes(offset + at, len, fua, group->Callback(group));
  }
  return group->Wait();
}

absl::Status Connection::Close() {
  if (stream_ == nullptr) return absl::OkStatus();
  absl::Status s = stream_->Close();
  stream_.reset();
  return s;
}

}  // namespace wbnbd
