#include "client/lib/restart_guard.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/lib/channel.h"
#include "writeboost/v1/admin.grpc.pb.h"

namespace wbclient {

namespace v1 = writeboost::v1;

absl::Status RestartGuard::status() const {
  absl::MutexLock l(&mu_);
  return lost_;
}

bool RestartGuard::pending() const {
  absl::MutexLock l(&mu_);
  return acked_ > covered_;
}

uint64_t RestartGuard::known() const {
  absl::MutexLock l(&mu_);
  return known_;
}

uint64_t RestartGuard::FlushMark() const {
  absl::MutexLock l(&mu_);
  return acked_;
}

void RestartGuard::NoteAck(uint64_t generation) {
  absl::MutexLock l(&mu_);
  // Keep the smallest bound: a check then fails if any pending write could
  // come from an older generation than the one answering.
  pending_generation_ =
      acked_ > covered_ ? std::min(pending_generation_, generation) : generation;
  acked_++;
  known_ = std::max(known_, generation);
}

absl::Status RestartGuard::Observe(uint64_t generation) {
  absl::MutexLock l(&mu_);
  ObserveLocked(generation);
  return lost_;
}

absl::Status RestartGuard::NoteFlushed(uint64_t mark, uint64_t generation) {
  absl::MutexLock l(&mu_);
  ObserveLocked(generation);
  if (lost_.ok()) covered_ = std::max(covered_, mark);
  return lost_;
}

void RestartGuard::ObserveLocked(uint64_t generation) {
  known_ = std::max(known_, generation);
  if (!lost_.ok() || acked_ == covered_ || generation == pending_generation_) return;
  lost_ = absl::DataLossError(absl::StrCat(
      "writeboostd reopened volume ", volume_, " (open generation ", pending_generation_,
      " -> ", generation, ") while ", acked_ - covered_,
      " acknowledged writes were not yet flushed: they may be lost; open the volume again "
      "to continue"));
}

absl::StatusOr<uint64_t> ReadGeneration(const std::shared_ptr<grpc::Channel>& channel,
                                        const Options& options, const std::string& volume) {
  std::unique_ptr<v1::AdminService::Stub> stub = v1::AdminService::NewStub(channel);
  v1::GetStatusRequest req;
  req.set_volume(volume);
  v1::GetStatusResponse resp;
  grpc::ClientContext ctx;
  PrepareContext(&ctx, options);
  absl::Status s = FromGrpcStatus(stub->GetStatus(&ctx, req, &resp));
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("reading the open generation of volume ", volume,
                                               ": ", s.message()));
  }
  const v1::VolumeStatus& st = resp.status();
  if (st.state() == v1::VOLUME_STATE_FAILED) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume, " failed: ", st.failure()));
  }
  if (st.generation() == 0) {
    return absl::UnavailableError(absl::StrCat("volume ", volume, " is not serving (",
                                               v1::VolumeState_Name(st.state()), ")"));
  }
  return st.generation();
}

}  // namespace wbclient
