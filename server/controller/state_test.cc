#include "server/controller/state.h"

#include <string>

#include <gtest/gtest.h>

namespace wb::controller {
namespace {

namespace v1 = writeboost::v1;

constexpr double kMiB = 1 << 20;
const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

ControllerConfig Config() {
  ControllerConfig cfg;
  cfg.lease_ms = 3000;
  cfg.report_interval_ms = 500;
  cfg.groups["san"].capacity_bytes_per_second = 100 * kMiB;
  cfg.groups["san"].capacity_iops = 1000;
  cfg.groups["ceph"].target_p99_ms = 10;
  cfg.groups["ceph"].max_bytes_per_second = 400 * kMiB;
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  return cfg;
}

v1::Register Reg(const std::string& node) {
  v1::Register r;
  r.set_node_id(node);
  r.set_address(node + ":7200");
  return r;
}

v1::VolumeReport* Add(v1::Report* r, const std::string& volume, const std::string& group,
                      uint64_t dirty = 1 << 20) {
  v1::VolumeReport* v = r->add_volumes();
  v->set_volume(volume);
  v->set_origin_group(group);
  v->set_dirty_bytes(dirty);
  v->set_capacity_bytes(1000ull << 20);
  v->set_bytes_to_stall(500ull << 20);
  return v;
}

const v1::GroupPacing* FindGroup(const v1::GetPacingResponse& view, const std::string& name) {
  for (const v1::GroupPacing& g : view.groups()) {
    if (g.name() == name) return &g;
  }
  return nullptr;
}

TEST(PacingStateTest, RegisterNeedsANodeId) {
  PacingState s(Config(), kT0);
  absl::StatusOr<SessionKey> k = s.Register(v1::Register(), kT0);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(k.status().message(), "Register.node_id is empty; every node needs a stable id");
}

TEST(PacingStateTest, CapacityIsSplitAcrossNodes) {
  PacingState s(Config(), kT0);
  SessionKey a = *s.Register(Reg("a"), kT0);
  SessionKey b = *s.Register(Reg("b"), kT0);
  v1::Report ra, rb;
  Add(&ra, "db", "san");
  Add(&rb, "logs", "san");
  ASSERT_TRUE(s.Report(a, ra, kT0).ok());
  absl::StatusOr<v1::ControllerMessage> m = s.Report(b, rb, kT0);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->lease_ms(), 3000u);
  EXPECT_EQ(m->report_interval_ms(), 500u);
  ASSERT_EQ(m->grants_size(), 1);
  EXPECT_EQ(m->grants(0).volume(), "logs");
  EXPECT_DOUBLE_EQ(m->grants(0).bytes_per_second(), 50 * kMiB);
  EXPECT_DOUBLE_EQ(m->grants(0).iops(), 500);

  v1::GetPacingResponse view = s.View(kT0 + absl::Milliseconds(20));
  const v1::GroupPacing* san = FindGroup(view, "san");
  ASSERT_NE(san, nullptr);
  EXPECT_EQ(san->mode(), "capacity");
  EXPECT_DOUBLE_EQ(san->budget_bytes_per_second(), 100 * kMiB);
  ASSERT_EQ(san->nodes_size(), 2);
  EXPECT_EQ(san->nodes(0).node_id(), "a");
  EXPECT_EQ(san->nodes(0).address(), "a:7200");
  EXPECT_EQ(san->nodes(0).last_report_age_ms(), 20u);
  // Node a's grant was recomputed when b reported.
  EXPECT_DOUBLE_EQ(san->nodes(0).volumes(0).grant().bytes_per_second(), 50 * kMiB);
  EXPECT_EQ(san->nodes(0).volumes(0).report().volume(), "db");
  EXPECT_EQ(s.Stats().nodes, 2u);
  EXPECT_EQ(s.Stats().reports_total, 2u);
  EXPECT_EQ(s.Stats().sessions_total, 2u);
}

TEST(PacingStateTest, UnconfiguredGroupsAreUnlimitedAndComeAndGo) {
  PacingState s(Config(), kT0);
  SessionKey a = *s.Register(Reg("a"), kT0);
  v1::Report r;
  Add(&r, "x", "elsewhere");
  Add(&r, "y", "");
  v1::ControllerMessage m = *s.Report(a, r, kT0);
  ASSERT_EQ(m.grants_size(), 2);
  EXPECT_TRUE(m.grants(0).unlimited());
  EXPECT_TRUE(m.grants(1).unlimited());
  v1::GetPacingResponse view = s.View(kT0);
  ASSERT_NE(FindGroup(view, "elsewhere"), nullptr);
  EXPECT_EQ(FindGroup(view, "elsewhere")->mode(), "unlimited");
  ASSERT_NE(FindGroup(view, kDefaultGroup), nullptr) << "an empty origin_group is \"default\"";
  EXPECT_EQ(FindGroup(view, kDefaultGroup)->nodes(0).volumes(0).report().origin_group(),
            "default");

  s.EndSession(a, kT0);
  view = s.View(kT0);
  EXPECT_EQ(FindGroup(view, "elsewhere"), nullptr);
  EXPECT_EQ(FindGroup(view, kDefaultGroup), nullptr);
  ASSERT_NE(FindGroup(view, "san"), nullptr) << "configured groups stay";
  EXPECT_EQ(FindGroup(view, "san")->nodes_size(), 0);
  EXPECT_EQ(s.Stats().nodes, 0u);
}

TEST(PacingStateTest, BadReportsRecordNothing) {
  PacingState s(Config(), kT0);
  SessionKey a = *s.Register(Reg("a"), kT0);
  v1::Report dup;
  Add(&dup, "db", "san");
  Add(&dup, "db", "san");
  absl::StatusOr<v1::ControllerMessage> m = s.Report(a, dup, kT0);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.status().message(), "volume \"db\" is reported twice in one Report");
  v1::Report unnamed;
  Add(&unnamed, "", "san");
  EXPECT_EQ(s.Report(a, unnamed, kT0).status().message(), "a VolumeReport has no volume name");
  EXPECT_EQ(FindGroup(s.View(kT0), "san")->nodes_size(), 0);
  EXPECT_EQ(s.Stats().reports_total, 0u);
}

TEST(PacingStateTest, ReRegisteringReplacesTheSession) {
  PacingState s(Config(), kT0);
  SessionKey old = *s.Register(Reg("a"), kT0);
  v1::Report r;
  Add(&r, "db", "san");
  ASSERT_TRUE(s.Report(old, r, kT0).ok());
  SessionKey fresh = *s.Register(Reg("a"), kT0 + absl::Seconds(1));
  EXPECT_NE(old.id, fresh.id);
  EXPECT_EQ(s.Report(old, r, kT0 + absl::Seconds(1)).status().code(),
            absl::StatusCode::kAborted);
  // The old session ending does not take the node away.
  s.EndSession(old, kT0 + absl::Seconds(1));
  EXPECT_EQ(FindGroup(s.View(kT0), "san")->nodes_size(), 1);
  EXPECT_TRUE(s.Report(fresh, r, kT0 + absl::Seconds(1)).ok());
  s.EndSession(fresh, kT0 + absl::Seconds(1));
  EXPECT_EQ(FindGroup(s.View(kT0), "san")->nodes_size(), 0);
}

TEST(PacingStateTest, LapsedNodesGetNoShareAndAreForgottenAfterThreeLeases) {
  PacingState s(Config(), kT0);
  SessionKey a = *s.Register(Reg("a"), kT0);
  SessionKey b = *s.Register(Reg("b"), kT0);
  v1::Report ra, rb;
  Add(&ra, "db", "san");
  Add(&rb, "logs", "san");
  ASSERT_TRUE(s.Report(a, ra, kT0).ok());
  ASSERT_TRUE(s.Report(b, rb, kT0).ok());
  // a goes silent; past its lease, b gets the whole budget.
  absl::Time t = kT0 + absl::Milliseconds(3500);
  v1::ControllerMessage m = *s.Report(b, rb, t);
  EXPECT_DOUBLE_EQ(m.grants(0).bytes_per_second(), 100 * kMiB);
  EXPECT_EQ(FindGroup(s.View(t), "san")->nodes_size(), 2) << "still shown";
  EXPECT_TRUE(s.Prune(t).empty());
  std::vector<std::string> gone = s.Prune(kT0 + absl::Milliseconds(9001));
  EXPECT_EQ(gone, std::vector<std::string>{"a"});
  EXPECT_EQ(s.Stats().nodes, 1u);
  // Its session was still open: its next report brings it back.
  ASSERT_TRUE(s.Report(a, ra, kT0 + absl::Seconds(10)).ok());
  EXPECT_EQ(s.Stats().nodes, 2u);
}

TEST(PacingStateTest, RegisteredButSilentNodesArePrunedToo) {
  PacingState s(Config(), kT0);
  ASSERT_TRUE(s.Register(Reg("mute"), kT0).ok());
  EXPECT_TRUE(s.Prune(kT0 + absl::Seconds(9)).empty());
  EXPECT_EQ(s.Prune(kT0 + absl::Milliseconds(9001)), std::vector<std::string>{"mute"});
}

TEST(PacingStateTest, AimdTicksOncePerIntervalOnTheWorstLatency) {
  PacingState s(Config(), kT0);
  SessionKey a = *s.Register(Reg("a"), kT0);
  SessionKey b = *s.Register(Reg("b"), kT0);
  v1::Report ra, rb;
  v1::VolumeReport* fast = Add(&ra, "db", "ceph");
  fast->set_origin_ios(100);
  fast->set_origin_p99_ms(2);
  v1::VolumeReport* slow = Add(&rb, "logs", "ceph");
  slow->set_origin_ios(100);
  slow->set_origin_p99_ms(40);
  // Before an interval has passed: the starting budget, max / 4.
  ASSERT_TRUE(s.Report(a, ra, kT0).ok());
  ASSERT_TRUE(s.Report(b, rb, kT0).ok());
  const v1::GetPacingResponse before = s.View(kT0);
  const v1::GroupPacing* ceph = FindGroup(before, "ceph");
  ASSERT_NE(ceph, nullptr);
  EXPECT_EQ(ceph->mode(), "aimd");
  EXPECT_DOUBLE_EQ(ceph->budget_bytes_per_second(), 100 * kMiB);
  EXPECT_DOUBLE_EQ(ceph->target_p99_ms(), 10);
  EXPECT_DOUBLE_EQ(ceph->observed_p99_ms(), 40);
  // One interval later, b's 40 ms p99 is over the 10 ms target: cut once,
  // however many reports arrive in that interval.
  absl::Time t = kT0 + absl::Milliseconds(500);
  ASSERT_TRUE(s.Report(a, ra, t).ok());
  ASSERT_TRUE(s.Report(b, rb, t).ok());
  v1::GetPacingResponse view = s.View(t);
  EXPECT_DOUBLE_EQ(FindGroup(view, "ceph")->budget_bytes_per_second(), 70 * kMiB);
  double sum = 0;
  for (const v1::NodePacing& n : FindGroup(view, "ceph")->nodes()) {
    sum += n.volumes(0).grant().bytes_per_second();
  }
  EXPECT_NEAR(sum, 70 * kMiB, 1);
}

TEST(PacingStateTest, AVolumeMayMoveBetweenGroups) {
  PacingState s(Config(), kT0);
  SessionKey a = *s.Register(Reg("a"), kT0);
  v1::Report r;
  Add(&r, "db", "san");
  ASSERT_TRUE(s.Report(a, r, kT0).ok());
  r.mutable_volumes(0)->set_origin_group("ceph");
  ASSERT_TRUE(s.Report(a, r, kT0).ok());
  v1::GetPacingResponse view = s.View(kT0);
  EXPECT_EQ(FindGroup(view, "san")->nodes_size(), 0);
  EXPECT_EQ(FindGroup(view, "ceph")->nodes_size(), 1);
}

}  // namespace
}  // namespace wb::controller
