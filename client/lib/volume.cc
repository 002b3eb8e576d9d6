#include "client/lib/volume.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/lib/channel.h"
#include "client/lib/io_stream.h"
#include "writeboost/v1/block.grpc.pb.h"

namespace wbclient {

namespace v1 = writeboost::v1;

struct Volume::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::BlockService::Stub> stub;
};

Volume::Volume(std::string name, const Options& options,
               std::shared_ptr<grpc::Channel> channel)
    : name_(std::move(name)), options_(options), impl_(std::make_unique<Impl>()) {
  impl_->stub = v1::BlockService::NewStub(channel);
  impl_->channel = std::move(channel);
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

absl::Status Volume::Write(uint64_t offset, absl::Span<const char> data, bool fua) {
  v1::WriteRequest req;
  req.set_volume(name_);
  req.set_offset(offset);
  req.set_data(data.data(), data.size());
  req.set_fua(fua);
  v1::WriteResponse resp;
  grpc::ClientContext ctx;
  PrepareContext(&ctx, options_);
  return FromGrpcStatus(impl_->stub->Write(&ctx, req, &resp));
}

absl::Status Volume::Flush() {
  v1::FlushRequest req;
  req.set_volume(name_);
  v1::FlushResponse resp;
  // Flushing twice is harmless, so a flush is retried like a read.
  return WithRetries(options_, [&] {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, options_);
    return impl_->stub->Flush(&ctx, req, &resp);
  });
}

absl::Status Volume::Trim(uint64_t offset, uint64_t length) {
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
  v1::WriteZeroesResponse resp;
  grpc::ClientContext ctx;
  // Zeroing a whole device goes through the log; give it time.
  Options o = options_;
  o.timeout = absl::InfiniteDuration();
  PrepareContext(&ctx, o);
  return FromGrpcStatus(impl_->stub->WriteZeroes(&ctx, req, &resp));
}

absl::StatusOr<std::unique_ptr<IoStream>> Volume::OpenStream(int queue_depth) {
  Options o = options_;
  if (queue_depth > 0) o.queue_depth = queue_depth;
  return IoStream::Open(impl_->channel, name_, o);
}

}  // namespace wbclient
