#include "server/node/block_service.h"

#include "server/core/format/layout.h"
#include "server/node/grpc_status.h"
#include "server/node/io_stream.h"

namespace wb::node {

namespace v1 = writeboost::v1;

grpc::Status BlockServiceImpl::Run(grpc::ServerContext* ctx, const std::string& volume,
                                   const IoArgs& args) {
  absl::StatusOr<std::shared_ptr<VolumeEntry>> entry = ResolveVolume(
      svc_, *ctx, volume, IsWrite(args.kind) ? Access::kWrite : Access::kRead);
  if (!entry.ok()) return ToGrpcStatus(entry.status());
  return ToGrpcStatus(ExecuteAndRecordIo(svc_, **entry, args));
}

grpc::Status BlockServiceImpl::Describe(grpc::ServerContext* ctx,
                                        const v1::DescribeRequest* req,
                                        v1::DescribeResponse* resp) {
  Access access;
  absl::StatusOr<std::shared_ptr<VolumeEntry>> entry =
      ResolveVolume(svc_, *ctx, req->volume(), Access::kRead, &access);
  if (!entry.ok()) return ToGrpcStatus(entry.status());
  VolumeState state = (*entry)->state();
  if (state == VolumeState::kFailed && (*entry)->size() == 0) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "volume " + req->volume() + " failed to open: " + (*entry)->failure()));
  }
  resp->set_size_bytes((*entry)->size());
  resp->set_logical_block_size(512);
  resp->set_optimal_io_size(kBlockSize);
  resp->set_max_payload_bytes(svc_.max_payload);
  resp->set_read_only(access < Access::kWrite);
  resp->set_ready(state == VolumeState::kServing || state == VolumeState::kFailed);
  return grpc::Status::OK;
}

grpc::Status BlockServiceImpl::Read(grpc::ServerContext* ctx, const v1::ReadRequest* req,
                                    v1::ReadResponse* resp) {
  IoArgs a;
  a.kind = IoKind::kRead;
  a.offset = req->offset();
  a.length = req->length();
  a.out = resp->mutable_data();
  return Run(ctx, req->volume(), a);
}

grpc::Status BlockServiceImpl::Write(grpc::ServerContext* ctx, const v1::WriteRequest* req,
                                     v1::WriteResponse*) {
  IoArgs a;
  a.kind = IoKind::kWrite;
  a.offset = req->offset();
  a.data = &req->data();
  a.fua = req->fua();
  return Run(ctx, req->volume(), a);
}

grpc::Status BlockServiceImpl::Flush(grpc::ServerContext* ctx, const v1::FlushRequest* req,
                                     v1::FlushResponse*) {
  IoArgs a;
  a.kind = IoKind::kFlush;
  return Run(ctx, req->volume(), a);
}

grpc::Status BlockServiceImpl::Trim(grpc::ServerContext* ctx, const v1::TrimRequest* req,
                                    v1::TrimResponse*) {
  IoArgs a;
  a.kind = IoKind::kTrim;
  a.offset = req->offset();
  a.length = req->length();
  return Run(ctx, req->volume(), a);
}

grpc::Status BlockServiceImpl::WriteZeroes(grpc::ServerContext* ctx,
                                           const v1::WriteZeroesRequest* req,
                                           v1::WriteZeroesResponse*) {
  IoArgs a;
  a.kind = IoKind::kWriteZeroes;
  a.offset = req->offset();
  a.length = req->length();
  a.fua = req->fua();
  return Run(ctx, req->volume(), a);
}

grpc::Status BlockServiceImpl::Io(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<v1::IoReplyBatch, v1::IoRequestBatch>* stream) {
  IoSession session(svc_, ctx, stream);
  return session.Run();
}

}  // namespace wb::node
