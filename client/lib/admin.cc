#include "client/lib/admin.h"

#include "absl/strings/str_cat.h"
#include "client/lib/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "writeboost/v1/admin.grpc.pb.h"

namespace wbclient {

namespace v1 = writeboost::v1;
namespace health = grpc::health::v1;

struct Admin::Impl {
  std::unique_ptr<v1::AdminService::Stub> admin;
  std::unique_ptr<health::Health::Stub> health;
};

Admin::Admin(const Options& options, std::shared_ptr<grpc::Channel> channel)
    : options_(options), impl_(std::make_unique<Impl>()) {
  impl_->admin = v1::AdminService::NewStub(channel);
  impl_->health = health::Health::NewStub(channel);
}

Admin::~Admin() = default;

absl::StatusOr<std::unique_ptr<Admin>> Admin::Connect(const std::string& endpoint,
                                                      const Options& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(endpoint, options.credentials);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<Admin>(new Admin(options, *channel));
}

absl::StatusOr<v1::ListVolumesResponse> Admin::ListVolumes() {
  v1::ListVolumesRequest req;
  v1::ListVolumesResponse resp;
  absl::Status s = WithRetries(options_, [&] {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, options_);
    return impl_->admin->ListVolumes(&ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::VolumeStatus> Admin::GetStatus(const std::string& volume) {
  v1::GetStatusRequest req;
  req.set_volume(volume);
  v1::GetStatusResponse resp;
  absl::Status s = WithRetries(options_, [&] {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, options_);
    return impl_->admin->GetStatus(&ctx, req, &resp);
  });
  if (!s.ok()) return s;
  return resp.status();
}

absl::StatusOr<v1::SendMessageResponse> Admin::SendMessage(const std::string& volume,
                                                           const std::string& key,
                                                           const std::string& value) {
  v1::SendMessageRequest req;
  req.set_volume(volume);
  req.set_key(key);
  req.set_value(value);
  v1::SendMessageResponse resp;
  grpc::ClientContext ctx;
  Options o = options_;
  if (key == "drop_caches") o.timeout = absl::InfiniteDuration();
  PrepareContext(&ctx, o);
  absl::Status s = FromGrpcStatus(impl_->admin->SendMessage(&ctx, req, &resp));
  if (!s.ok()) return s;
  return resp;
}

absl::Status Admin::DropCaches(
    const std::string& volume,
    const std::function<void(const v1::DropCachesProgress&)>& progress) {
  v1::DropCachesRequest req;
  req.set_volume(volume);
  grpc::ClientContext ctx;
  PrepareContext(&ctx, options_, /*deadline=*/false);
  std::unique_ptr<grpc::ClientReader<v1::DropCachesProgress>> reader =
      impl_->admin->DropCaches(&ctx, req);
  v1::DropCachesProgress p;
  while (reader->Read(&p)) {
    if (progress) progress(p);
  }
  return FromGrpcStatus(reader->Finish());
}

absl::StatusOr<v1::VolumeInfo> Admin::FormatVolume(const v1::VolumeSpec& spec, bool force,
                                                   bool attach) {
  v1::FormatVolumeRequest req;
  *req.mutable_spec() = spec;
  req.set_force(force);
  req.set_attach(attach);
  v1::FormatVolumeResponse resp;
  grpc::ClientContext ctx;
  Options o = options_;
  o.timeout = absl::InfiniteDuration();  // zeroing a large cache takes a while
  PrepareContext(&ctx, o);
  absl::Status s = FromGrpcStatus(impl_->admin->FormatVolume(&ctx, req, &resp));
  if (!s.ok()) return s;
  return resp.volume();
}

absl::StatusOr<v1::VolumeInfo> Admin::AttachVolume(const v1::VolumeSpec& spec) {
  v1::AttachVolumeRequest req;
  *req.mutable_spec() = spec;
  v1::AttachVolumeResponse resp;
  grpc::ClientContext ctx;
  Options o = options_;
  o.timeout = absl::InfiniteDuration();  // replay
  PrepareContext(&ctx, o);
  absl::Status s = FromGrpcStatus(impl_->admin->AttachVolume(&ctx, req, &resp));
  if (!s.ok()) return s;
  return resp.volume();
}

absl::Status Admin::DetachVolume(const std::string& volume, bool drain, bool force) {
  v1::DetachVolumeRequest req;
  req.set_volume(volume);
  req.set_drain(drain);
  req.set_force(force);
  v1::DetachVolumeResponse resp;
  grpc::ClientContext ctx;
  Options o = options_;
  o.timeout = absl::InfiniteDuration();  // a drain takes as long as it takes
  PrepareContext(&ctx, o);
  return FromGrpcStatus(impl_->admin->DetachVolume(&ctx, req, &resp));
}

absl::StatusOr<bool> Admin::Serving(const std::string& service) {
  health::HealthCheckRequest req;
  req.set_service(service);
  health::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  PrepareContext(&ctx, options_);
  absl::Status s = FromGrpcStatus(impl_->health->Check(&ctx, req, &resp));
  if (!s.ok()) return s;
  return resp.status() == health::HealthCheckResponse::SERVING;
}

absl::Status Admin::WaitServing(const std::string& service, absl::Duration timeout) {
  absl::Time give_up = absl::Now() + timeout;
  absl::Status last;
  while (true) {
    absl::StatusOr<bool> serving = Serving(service);
    if (serving.ok() && *serving) return absl::OkStatus();
    last = serving.ok() ? absl::UnavailableError(absl::StrCat(service, " is NOT_SERVING"))
                        : serving.status();
    if (absl::Now() > give_up) return last;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

}  // namespace wbclient
