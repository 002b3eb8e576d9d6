#include "server/controller/metrics.h"

#include <map>
#include <utility>

#include "absl/time/clock.h"

#ifndef WB_VERSION
#define WB_VERSION "unknown"
#endif

namespace wb::controller {
namespace {

namespace v1 = writeboost::v1;
using prometheus::MetricType;

struct Def {
  const char* name;
  MetricType type;
  const char* help;
};

// Names, types and help texts in one place (docs/CONTROLLER.md lists them).
constexpr Def kBuildInfo = {"writeboost_controller_build_info", MetricType::Gauge,
                            "Always 1; label: the build's version."};
constexpr Def kNodes = {"writeboost_controller_nodes", MetricType::Gauge,
                        "Nodes with a session (registered and not yet forgotten)."};
constexpr Def kVolumes = {"writeboost_controller_volumes", MetricType::Gauge,
                          "Volumes the nodes report, per origin group."};
constexpr Def kMode = {"writeboost_controller_group_mode", MetricType::Gauge,
                       "Always 1; labels: the group and how its budget is set "
                       "(capacity, aimd or unlimited)."};
constexpr Def kBudget = {"writeboost_controller_group_budget_bytes_per_second", MetricType::Gauge,
                         "The group's total writeback budget (absent when unlimited)."};
constexpr Def kBudgetIops = {"writeboost_controller_group_budget_iops", MetricType::Gauge,
                             "The group's total writeback IOPS budget (only when configured)."};
constexpr Def kTarget = {"writeboost_controller_group_target_p99_seconds", MetricType::Gauge,
                         "The origin p99 latency AIMD steers the group's budget to (aimd only)."};
constexpr Def kObserved = {"writeboost_controller_group_observed_p99_seconds", MetricType::Gauge,
                           "The worst origin p99 latency the group's volumes reported over "
                           "their last interval (0 without origin I/O)."};
constexpr Def kGrant = {"writeboost_controller_grant_bytes_per_second", MetricType::Gauge,
                        "The writeback pace granted to a volume (absent when unlimited)."};
constexpr Def kReports = {"writeboost_controller_reports_total", MetricType::Counter,
                          "Reports received from nodes."};
constexpr Def kSessions = {"writeboost_controller_sessions_total", MetricType::Counter,
                           "Node sessions registered."};

using Labels = std::vector<std::pair<std::string, std::string>>;

// One family per name, in first-use order. Not thread-safe: one per scrape.
class Families {
 public:
  void Add(const Def& def, const Labels& labels, double value) {
    auto [it, inserted] = index_.try_emplace(def.name, families_.size());
    if (inserted) {
      prometheus::MetricFamily f;
      f.name = def.name;
      f.help = def.help;
      f.type = def.type;
      families_.push_back(std::move(f));
    }
    prometheus::ClientMetric& m = families_[it->second].metric.emplace_back();
    for (const auto& [name, v] : labels) m.label.push_back({name, v});
    if (def.type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
  }
  std::vector<prometheus::MetricFamily> Take() { return std::move(families_); }

 private:
  std::vector<prometheus::MetricFamily> families_;
  std::map<std::string, size_t> index_;
};

}  // namespace

std::vector<prometheus::MetricFamily> StateCollector::Collect() const {
  const v1::GetPacingResponse view = state_->View(absl::Now());
  const StateStats stats = state_->Stats();
  Families f;
  f.Add(kBuildInfo, {{"version", version_}}, 1);
  f.Add(kNodes, {}, static_cast<double>(stats.nodes));
  for (const v1::GroupPacing& g : view.groups()) {
    size_t volumes = 0;
    for (const v1::NodePacing& n : g.nodes()) volumes += n.volumes_size();
    f.Add(kVolumes, {{"group", g.name()}}, static_cast<double>(volumes));
  }
  for (const v1::GroupPacing& g : view.groups()) {
    f.Add(kMode, {{"group", g.name()}, {"mode", g.mode()}}, 1);
  }
  for (const v1::GroupPacing& g : view.groups()) {
    if (g.mode() != "unlimited") {
      f.Add(kBudget, {{"group", g.name()}}, g.budget_bytes_per_second());
    }
  }
  for (const v1::GroupPacing& g : view.groups()) {
    if (g.budget_iops() > 0) f.Add(kBudgetIops, {{"group", g.name()}}, g.budget_iops());
  }
  for (const v1::GroupPacing& g : view.groups()) {
    if (g.mode() == "aimd") f.Add(kTarget, {{"group", g.name()}}, g.target_p99_ms() / 1000);
  }
  for (const v1::GroupPacing& g : view.groups()) {
    f.Add(kObserved, {{"group", g.name()}}, g.observed_p99_ms() / 1000);
  }
  for (const v1::GroupPacing& g : view.groups()) {
    for (const v1::NodePacing& n : g.nodes()) {
      for (const v1::VolumePacing& v : n.volumes()) {
        if (v.grant().unlimited()) continue;
        f.Add(kGrant, {{"group", g.name()}, {"node", n.node_id()}, {"volume", v.report().volume()}},
              v.grant().bytes_per_second());
      }
    }
  }
  f.Add(kReports, {}, static_cast<double>(stats.reports_total));
  f.Add(kSessions, {}, static_cast<double>(stats.sessions_total));
  return f.Take();
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                                    const PacingState* state) {
  std::unique_ptr<MetricsServer> m(new MetricsServer());
  m->collector_ = std::make_shared<StateCollector>(state, WB_VERSION);
  absl::StatusOr<std::unique_ptr<common::MetricsEndpoint>> e =
      common::MetricsEndpoint::Start(listen, {m->collector_});
  if (!e.ok()) return e.status();
  m->endpoint_ = *std::move(e);
  return m;
}

MetricsServer::~MetricsServer() { StopServing(); }

void MetricsServer::StopServing() {
  if (endpoint_ != nullptr) endpoint_->Stop();
}

}  // namespace wb::controller
