// What the unary block RPCs and the Io stream share: finding and
// authorizing the volume, validating a request (nbdkit's validate_request:
// bad client input is answered here, never passed to the core) and running
// it on the core.
#ifndef WRITEBOOST_NODE_BLOCK_OPS_H_
#define WRITEBOOST_NODE_BLOCK_OPS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/node/auth.h"
#include "server/node/byte_budget.h"
#include "server/node/volume_registry.h"

namespace grpc {
class ServerContext;
}

namespace wb::node {

class AttachedVolumes;
class PathPolicy;
class IoMetrics;

// Everything the services need from the node. Owned by the Node; outlives
// every call.
struct ServiceContext {
  VolumeRegistry* registry = nullptr;
  const Authorizer* auth = nullptr;
  uint64_t max_payload = 4ull << 20;
  uint64_t stream_inflight = 8ull << 20;
  int stream_workers = 8;
  ByteBudget* total_inflight = nullptr;
  // Where AdminService records run-time attaches; null: not remembered.
  AttachedVolumes* attached = nullptr;
  // Where AdminService may find devices; null: anywhere (unit tests).
  const PathPolicy* paths = nullptr;
  // Where each request's latency, bytes and failure are counted; null: not
  // counted (no metrics endpoint).
  IoMetrics* io_metrics = nullptr;
};

// Checks the name, the caller's token and that the volume exists.
// INVALID_ARGUMENT (not [A-Za-z0-9._-]{1,64}), UNAUTHENTICATED, PERMISSION_DENIED,
// NOT_FOUND. The caller's access is stored in *granted when not null.
absl::StatusOr<std::shared_ptr<VolumeEntry>> ResolveVolume(
    const ServiceContext& svc, const grpc::ServerContext& ctx,
    const std::string& volume, Access need, Access* granted = nullptr);

enum class IoKind { kRead, kWrite, kFlush, kTrim, kWriteZeroes };

inline bool IsWrite(IoKind k) {
  return k == IoKind::kWrite || k == IoKind::kTrim || k == IoKind::kWriteZeroes;
}

// Checks one request against the volume's size and the payload limit,
// in this order: INVALID_ARGUMENT (zero length; offset or length not a
// multiple of 512), RESOURCE_EXHAUSTED (Read/Write over max_payload),
// OUT_OF_RANGE (past the end). Flush has no range.
absl::Status ValidateIo(IoKind kind, uint64_t offset, uint64_t length,
                        uint64_t volume_size, uint64_t max_payload);

struct IoArgs {
  IoKind kind = IoKind::kRead;
  uint64_t offset = 0;
  uint64_t length = 0;              // kWrite: data->size()
  bool fua = false;
  const std::string* data = nullptr;  // kWrite
  std::string* out = nullptr;         // kRead: resized to length
};

// Validates and runs one request on the volume.
absl::Status ExecuteIo(VolumeEntry& entry, const IoArgs& args, uint64_t max_payload);

// ExecuteIo, timed and counted in svc.io_metrics when it is set.
absl::Status ExecuteAndRecordIo(const ServiceContext& svc, VolumeEntry& entry,
                                const IoArgs& args);

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_BLOCK_OPS_H_
