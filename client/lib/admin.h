// libwbclient Admin: the AdminService and the health service of a node.
// Results are the proto messages of proto/writeboost/v1/admin.proto (the
// public contract). Thread-safe.
#ifndef WRITEBOOST_CLIENT_LIB_ADMIN_H_
#define WRITEBOOST_CLIENT_LIB_ADMIN_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/lib/options.h"
#include "writeboost/v1/admin.pb.h"

namespace grpc {
class Channel;
}

namespace wbclient {

class Admin {
 public:
  // Makes no call yet; errors only for bad TLS files.
  static absl::StatusOr<std::unique_ptr<Admin>> Connect(const std::string& endpoint,
                                                        const Options& options = {});
  ~Admin();

  absl::StatusOr<writeboost::v1::ListVolumesResponse> ListVolumes();
  absl::StatusOr<writeboost::v1::VolumeStatus> GetStatus(const std::string& volume);
  // value empty: a message (clear_stat, drop_caches); else set tunable key.
  absl::StatusOr<writeboost::v1::SendMessageResponse> SendMessage(const std::string& volume,
                                                                  const std::string& key,
                                                                  const std::string& value);
  // Writes back every dirty block; progress runs for each update received.
  absl::Status DropCaches(const std::string& volume,
                          const std::function<void(const writeboost::v1::DropCachesProgress&)>&
                              progress);
  absl::StatusOr<writeboost::v1::VolumeInfo> FormatVolume(
      const writeboost::v1::VolumeSpec& spec, bool force, bool attach);
  absl::StatusOr<writeboost::v1::VolumeInfo> AttachVolume(const writeboost::v1::VolumeSpec& spec);
  absl::Status DetachVolume(const std::string& volume, bool drain, bool force);

  // grpc.health.v1 Check: true for SERVING. NOT_FOUND for an unknown
  // service name ("" is the whole server; volume names are services too).
  absl::StatusOr<bool> Serving(const std::string& service);
  // Polls Serving(service) until true or the timeout passes.
  absl::Status WaitServing(const std::string& service, absl::Duration timeout);

 private:
  struct Impl;
  explicit Admin(const Options& options, std::shared_ptr<grpc::Channel> channel);

  const Options options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wbclient

#endif  // WRITEBOOST_CLIENT_LIB_ADMIN_H_
