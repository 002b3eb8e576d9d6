// BlockService (proto/writeboost/v1/block.proto): the unary block calls
// here, the Io stream in io_stream.cc. Synchronous gRPC handlers: each call
// runs on a server thread, which may block in the core (a full log).
#ifndef WRITEBOOST_NODE_BLOCK_SERVICE_H_
#define WRITEBOOST_NODE_BLOCK_SERVICE_H_

#include "server/node/block_ops.h"
#include "writeboost/v1/block.grpc.pb.h"

namespace wb::node {

class BlockServiceImpl final : public writeboost::v1::BlockService::Service {
 public:
  explicit BlockServiceImpl(const ServiceContext& svc) : svc_(svc) {}

  grpc::Status Describe(grpc::ServerContext* ctx,
                        const writeboost::v1::DescribeRequest* req,
                        writeboost::v1::DescribeResponse* resp) override;
  grpc::Status Read(grpc::ServerContext* ctx, const writeboost::v1::ReadRequest* req,
                    writeboost::v1::ReadResponse* resp) override;
  grpc::Status Write(grpc::ServerContext* ctx, const writeboost::v1::WriteRequest* req,
                     writeboost::v1::WriteResponse* resp) override;
  grpc::Status Flush(grpc::ServerContext* ctx, const writeboost::v1::FlushRequest* req,
                     writeboost::v1::FlushResponse* resp) override;
  grpc::Status Trim(grpc::ServerContext* ctx, const writeboost::v1::TrimRequest* req,
                    writeboost::v1::TrimResponse* resp) override;
  grpc::Status WriteZeroes(grpc::ServerContext* ctx,
                           const writeboost::v1::WriteZeroesRequest* req,
                           writeboost::v1::WriteZeroesResponse* resp) override;
  grpc::Status Io(grpc::ServerContext* ctx,
                  grpc::ServerReaderWriter<writeboost::v1::IoReplyBatch,
                                           writeboost::v1::IoRequestBatch>* stream) override;

 private:
  // Resolve (auth, NOT_FOUND) → validate → core, for one unary request.
  grpc::Status Run(grpc::ServerContext* ctx, const std::string& volume,
                   const IoArgs& args);

  const ServiceContext& svc_;
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_BLOCK_SERVICE_H_
