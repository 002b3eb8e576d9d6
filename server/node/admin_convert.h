// Conversions between the node's types and admin.proto messages.
#ifndef WRITEBOOST_NODE_ADMIN_CONVERT_H_
#define WRITEBOOST_NODE_ADMIN_CONVERT_H_

#include "absl/status/statusor.h"
#include "server/core/tunables.h"
#include "server/node/config.h"
#include "server/node/volume_registry.h"
#include "writeboost/v1/admin.pb.h"

namespace wb::node {

writeboost::v1::VolumeState ToProto(VolumeState s);

void FillVolumeInfo(const VolumeEntry& e, bool read_only, writeboost::v1::VolumeInfo* out);

// Everything GetStatus reports. Takes the core's status when the volume is
// open; otherwise only what the config and the state say.
void FillVolumeStatus(VolumeEntry& e, writeboost::v1::VolumeStatus* out);

void FillTunables(const Tunables& t,
                  google::protobuf::RepeatedPtrField<writeboost::v1::Tunable>* out);

// INVALID_ARGUMENT for a bad name or missing devices; UNIMPLEMENTED for
// more than one cache device or a layout other than SINGLE.
absl::StatusOr<VolumeConfig> SpecToConfig(const writeboost::v1::VolumeSpec& spec);

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_ADMIN_CONVERT_H_
