// The controller's whole state: the nodes' sessions, each node's volumes
// with their latest report and grant, and each origin group's budget. It
// lives in memory only; a restarted controller rebuilds it from the
// reports of the nodes as they reconnect (docs/CONTROLLER.md, "Leases").
//
// Thread-safe: every method takes the one mutex; none blocks on I/O. Time
// is passed in, so tests drive it.
#ifndef WRITEBOOST_CONTROLLER_STATE_H_
#define WRITEBOOST_CONTROLLER_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/controller/aimd.h"
#include "server/controller/config.h"
#include "writeboost/v1/controller.pb.h"

namespace wb::controller {

// The group of volumes that report an empty origin_group.
inline constexpr char kDefaultGroup[] = "default";

// A node is forgotten after this many lease periods without a report.
inline constexpr int kPruneLeases = 3;

// Who holds a session: returned by Register, passed to the other calls.
struct SessionKey {
  std::string node_id;
  std::string address;
  uint64_t id = 0;
};

struct StateStats {
  uint64_t nodes = 0;           // registered now
  uint64_t reports_total = 0;   // Reports accepted since start
  uint64_t sessions_total = 0;  // Registers accepted since start
};

class PacingState {
 public:
  // Takes the groups, lease and report interval. REQUIRES:
  // ValidateConfig(cfg) is OK.
  explicit PacingState(const ControllerConfig& cfg, absl::Time now);

  // A node's session starts. A node that registers again replaces its
  // earlier session (whose later reports get ABORTED) and keeps its
  // volumes until it reports. INVALID_ARGUMENT when node_id is empty.
  absl::StatusOr<SessionKey> Register(const writeboost::v1::Register& reg, absl::Time now);

  // Records a report, which replaces the node's set of volumes; recomputes
  // every group's grants; returns this node's grants with the lease.
  // A node forgotten for silence comes back with this report.
  // INVALID_ARGUMENT: a volume without a name, or named twice (nothing is
  // recorded then). ABORTED: the node registered again on another session.
  absl::StatusOr<writeboost::v1::ControllerMessage> Report(const SessionKey& session,
                                                           const writeboost::v1::Report& report,
                                                           absl::Time now);

  // The session ended: the node and its volumes leave the view and their
  // budget goes to the others. Does nothing when the node has registered
  // again since.
  void EndSession(const SessionKey& session, absl::Time now);

  // Forgets nodes without a report for kPruneLeases leases. Returns their
  // ids.
  std::vector<std::string> Prune(absl::Time now);

  // GetPacing: every configured group, and every other group some volume
  // reports; in each, the nodes with volumes in it.
  writeboost::v1::GetPacingResponse View(absl::Time now) const;

  StateStats Stats() const;

  uint32_t lease_ms() const { return lease_ms_; }
  uint32_t report_interval_ms() const { return report_interval_ms_; }

 private:
  struct Volume {
    writeboost::v1::VolumeReport report;  // origin_group filled in
    writeboost::v1::Grant grant;
  };
  struct Node {
    std::string address;
    uint64_t session = 0;
    absl::Time registered;
    absl::Time last_report = absl::InfinitePast();  // InfinitePast: none yet
    std::map<std::string, Volume> volumes;
  };
  struct Group {
    GroupMode mode = GroupMode::kUnlimited;
    GroupConfig config;
    bool configured = false;
    std::unique_ptr<Aimd> aimd;  // kAimd only
    absl::Time last_tick;
    double observed_p99_ms = 0;
  };

  // A node whose lease has lapsed paces itself: its volumes get no share.
  bool Fresh(const Node& n, absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ticks AIMD budgets that are due, splits every group's budget among its
  // fresh volumes and drops unconfigured groups nobody reports.
  void Recompute(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Group& GroupNamed(const std::string& name, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t lease_ms_;
  const uint32_t report_interval_ms_;
  mutable absl::Mutex mu_;
  std::map<std::string, Node> nodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Group> groups_ ABSL_GUARDED_BY(mu_);
  uint64_t next_session_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t reports_total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sessions_total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace wb::controller

#endif  // WRITEBOOST_CONTROLLER_STATE_H_
