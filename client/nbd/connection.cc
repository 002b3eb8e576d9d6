#include "client/nbd/connection.h"

#include <algorithm>
#include <cstring>

#include "absl/synchronization/mutex.h"

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

constexpr uint64_t kSector = 512;

int Pieces(uint64_t length, uint64_t chunk) {
  return static_cast<int>(std::max<uint64_t>(1, (length + chunk - 1) / chunk));
}

bool Aligned(uint64_t offset, uint64_t length) {
  return offset % kSector == 0 && length % kSector == 0;
}

uint64_t RoundUp(uint64_t n) { return (n + kSector - 1) / kSector * kSector; }

}  // namespace

Connection::Connection(const BridgeConfig& config, std::unique_ptr<wbclient::Volume> volume,
                       std::unique_ptr<wbclient::IoStream> stream)
    : config_(config),
      volume_(std::move(volume)),
      stream_(std::move(stream)),
      locks_(SectorLocks::For(volume_->name())) {
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
  absl::StatusOr<std::unique_ptr<wbclient::IoStream>> stream =
      (*volume)->OpenStream(config.options.queue_depth);
  if (!stream.ok()) return stream.status();
  return std::unique_ptr<Connection>(
      new Connection(config, std::move(*volume), std::move(*stream)));
}

absl::Status Connection::Read(uint64_t offset, absl::Span<char> out) {
  if (Aligned(offset, out.size())) return ReadSectors(offset, out);
  // No lock: the bytes asked for are the same before and after another
  // request's read-modify-write of the same sectors.
  const uint64_t start = offset / kSector * kSector;
  std::string buf(RoundUp(offset + out.size()) - start, '\0');
  if (absl::Status s = ReadSectors(start, absl::MakeSpan(buf)); !s.ok()) return s;
  std::memcpy(out.data(), buf.data() + (offset - start), out.size());
  return absl::OkStatus();
}

absl::Status Connection::ReadSectors(uint64_t offset, absl::Span<char> out) {
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
  if (data.empty()) return absl::OkStatus();
  const bool aligned = Aligned(offset, data.size());
  SectorLocks::Hold hold = locks_.Lock(offset / kSector, RoundUp(offset + data.size()) / kSector,
                                       /*exclusive=*/!aligned);
  if (aligned) return WriteSectors(offset, data, fua);
  return Patch(offset, data.size(), data.data(), fua);
}

absl::Status Connection::WriteSectors(uint64_t offset, absl::Span<const char> data, bool fua) {
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

absl::Status Connection::Patch(uint64_t offset, uint64_t length, const char* data, bool fua) {
  const uint64_t start = offset / kSector * kSector;
  const uint64_t end = RoundUp(offset + length);
  std::string buf(end - start, '\0');
  // Only the first and last sectors keep bytes of their own.
  const bool head = offset != start;
  const bool tail = (offset + length) % kSector != 0 && !(head && end - start == kSector);
  if (head) {
    absl::Status s = ReadSectors(start, absl::MakeSpan(buf).subspan(0, kSector));
    if (!s.ok()) return s;
  }
  if (tail) {
    absl::Status s = ReadSectors(end - kSector, absl::MakeSpan(buf).subspan(buf.size() - kSector));
    if (!s.ok()) return s;
  }
  if (data != nullptr) {
    std::memcpy(buf.data() + (offset - start), data, length);
  } else {
    std::memset(buf.data() + (offset - start), 0, length);
  }
  return WriteSectors(start, buf, fua);
}

absl::Status Connection::Flush() {
  auto group = std::make_shared<Group>(1);
  stream_->Flush(group->Callback(group));
  return group->Wait();
}

absl::Status Connection::Trim(uint64_t offset, uint64_t length, bool fua) {
  // Only whole sectors can be trimmed; leaving the edges as they are is
  // what an advisory trim allows.
  const uint64_t start = RoundUp(offset);
  const uint64_t end = (offset + length) / kSector * kSector;
  if (start < end) {
    auto group = std::make_shared<Group>(1);
    stream_->Trim(start, end - start, group->Callback(group));
    if (absl::Status s = group->Wait(); !s.ok()) return s;
  }
  return fua ? Flush() : absl::OkStatus();
}

absl::Status Connection::WriteZeroes(uint64_t offset, uint64_t length, bool fua) {
  if (length == 0) return absl::OkStatus();
  const bool aligned = Aligned(offset, length);
  SectorLocks::Hold hold = locks_.Lock(offset / kSector, RoundUp(offset + length) / kSector,
                                       /*exclusive=*/!aligned);
  if (aligned) return ZeroSectors(offset, length, fua);
  // Partial sectors at either end are patched; whole ones in between are
  // zeroed by the server.
  const uint64_t inner_start = RoundUp(offset);
  const uint64_t inner_end = (offset + length) / kSector * kSector;
  if (inner_start >= inner_end) return Patch(offset, length, nullptr, fua);
  if (offset < inner_start) {
    absl::Status s = Patch(offset, inner_start - offset, nullptr, fua);
    if (!s.ok()) return s;
  }
  if (absl::Status s = ZeroSectors(inner_start, inner_end - inner_start, fua); !s.ok()) return s;
  if (inner_end < offset + length) {
    return Patch(inner_end, offset + length - inner_end, nullptr, fua);
  }
  return absl::OkStatus();
}

absl::Status Connection::ZeroSectors(uint64_t offset, uint64_t length, bool fua) {
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
