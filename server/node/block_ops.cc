#include "server/node/block_ops.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/core/device/device.h"
#include "server/node/metrics_io.h"

namespace wb::node {

absl::StatusOr<std::shared_ptr<VolumeEntry>> ResolveVolume(
    const ServiceContext& svc, const grpc::ServerContext& ctx,
    const std::string& volume, Access need, Access* granted) {
  // Before anything else, and before the name is echoed anywhere.
  if (absl::Status s = CheckVolumeName(volume); !s.ok()) return s;
  // Authorization comes first so that an unauthorized caller cannot probe
  // which names exist.
  const std::string authorization = AuthorizationOf(ctx);
  absl::StatusOr<Access> access = svc.auth->GrantFor(authorization, volume);
  if (!access.ok()) return access.status();
  if (*access < need) return svc.auth->Check(authorization, volume, need);  // says why
  if (granted != nullptr) *granted = *access;
  return svc.registry->Find(volume);
}

absl::Status ValidateIo(IoKind kind, uint64_t offset, uint64_t length,
                        uint64_t volume_size, uint64_t max_payload) {
  if (kind == IoKind::kFlush) return absl::OkStatus();
  if (length == 0) return absl::InvalidArgumentError("length is zero");
  if (offset % kSectorSize != 0 || length % kSectorSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "offset %u and length %u must be multiples of %u", offset, length,
        kSectorSize));
  }
  if ((kind == IoKind::kRead || kind == IoKind::kWrite) && length > max_payload) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "payload of %u bytes is over the server's maximum of %u", length,
        max_payload));
  }
  if (offset > volume_size || length > volume_size - offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "range [%u, +%u) is beyond the end of the volume (%u bytes)", offset,
        length, volume_size));
  }
  return absl::OkStatus();
}

absl::Status ExecuteIo(VolumeEntry& entry, const IoArgs& a, uint64_t max_payload) {
  absl::StatusOr<IoRef> vol = entry.BeginIo();
  if (!vol.ok()) return vol.status();
  uint64_t length = a.kind == IoKind::kWrite ? a.data->size() : a.length;
  if (absl::Status s = ValidateIo(a.kind, a.offset, length, (*vol)->size(), max_payload);
      !s.ok()) {
    return s;
  }
  switch (a.kind) {
    case IoKind::kRead:
      // resize() zero-fills; the read then overwrites every byte.
      a.out->resize(length);
      return (*vol)->Read(a.offset, absl::Span<char>(a.out->data(), length));
    case IoKind::kWrite:
      return (*vol)->Write(a.offset, absl::Span<const char>(*a.data), a.fua);
    case IoKind::kFlush:
      return (*vol)->Flush();
    case IoKind::kTrim:
      return (*vol)->Trim(a.offset, length);
    case IoKind::kWriteZeroes:
      return (*vol)->WriteZeroes(a.offset, length, a.fua);
  }
  return absl::InternalError("unknown I/O kind");
}

absl::Status ExecuteAndRecordIo(const ServiceContext& svc, VolumeEntry& entry,
                                const IoArgs& a) {
  auto start = std::chrono::steady_clock::now();
  absl::Status s = ExecuteIo(entry, a, svc.max_payload);
  if (s.ok() && a.kind == IoKind::kRead) entry.CountForeground(false, a.length);
  if (s.ok() && a.kind == IoKind::kWrite) entry.CountForeground(true, a.data->size());
  if (svc.io_metrics == nullptr) return s;
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - start).count();
  IoOp op = IoOp::kRead;
  uint64_t bytes = a.length;
  switch (a.kind) {
    case IoKind::kRead: op = IoOp::kRead; break;
    case IoKind::kWrite:
      op = a.fua ? IoOp::kWriteFua : IoOp::kWrite;
      bytes = a.data->size();
      break;
    case IoKind::kWriteZeroes: op = a.fua ? IoOp::kWriteZeroesFua : IoOp::kWriteZeroes; break;
    case IoKind::kTrim: op = IoOp::kTrim; break;
    case IoKind::kFlush: op = IoOp::kFlush; bytes = 0; break;
  }
  svc.io_metrics->Record(entry.name(), op, bytes, static_cast<uint64_t>(nanos), s.ok());
  return s;
}

}  // namespace wb::node
