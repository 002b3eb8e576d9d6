// AdminService (proto/writeboost/v1/admin.proto): listing, status, messages,
// drop_caches with progress, and format/attach/detach.
#ifndef WRITEBOOST_NODE_ADMIN_SERVICE_H_
#define WRITEBOOST_NODE_ADMIN_SERVICE_H_

#include "server/node/block_ops.h"
#include "server/node/config.h"
#include "writeboost/v1/admin.grpc.pb.h"

namespace wb::node {

class AdminServiceImpl final : public writeboost::v1::AdminService::Service {
 public:
  explicit AdminServiceImpl(const ServiceContext& svc) : svc_(svc) {}

  grpc::Status ListVolumes(grpc::ServerContext* ctx,
                           const writeboost::v1::ListVolumesRequest* req,
                           writeboost::v1::ListVolumesResponse* resp) override;
  grpc::Status GetStatus(grpc::ServerContext* ctx,
                         const writeboost::v1::GetStatusRequest* req,
                         writeboost::v1::GetStatusResponse* resp) override;
  grpc::Status SendMessage(grpc::ServerContext* ctx,
                           const writeboost::v1::SendMessageRequest* req,
                           writeboost::v1::SendMessageResponse* resp) override;
  grpc::Status DropCaches(
      grpc::ServerContext* ctx, const writeboost::v1::DropCachesRequest* req,
      grpc::ServerWriter<writeboost::v1::DropCachesProgress>* writer) override;
  grpc::Status FormatVolume(grpc::ServerContext* ctx,
                            const writeboost::v1::FormatVolumeRequest* req,
                            writeboost::v1::FormatVolumeResponse* resp) override;
  grpc::Status AttachVolume(grpc::ServerContext* ctx,
                            const writeboost::v1::AttachVolumeRequest* req,
                            writeboost::v1::AttachVolumeResponse* resp) override;
  grpc::Status DetachVolume(grpc::ServerContext* ctx,
                            const writeboost::v1::DetachVolumeRequest* req,
                            writeboost::v1::DetachVolumeResponse* resp) override;

 private:
  // Attaches cfg (waiting for its open) and records it in svc_.attached, so
  // that it is attached again after a restart. Undoes the attach when it
  // cannot be recorded (UNAVAILABLE).
  absl::Status AttachAndRemember(const VolumeConfig& cfg);

  const ServiceContext& svc_;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_ADMIN_SERVICE_H_
