#include "server/node/admin_service.h"

#include <new>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/node/admin_convert.h"
#include "server/node/attached_volumes.h"
#include "server/node/grpc_status.h"
#include "server/node/volume_setup.h"

namespace wb::node {

namespace v1 = writeboost::v1;

grpc::Status AdminServiceImpl::ListVolumes(grpc::ServerContext* ctx,
                                           const v1::ListVolumesRequest*,
                                           v1::ListVolumesResponse* resp) {
  const std::string authz = AuthorizationOf(*ctx);
  for (const std::shared_ptr<VolumeEntry>& e : svc_.registry->List()) {
    absl::StatusOr<Access> access = svc_.auth->GrantFor(authz, e->name());
    if (absl::IsUnauthenticated(access.status())) return ToGrpcStatus(access.status());
    if (!access.ok()) continue;  // not the caller's volume
    FillVolumeInfo(*e, *access < Access::kWrite, resp->add_volumes());
  }
  if (svc_.auth->enabled() && resp->volumes().empty()) {
    // Still tell an unknown token apart from a valid one with no volumes.
    absl::StatusOr<Access> probe = svc_.auth->GrantFor(authz, "");
    if (absl::IsUnauthenticated(probe.status())) return ToGrpcStatus(probe.status());
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetStatus(grpc::ServerContext* ctx,
                                         const v1::GetStatusRequest* req,
                                         v1::GetStatusResponse* resp) {
  absl::StatusOr<std::shared_ptr<VolumeEntry>> e =
      ResolveVolume(svc_, *ctx, req->volume(), Access::kRead);
  if (!e.ok()) return ToGrpcStatus(e.status());
  FillVolumeStatus(**e, resp->mutable_status());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SendMessage(grpc::ServerContext* ctx,
                                           const v1::SendMessageRequest* req,
                                           v1::SendMessageResponse* resp) {
  absl::StatusOr<std::shared_ptr<VolumeEntry>> e =
      ResolveVolume(svc_, *ctx, req->volume(), Access::kWrite);
  if (!e.ok()) return ToGrpcStatus(e.status());
  absl::StatusOr<IoRef> vol = (*e)->BeginIo();
  if (!vol.ok()) return ToGrpcStatus(vol.status());
  absl::Status s;
  if (req->key().empty()) {
    s = absl::InvalidArgumentError("no message given");
  } else if (req->key().size() > 64 || req->value().size() > 20) {
    // No message, tunable or uint64 is longer; the core echoes keys.
    s = absl::InvalidArgumentError(absl::StrCat(
        "message ", QuoteBounded(req->key()), " ", QuoteBounded(req->value(), 24),
        " is longer than any message or value"));
  } else if (req->value().empty()) {
    s = (*vol)->SendMessage(req->key());
  } else {
    uint64_t value;
    if (!absl::SimpleAtoi(req->value(), &value)) {
      s = absl::InvalidArgumentError(
          absl::StrCat("value ", QuoteBounded(req->value()), " is not a non-negative integer"));
    } else {
      s = (*vol)->SetTunable(req->key(), value);
    }
  }
  if (!s.ok()) return ToGrpcStatus(s);
  FillTunables((*vol)->GetStatus().tunables, resp->mutable_tunables());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DropCaches(grpc::ServerContext* ctx,
                                          const v1::DropCachesRequest* req,
                                          grpc::ServerWriter<v1::DropCachesProgress>* writer) {
  absl::StatusOr<std::shared_ptr<VolumeEntry>> e =
      ResolveVolume(svc_, *ctx, req->volume(), Access::kWrite);
  if (!e.ok()) return ToGrpcStatus(e.status());
  absl::StatusOr<IoRef> vol = (*e)->BeginIo();
  if (!vol.ok()) return ToGrpcStatus(vol.status());
  const uint64_t initial = (*vol)->GetStatus().nr_dirty_cache_blocks;
  absl::Time last_sent = absl::InfinitePast();
  bool client_gone = false;
  // The core cannot be interrupted: a client that goes away stops getting
  // progress, but the drop runs to its end.
  absl::Status s = (*vol)->DropCaches([&](uint64_t dirty) {
    absl::Time now = absl::Now();
    if (client_gone || (dirty != 0 && now - last_sent < absl::Milliseconds(200))) return;
    last_sent = now;
    v1::DropCachesProgress p;
    p.set_dirty_blocks(dirty);
    p.set_initial_dirty_blocks(std::max(initial, dirty));
    if (!writer->Write(p)) client_gone = true;
  });
  if (!s.ok()) return ToGrpcStatus(s);
  v1::DropCachesProgress done;
  done.set_initial_dirty_blocks(initial);
  done.set_done(true);
  writer->Write(done);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::FormatVolume(grpc::ServerContext* ctx,
                                            const v1::FormatVolumeRequest* req,
                                            v1::FormatVolumeResponse* resp) {
  absl::StatusOr<VolumeConfig> cfg = SpecToConfig(req->spec());
  if (!cfg.ok()) return ToGrpcStatus(cfg.status());
  if (absl::Status s = svc_.auth->Check(AuthorizationOf(*ctx), cfg->name, Access::kAdmin);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (svc_.registry->Find(cfg->name).ok()) {
    return ToGrpcStatus(absl::AlreadyExistsError(
        absl::StrCat("volume ", cfg->name, " is attached; detach it before formatting")));
  }
  absl::Status formatted;
  try {
    formatted = FormatVolumeDevices(*cfg, req->force(), svc_.paths);
  } catch (const std::bad_alloc&) {
    formatted = absl::ResourceExhaustedError(
        absl::StrCat("volume ", cfg->name, ": out of memory while formatting"));
  }
  if (!formatted.ok()) return ToGrpcStatus(formatted);
  if (req->attach()) {
    if (absl::Status s = AttachAndRemember(*cfg); !s.ok()) return ToGrpcStatus(s);
    if (auto e = svc_.registry->Find(cfg->name); e.ok()) {
      FillVolumeInfo(**e, false, resp->mutable_volume());
    }
    return grpc::Status::OK;
  }
  resp->mutable_volume()->set_name(cfg->name);
  resp->mutable_volume()->set_origin(cfg->origin);
  resp->mutable_volume()->add_caches(cfg->cache);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::AttachVolume(grpc::ServerContext* ctx,
                                            const v1::AttachVolumeRequest* req,
                                            v1::AttachVolumeResponse* resp) {
  absl::StatusOr<VolumeConfig> cfg = SpecToConfig(req->spec());
  if (!cfg.ok()) return ToGrpcStatus(cfg.status());
  if (absl::Status s = svc_.auth->Check(AuthorizationOf(*ctx), cfg->name, Access::kAdmin);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = AttachAndRemember(*cfg); !s.ok()) return ToGrpcStatus(s);
  if (auto e = svc_.registry->Find(cfg->name); e.ok()) {
    FillVolumeInfo(**e, false, resp->mutable_volume());
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DetachVolume(grpc::ServerContext* ctx,
                                            const v1::DetachVolumeRequest* req,
                                            v1::DetachVolumeResponse*) {
  if (absl::Status s = CheckVolumeName(req->volume()); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = svc_.auth->Check(AuthorizationOf(*ctx), req->volume(), Access::kAdmin);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (absl::Status s = svc_.registry->Detach(req->volume(), req->drain(), req->force());
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (svc_.attached == nullptr) return grpc::Status::OK;
  if (absl::Status s = svc_.attached->Remove(req->volume()); !s.ok()) {
    return ToGrpcStatus(absl::UnavailableError(absl::StrCat(
        "volume ", req->volume(), " is detached, but it stays listed in ",
        svc_.attached->path(), " and will be attached again at the next start: ",
        s.message())));
  }
  return grpc::Status::OK;
}

absl::Status AdminServiceImpl::AttachAndRemember(const VolumeConfig& cfg) {
  if (absl::Status s = svc_.registry->Attach(cfg, /*wait=*/true, svc_.paths); !s.ok()) {
    return s;
  }
  if (svc_.attached == nullptr) return absl::OkStatus();
  absl::Status s = svc_.attached->Add(cfg, [&] {
    absl::StatusOr<std::shared_ptr<VolumeEntry>> e = svc_.registry->Find(cfg.name);
    return e.ok() && (*e)->config().origin == cfg.origin && CachePaths((*e)->config()) == CachePaths(cfg);
  });
  if (s.ok()) return s;
  // All or nothing: no volume that would silently vanish at the next start.
  // The forced detach loses nothing: whatever was written meanwhile stays
  // in the cache and is replayed at the next attach.
  svc_.registry->Detach(cfg.name, /*drain=*/false, /*force=*/true).IgnoreError();
  return absl::UnavailableError(absl::StrCat("volume ", cfg.name,
                                             " not attached: cannot record it in ",
                                             svc_.attached->path(), ": ", s.message()));
}

}  // namespace wb::node
