// ControllerLink: the node's session with writeboost-controller
// (docs/CONTROLLER.md). It registers the node, reports every volume each
// report interval (dirty data, room before the stall watermark, origin
// latency, writeback and foreground rates) and applies the grants it gets
// back to the volumes' OriginPacers.
//
// Grants hold for the lease the controller states. When no message renews
// them in time (controller gone or unreachable), every volume goes back to
// local pacing (unpaced writeback under the core's own monitor), which is
// logged; the link keeps reconnecting, and grants apply again as soon as
// the controller answers.
#ifndef WRITEBOOST_NODE_CONTROLLER_LINK_H_
#define WRITEBOOST_NODE_CONTROLLER_LINK_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/node/volume_registry.h"
#include "writeboost/v1/controller.grpc.pb.h"

namespace wb::node {

struct ControllerLinkOptions {
  std::string target;        // HOST:PORT of the controller
  std::string tls_ca;        // PEM file; empty: plaintext
  std::string node_id;
  std::string address;       // where this node serves, for operators
  std::string default_group; // for volumes without origin_group
};

class ControllerLink {
 public:
  // REQUIRES: registry outlives this object.
  ControllerLink(ControllerLinkOptions options, VolumeRegistry* registry);
  ~ControllerLink();  // Stop()

  // Reads the CA file; kNotFound/kInvalidArgument for a bad one. Then
  // connects in the background (never fails for an absent controller).
  absl::Status Start();
  // Ends the session and lets every volume go unpaced.
  void Stop();

  bool connected() const { return connected_.load(); }
  // Whether grants from the controller are in force.
  bool lease_active() const { return lease_active_.load(); }

 private:
  void Run();
  // One session, until it breaks or Stop(). Returns why it ended.
  absl::Status RunSession();
  writeboost::v1::Report BuildReport();
  void ApplyGrants(const writeboost::v1::ControllerMessage& msg);
  // Drops the grants once their lease has run out.
  void ExpireLease();
  // Every volume back to local pacing, no lease held.
  void DropGrants();
  // Waits up to d; returns false when stopping.
  bool Sleep(absl::Duration d);

  const ControllerLinkOptions options_;
  VolumeRegistry* const registry_;
  std::shared_ptr<grpc::ChannelCredentials> creds_;
  std::thread thread_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> lease_active_{false};

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* session_ ABSL_GUARDED_BY(mu_) = nullptr;  // to cancel
  absl::Time lease_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration report_interval_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(500);
  // Foreground byte counters at the previous report, per volume.
  std::map<std::string, std::pair<uint64_t, uint64_t>> last_fg_ ABSL_GUARDED_BY(mu_);
  absl::Time last_report_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_CONTROLLER_LINK_H_
