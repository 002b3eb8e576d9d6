#include "server/controller/state.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/controller/allocator.h"

namespace wb::controller {
namespace {

namespace v1 = writeboost::v1;

const std::string& GroupOf(const v1::VolumeReport& r) { return r.origin_group(); }

}  // namespace

PacingState::PacingState(const ControllerConfig& cfg, absl::Time now)
    : lease_ms_(cfg.lease_ms), report_interval_ms_(cfg.report_interval_ms) {
  absl::MutexLock l(&mu_);
  for (const auto& [name, g] : cfg.groups) {
    Group& group = groups_[name];
    group.configured = true;
    group.config = g;
    group.mode = ModeOf(&g);
    group.last_tick = now;
    if (group.mode == GroupMode::kAimd) {
      group.aimd = std::make_unique<Aimd>(g.target_p99_ms, g.min_bytes_per_second,
                                          g.max_bytes_per_second);
    }
  }
}

PacingState::Group& PacingState::GroupNamed(const std::string& name, absl::Time now) {
  auto [it, inserted] = groups_.try_emplace(name);
  // Not configured: unlimited.
  if (inserted) it->second.last_tick = now;
  return it->second;
}

absl::StatusOr<SessionKey> PacingState::Register(const v1::Register& reg, absl::Time now) {
  if (reg.node_id().empty()) {
    return absl::InvalidArgumentError("Register.node_id is empty; every node needs a stable id");
  }
  absl::MutexLock l(&mu_);
  SessionKey key{reg.node_id(), reg.address(), next_session_++};
  Node& n = nodes_[key.node_id];
  n.address = key.address;
  n.session = key.id;
  n.registered = now;
  sessions_total_++;
  return key;
}

bool PacingState::Fresh(const Node& n, absl::Time now) const {
  return now - n.last_report <= absl::Milliseconds(lease_ms_);
}

absl::StatusOr<v1::ControllerMessage> PacingState::Report(const SessionKey& session,
                                                          const v1::Report& report,
                                                          absl::Time now) {
  std::map<std::string, Volume> volumes;
  for (const v1::VolumeReport& r : report.volumes()) {
    if (r.volume().empty()) {
      return absl::InvalidArgumentError("a VolumeReport has no volume name");
    }
    Volume& v = volumes[r.volume()];
    if (!v.report.volume().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("volume \"", r.volume(), "\" is reported twice in one Report"));
    }
    v.report = r;
    if (v.report.origin_group().empty()) v.report.set_origin_group(kDefaultGroup);
  }

  absl::MutexLock l(&mu_);
  auto it = nodes_.find(session.node_id);
  if (it != nodes_.end() && it->second.session != session.id) {
    return absl::AbortedError(absl::StrCat("node \"", session.node_id,
                                           "\" registered again on a newer session; this "
                                           "session is replaced"));
  }
  Node& n = nodes_[session.node_id];
  if (it == nodes_.end()) {
    // Forgotten for silence (Prune) while its session stayed open.
    n.address = session.address;
    n.session = session.id;
    n.registered = now;
  }
  // Keep each volume's last grant until Recompute replaces it.
  for (auto& [name, v] : volumes) {
    auto old = n.volumes.find(name);
    if (old != n.volumes.end()) v.grant = old->second.grant;
  }
  n.volumes = std::move(volumes);
  n.last_report = now;
  reports_total_++;
  Recompute(now);

  v1::ControllerMessage reply;
  for (const auto& [name, v] : n.volumes) *reply.add_grants() = v.grant;
  reply.set_lease_ms(lease_ms_);
  reply.set_report_interval_ms(report_interval_ms_);
  return reply;
}

void PacingState::EndSession(const SessionKey& session, absl::Time now) {
  absl::MutexLock l(&mu_);
  auto it = nodes_.find(session.node_id);
  if (it == nodes_.end() || it->second.session != session.id) return;
  nodes_.erase(it);
  Recompute(now);
}

std::vector<std::string> PacingState::Prune(absl::Time now) {
  absl::MutexLock l(&mu_);
  std::vector<std::string> gone;
  const absl::Duration limit = absl::Milliseconds(kPruneLeases * static_cast<int64_t>(lease_ms_));
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    const absl::Time last = std::max(it->second.last_report, it->second.registered);
    if (now - last > limit) {
      gone.push_back(it->first);
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
  if (!gone.empty()) Recompute(now);
  return gone;
}

void PacingState::Recompute(absl::Time now) {
  // Every group's fresh volumes, and which groups are reported at all.
  std::map<std::string, std::vector<Volume*>> members;
  std::set<std::string> reported;
  for (auto& [id, n] : nodes_) {
    const bool fresh = Fresh(n, now);
    for (auto& [name, v] : n.volumes) {
      reported.insert(GroupOf(v.report));
      GroupNamed(GroupOf(v.report), now);
      if (fresh) members[GroupOf(v.report)].push_back(&v);
    }
  }
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (!it->second.configured && !reported.count(it->first)) {
      it = groups_.erase(it);
    } else {
      ++it;
    }
  }

  for (auto& [name, g] : groups_) {
    std::vector<Volume*>& vols = members[name];
    bool had_io = false;
    double p99 = 0, writeback = 0;
    for (const Volume* v : vols) {
      writeback += v->report.writeback_bytes_per_second();
      if (v->report.origin_ios() > 0) {
        had_io = true;
        p99 = std::max(p99, v->report.origin_p99_ms());
      }
    }
    g.observed_p99_ms = p99;
    if (g.aimd != nullptr && now - g.last_tick >= absl::Milliseconds(report_interval_ms_)) {
      g.aimd->Tick(had_io, p99, writeback);
      g.last_tick = now;
    }

    Budget budget;
    switch (g.mode) {
      case GroupMode::kUnlimited:
        budget.unlimited = true;
        break;
      case GroupMode::kCapacity:
        budget.bytes_per_second = g.config.capacity_bytes_per_second;
        budget.iops = g.config.capacity_iops;
        break;
      case GroupMode::kAimd:
        budget.bytes_per_second = g.aimd->budget();
        break;
    }
    std::vector<const v1::VolumeReport*> reports;
    reports.reserve(vols.size());
    for (const Volume* v : vols) reports.push_back(&v->report);
    std::vector<v1::Grant> grants = Allocate(budget, reports);
    for (size_t i = 0; i < vols.size(); i++) vols[i]->grant = std::move(grants[i]);
  }
}

v1::GetPacingResponse PacingState::View(absl::Time now) const {
  absl::MutexLock l(&mu_);
  v1::GetPacingResponse out;
  out.set_lease_ms(lease_ms_);
  std::map<std::string, v1::GroupPacing*> by_name;
  for (const auto& [name, g] : groups_) {
    v1::GroupPacing* gp = out.add_groups();
    gp->set_name(name);
    gp->set_mode(GroupModeName(g.mode));
    if (g.mode == GroupMode::kCapacity) {
      gp->set_budget_bytes_per_second(g.config.capacity_bytes_per_second);
      gp->set_budget_iops(g.config.capacity_iops);
    } else if (g.mode == GroupMode::kAimd) {
      gp->set_budget_bytes_per_second(g.aimd->budget());
    }
    gp->set_target_p99_ms(g.config.target_p99_ms);
    gp->set_observed_p99_ms(g.observed_p99_ms);
    by_name[name] = gp;
  }
  for (const auto& [id, n] : nodes_) {
    // One NodePacing per group the node has volumes in.
    std::map<std::string, v1::NodePacing*> mine;
    const absl::Time since = n.last_report == absl::InfinitePast() ? n.registered : n.last_report;
    for (const auto& [name, v] : n.volumes) {
      auto g = by_name.find(GroupOf(v.report));
      if (g == by_name.end()) continue;  // cannot happen: Recompute adds it
      v1::NodePacing*& np = mine[g->first];
      if (np == nullptr) {
        np = g->second->add_nodes();
        np->set_node_id(id);
        np->set_address(n.address);
        np->set_last_report_age_ms(
            static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Milliseconds(now - since))));
      }
      v1::VolumePacing* vp = np->add_volumes();
      *vp->mutable_report() = v.report;
      *vp->mutable_grant() = v.grant;
    }
  }
  return out;
}

StateStats PacingState::Stats() const {
  absl::MutexLock l(&mu_);
  return StateStats{nodes_.size(), reports_total_, sessions_total_};
}

}  // namespace wb::controller
