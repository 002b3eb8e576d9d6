#include "client/lib/volume.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/lib/channel.h"
#include "client/lib/io_stream.h"
#include "client/lib/restart_guard.h"
#include "writeboost/v1/block.grpc.pb.h"

namespace wbclient {

namespace v1 = writeboost::v1;

struct Volume::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::BlockService::Stub> stub;
  std::shared_ptr<RestartGuard> guard;  // null without options.detect_restart

  // DATA_LOSS once the guard is lost, else OK.
  absl::Status Lost() const { return guard != nullptr ? guard->status() : absl::OkStatus(); }
};

Volume::Volume(std::string name, const Options& options,
               std::shared_ptr<grpc::Channel> channel)
    : name_(std::move(name)), options_(options), impl_(std::make_unique<Impl>()) {
  impl_->stub = v1::BlockService::NewStub(channel);
  impl_->channel = std::move(channel);
  if (options_.detect_restart) impl_->guard = std::make_shared<RestartGuard>(name_);
}

Volume::~Volume() = default;

absl::StatusOr<std::unique_ptr<Volume>> Volume::Open(const std::string& endpoint,
                                                     const std::string& name,
                                                     const Options& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(endpoint, options.credentials);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<Volume> vol(new Volume(name, options, *channel));
  absl::Time give_up = absl::Now() + options.open_wait;
  while (true) {
    v1::DescribeRequest req;
    req.set_volume(name);
    v1::DescribeResponse resp;
    absl::Status s = WithRetries(options, [&] {
      grpc::ClientContext ctx;
      PrepareContext(&ctx, options);
      return vol->impl_->stub->Describe(&ctx, req, &resp);
    });
    if (!s.ok()) return s;
    if (resp.ready()) {
      vol->size_ = resp.size_bytes();
      vol->max_payload_ = resp.max_payload_bytes();
      vol->read_only_ = resp.read_only();
      return vol;
    }
    if (absl::Now() > give_up) {
      return absl::UnavailableError(
          absl::StrCat("volume ", name, " is still replaying its log"));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::Status Volume::Read(uint64_t offset, absl::Span<char> out) {
  if (absl::Status lost = impl_->Lost(); !lost.ok()) return lost;
  v1::ReadRequest req;
  req.set_volume(name_);
  req.set_offset(offset);
  req.set_length(out.size());
  v1::ReadResponse resp;
  absl::Status s = WithRetries(options_, [&] {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, options_);
    return impl_->stub->Read(&ctx, req, &resp);
  });
  if (!s.ok()) return s;
  if (resp.data().size() != out.size()) {
    return absl::DataLossError(absl::StrCat("server returned ", resp.data().size(),
                                            " bytes for a read of ", out.size()));
  }
  std::memcpy(out.data(), resp.data().data(), out.size());
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Volume::GenerationBound() {
  RestartGuard& g = *impl_->guard;
  // While writes are pending, a restart before this write loses them
  // anyway, and the newest generation seen is a valid bound. With nothing
  // pending, a restart since then lost nothing: read the current one, so
  // that it is not taken for a loss at the next flush.
  if (g.pending()) return g.known();
  return ReadGeneration(impl_->channel, options_, name_);
}

absl::Status Volume::Mutate(bool fua, absl::FunctionRef<grpc::Status()> call) {
  if (absl::Status lost = impl_->Lost(); !lost.ok()) return lost;
  uint64_t bound = 0;
  if (impl_->guard != nullptr && !fua) {
    absl::StatusOr<uint64_t> b = GenerationBound();
    if (!b.ok()) return b.status();
    bound = *b;
  }
  absl::Status s = FromGrpcStatus(call());
  if (!s.ok() || impl_->guard == nullptr) return s;
  if (!fua) impl_->guard->NoteAck(bound);
  return impl_->guard->status();
}

absl::Status Volume::Write(uint64_t offset, absl::Span<const char> data, bool fua) {
  v1::WriteRequest req;
  req.set_volume(name_);
  req.set_offset(offset);
  req.set_data(data.data(), data.size());
  req.set_fua(fua);
  return Mutate(fua, [&] {
    v1::WriteResponse resp;
    grpc::ClientContext ctx;
    PrepareContext(&ctx, options_);
    return impl_->stub->Write(&ctx, req, &resp);
  });
}

absl::Status Volume::Flush() {
  if (absl::Status lost = impl_->Lost(); !lost.ok()) return lost;
  const uint64_t mark = impl_->guard != nullptr ? impl_->guard->FlushMark() : 0;
  v1::FlushRequest req;
  req.set_volume(name_);
  v1::FlushResponse resp;
  // Flushing twice is harmless, so a flush is retried like a read.
  absl::Status s = WithRetries(options_, [&] {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, options_);
    return impl_->stub->Flush(&ctx, req, &resp);
  });
  if (!s.ok() || impl_->guard == nullptr) return s;
  if (!impl_->guard->pending()) return impl_->guard->status();
  // Which daemon answered is unknown; one read after the reply gives a
  // generation at least as new, which must be the pending writes' own.
  absl::StatusOr<uint64_t> g = ReadGeneration(impl_->channel, options_, name_);
  if (!g.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "the flush was answered, but whether writeboostd restarted since the writes it "
        "covers could not be checked: ", g.status().message()));
  }
  return impl_->guard->NoteFlushed(mark, *g);
}

absl::Status Volume::Trim(uint64_t offset, uint64_t length) {
  // A lost trim leaves old data, which a trim allows: no guard bookkeeping.
  if (absl::Status lost = impl_->Lost(); !lost.ok()) return lost;
  v1::TrimRequest req;
  req.set_volume(name_);
  req.set_offset(offset);
  req.set_length(length);
  v1::TrimResponse resp;
  grpc::ClientContext ctx;
  PrepareContext(&ctx, options_);
  return FromGrpcStatus(impl_->stub->Trim(&ctx, req, &resp));
}

absl::Status Volume::WriteZeroes(uint64_t offset, uint64_t length, bool fua) {
  v1::WriteZeroesRequest req;
  req.set_volume(name_);
  req.set_offset(offset);
  req.set_length(length);
  req.set_fua(fua);
  return Mutate(fua, [&] {
    v1::WriteZeroesResponse resp;
    grpc::ClientContext ctx;
    // Zeroing a whole device goes through the log; give it time.
    Options o = options_;
    o.timeout = absl::InfiniteDuration();
    PrepareContext(&ctx, o);
    return impl_->stub->WriteZeroes(&ctx, req, &resp);
  });
}

absl::StatusOr<std::unique_ptr<IoStream>> Volume::OpenStream(int queue_depth) {
  Options o = options_;
  if (queue_depth > 0) o.queue_depth = queue_depth;
  return IoStream::Open(impl_->channel, name_, o, max_payload_, impl_->guard);
}

}  // namespace wbclient
