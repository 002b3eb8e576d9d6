// writeboost-controller end to end: the real service on a loopback port,
// in-process, driven by fake nodes through the generated stub (the same
// Session a writeboostd opens), GetPacing, health and the metrics endpoint.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/controller/controller.h"
#include "writeboost/v1/controller.grpc.pb.h"

namespace wb::controller {
namespace {

namespace v1 = writeboost::v1;
namespace health = grpc::health::v1;

constexpr double kMiB = 1 << 20;

ControllerConfig Config() {
  ControllerConfig cfg;
  cfg.listen = {"127.0.0.1:0"};
  cfg.metrics_listen = "none";
  cfg.lease_ms = 1000;
  cfg.report_interval_ms = 100;
  cfg.groups["san"].capacity_bytes_per_second = 100 * kMiB;
  cfg.groups["san"].capacity_iops = 1000;
  cfg.groups["ceph"].target_p99_ms = 10;
  cfg.groups["ceph"].max_bytes_per_second = 400 * kMiB;
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  return cfg;
}

v1::VolumeReport Vol(const std::string& name, const std::string& group, uint64_t dirty,
                     uint64_t to_stall, uint64_t waiting = 0) {
  v1::VolumeReport r;
  r.set_volume(name);
  r.set_origin_group(group);
  r.set_dirty_bytes(dirty);
  r.set_capacity_bytes(1000ull << 20);
  r.set_bytes_to_stall(to_stall);
  r.set_writers_waiting(waiting);
  return r;
}

// One node's Session, as writeboostd drives it.
class FakeNode {
 public:
  FakeNode(const std::shared_ptr<grpc::Channel>& channel, const std::string& id)
      : stub_(v1::ControllerService::NewStub(channel)) {
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    stream_ = stub_->Session(&ctx_);
    v1::NodeMessage m;
    m.mutable_register_()->set_node_id(id);
    m.mutable_register_()->set_address(id + ":7200");
    EXPECT_TRUE(stream_->Write(m));
  }
  ~FakeNode() {
    if (closed_) return;
    ctx_.TryCancel();
    stream_->Finish().IgnoreError();
  }

  // One report; the reply's grants by volume name.
  std::map<std::string, v1::Grant> Report(const std::vector<v1::VolumeReport>& vols,
                                          v1::ControllerMessage* reply_out = nullptr) {
    v1::NodeMessage m;
    for (const v1::VolumeReport& v : vols) *m.mutable_report()->add_volumes() = v;
    EXPECT_TRUE(stream_->Write(m));
    v1::ControllerMessage reply;
    EXPECT_TRUE(stream_->Read(&reply)) << "no reply to a Report";
    std::map<std::string, v1::Grant> grants;
    for (const v1::Grant& g : reply.grants()) grants[g.volume()] = g;
    if (reply_out != nullptr) *reply_out = reply;
    return grants;
  }

  // Ends the session cleanly; returns the server's status.
  grpc::Status Close() {
    closed_ = true;
    stream_->WritesDone();
    return stream_->Finish();
  }

  // For a bad message: writes it and returns the status the server ends with.
  grpc::Status SendAndFinish(const v1::NodeMessage& m) {
    stream_->Write(m);
    stream_->WritesDone();
    closed_ = true;
    return stream_->Finish();
  }

  grpc::ClientReaderWriter<v1::NodeMessage, v1::ControllerMessage>* stream() {
    return stream_.get();
  }

 private:
  std::unique_ptr<v1::ControllerService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::NodeMessage, v1::ControllerMessage>> stream_;
  bool closed_ = false;
};

class ControllerE2eTest : public ::testing::Test {
 protected:
  void Start(ControllerConfig cfg = Config()) {
    controller_ = std::make_unique<Controller>(cfg, /*metrics_required=*/true);
    absl::Status s = controller_->Start();
    ASSERT_TRUE(s.ok()) << s;
    channel_ = grpc::CreateChannel(controller_->addresses()[0], grpc::InsecureChannelCredentials());
    stub_ = v1::ControllerService::NewStub(channel_);
  }
  void TearDown() override {
    if (controller_ != nullptr) controller_->Shutdown(absl::ZeroDuration());
  }

  v1::GetPacingResponse View() {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::GetPacingResponse resp;
    grpc::Status s = stub_->GetPacing(&ctx, v1::GetPacingRequest(), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // The group's view, or an empty message when it is absent.
  static v1::GroupPacing Group(const v1::GetPacingResponse& view, const std::string& name) {
    for (const v1::GroupPacing& g : view.groups()) {
      if (g.name() == name) return g;
    }
    return v1::GroupPacing();
  }

  static int Nodes(const v1::GroupPacing& g) { return g.nodes_size(); }

  std::unique_ptr<Controller> controller_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ControllerService::Stub> stub_;
};

TEST_F(ControllerE2eTest, TwoNodesShareACapacityBudgetByUrgency) {
  Start();
  FakeNode a(channel_, "node-a"), b(channel_, "node-b");
  // node-a's volume is relaxed (90% of its log free); node-b's is 5% from
  // its stall watermark.
  const std::vector<v1::VolumeReport> va = {Vol("cool", "san", 10ull << 20, 900ull << 20)};
  const std::vector<v1::VolumeReport> vb = {Vol("hot", "san", 900ull << 20, 50ull << 20)};
  v1::ControllerMessage reply;
  auto ga = a.Report(va, &reply);
  EXPECT_EQ(reply.lease_ms(), 1000u);
  EXPECT_EQ(reply.report_interval_ms(), 100u);
  // Alone in its group, node-a's volume gets the whole budget.
  EXPECT_DOUBLE_EQ(ga["cool"].bytes_per_second(), 100 * kMiB);
  auto gb = b.Report(vb);
  ga = a.Report(va);
  const double cool = ga["cool"].bytes_per_second(), hot = gb["hot"].bytes_per_second();
  EXPECT_GT(hot, 4 * cool) << "the volume near its stall watermark comes first";
  EXPECT_GE(cool, 5 * kMiB) << "the relaxed one keeps its floor";
  EXPECT_NEAR(cool + hot, 100 * kMiB, 1) << "the grants add up to the capacity";
  EXPECT_NEAR(ga["cool"].iops() + gb["hot"].iops(), 1000, 1e-6);
  EXPECT_FALSE(ga["cool"].unlimited());
  EXPECT_TRUE(a.Close().ok());
  EXPECT_TRUE(b.Close().ok());
}

TEST_F(ControllerE2eTest, IdleVolumesKeepAFloorAndALoneActiveOneGetsAlmostAll) {
  Start();
  FakeNode a(channel_, "node-a");
  auto g = a.Report({Vol("busy", "san", 100ull << 20, 500ull << 20),
                     Vol("idle", "san", 0, 1000ull << 20)});
  EXPECT_DOUBLE_EQ(g["busy"].bytes_per_second(), 99 * kMiB);
  EXPECT_DOUBLE_EQ(g["idle"].bytes_per_second(), 1 * kMiB);
  // Writers waiting make an otherwise clean-looking volume active and urgent.
  g = a.Report({Vol("busy", "san", 100ull << 20, 500ull << 20),
                Vol("idle", "san", 0, 1000ull << 20, /*waiting=*/2)});
  EXPECT_GT(g["idle"].bytes_per_second(), g["busy"].bytes_per_second());
}

TEST_F(ControllerE2eTest, GroupsWithoutABudgetAreUnlimited) {
  Start();
  FakeNode a(channel_, "node-a");
  auto g = a.Report({Vol("scratch", "not-configured", 1 << 20, 0), Vol("plain", "", 1 << 20, 0)});
  EXPECT_TRUE(g["scratch"].unlimited());
  EXPECT_TRUE(g["plain"].unlimited());
  v1::GetPacingResponse view = View();
  EXPECT_EQ(Group(view, "not-configured").mode(), "unlimited");
  EXPECT_EQ(Group(view, "default").mode(), "unlimited");
  EXPECT_EQ(Group(view, "default").budget_bytes_per_second(), 0);
}

TEST_F(ControllerE2eTest, GetPacingShowsGroupsNodesReportsAndGrants) {
  Start();
  FakeNode a(channel_, "node-a"), b(channel_, "node-b");
  v1::VolumeReport db = Vol("db", "san", 123456789, 400ull << 20);
  db.set_writeback_bytes_per_second(5e6);
  db.set_origin_p99_ms(7.5);
  db.set_origin_ios(42);
  a.Report({db});
  auto gb = b.Report({Vol("logs", "san", 1 << 20, 800ull << 20), Vol("tmp", "ceph", 1 << 20, 0)});

  v1::GetPacingResponse view = View();
  EXPECT_EQ(view.lease_ms(), 1000u);
  ASSERT_EQ(view.groups_size(), 2) << view.DebugString();
  v1::GroupPacing san = Group(view, "san");
  EXPECT_EQ(san.mode(), "capacity");
  EXPECT_DOUBLE_EQ(san.budget_bytes_per_second(), 100 * kMiB);
  EXPECT_DOUBLE_EQ(san.budget_iops(), 1000);
  EXPECT_DOUBLE_EQ(san.observed_p99_ms(), 7.5);
  ASSERT_EQ(san.nodes_size(), 2);
  EXPECT_EQ(san.nodes(0).node_id(), "node-a");
  EXPECT_EQ(san.nodes(0).address(), "node-a:7200");
  EXPECT_LT(san.nodes(0).last_report_age_ms(), 5000u);
  ASSERT_EQ(san.nodes(0).volumes_size(), 1);
  EXPECT_EQ(san.nodes(0).volumes(0).report().dirty_bytes(), 123456789u);
  EXPECT_EQ(san.nodes(0).volumes(0).report().origin_ios(), 42u);
  EXPECT_EQ(san.nodes(1).node_id(), "node-b");
  EXPECT_DOUBLE_EQ(san.nodes(1).volumes(0).grant().bytes_per_second(),
                   gb["logs"].bytes_per_second());
  double sum = 0;
  for (const v1::NodePacing& n : san.nodes()) sum += n.volumes(0).grant().bytes_per_second();
  EXPECT_NEAR(sum, 100 * kMiB, 1);

  v1::GroupPacing ceph = Group(view, "ceph");
  EXPECT_EQ(ceph.mode(), "aimd");
  EXPECT_DOUBLE_EQ(ceph.target_p99_ms(), 10);
  EXPECT_DOUBLE_EQ(ceph.budget_bytes_per_second(), 100 * kMiB) << "max / 4 to start";
  ASSERT_EQ(ceph.nodes_size(), 1);
  EXPECT_EQ(ceph.nodes(0).volumes(0).report().volume(), "tmp");
  EXPECT_DOUBLE_EQ(gb["tmp"].bytes_per_second(), 100 * kMiB);
}

TEST_F(ControllerE2eTest, AimdCutsTheBudgetWhenTheOriginIsSlow) {
  Start();
  FakeNode a(channel_, "node-a");
  v1::VolumeReport slow = Vol("tmp", "ceph", 1 << 20, 500ull << 20);
  slow.set_origin_ios(1000);
  slow.set_origin_p99_ms(50);
  a.Report({slow});
  absl::SleepFor(absl::Milliseconds(150));  // one report interval
  auto g = a.Report({slow});
  EXPECT_DOUBLE_EQ(g["tmp"].bytes_per_second(), 70 * kMiB);
  EXPECT_DOUBLE_EQ(Group(View(), "ceph").budget_bytes_per_second(), 70 * kMiB);
}

TEST_F(ControllerE2eTest, TheFirstMessageMustBeARegister) {
  Start();
  auto stub = v1::ControllerService::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    auto stream = stub->Session(&ctx);
    v1::NodeMessage m;
    m.mutable_report()->add_volumes()->set_volume("db");
    stream->Write(m);
    stream->WritesDone();
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(s.error_message(), "the first message of a Session must be a Register, got a Report");
  }
  {
    grpc::ClientContext ctx;
    auto stream = stub->Session(&ctx);
    v1::NodeMessage m;
    m.mutable_register_();
    stream->Write(m);
    stream->WritesDone();
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(s.error_message(), "Register.node_id is empty; every node needs a stable id");
  }
  // Later bad messages end the session with a reason, and the node leaves.
  FakeNode a(channel_, "node-a");
  a.Report({Vol("db", "san", 1, 1)});
  v1::NodeMessage twice;
  twice.mutable_report()->add_volumes()->set_volume("x");
  twice.mutable_report()->add_volumes()->set_volume("x");
  grpc::Status s = a.SendAndFinish(twice);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "volume \"x\" is reported twice in one Report");
  EXPECT_EQ(Nodes(Group(View(), "san")), 0);
  EXPECT_EQ(controller_->state().Stats().nodes, 0u);
}

TEST_F(ControllerE2eTest, ADisconnectedNodeLeavesTheViewAndItsShare) {
  Start();
  auto a = std::make_unique<FakeNode>(channel_, "node-a");
  FakeNode b(channel_, "node-b");
  a->Report({Vol("db", "san", 1 << 20, 500ull << 20)});
  auto g = b.Report({Vol("logs", "san", 1 << 20, 500ull << 20)});
  EXPECT_DOUBLE_EQ(g["logs"].bytes_per_second(), 50 * kMiB);
  EXPECT_EQ(Nodes(Group(View(), "san")), 2);

  a.reset();  // cancelled, as when a node dies with its connection
  // Well before the 3 s after which silence alone would drop it.
  absl::Time give_up = absl::Now() + absl::Seconds(2);
  while (Nodes(Group(View(), "san")) != 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  v1::GroupPacing san = Group(View(), "san");
  ASSERT_EQ(san.nodes_size(), 1);
  EXPECT_EQ(san.nodes(0).node_id(), "node-b");
  g = b.Report({Vol("logs", "san", 1 << 20, 500ull << 20)});
  EXPECT_DOUBLE_EQ(g["logs"].bytes_per_second(), 100 * kMiB) << "the whole budget again";

  // A clean close leaves at once too.
  EXPECT_TRUE(b.Close().ok());
  EXPECT_EQ(Nodes(Group(View(), "san")), 0);
}

TEST_F(ControllerE2eTest, ASilentNodeIsForgottenAfterThreeLeases) {
  Start();
  FakeNode quiet(channel_, "quiet");
  quiet.Report({Vol("db", "san", 1 << 20, 500ull << 20)});
  EXPECT_EQ(Nodes(Group(View(), "san")), 1);
  // lease_ms 1000: gone after 3 s without a report, though still connected.
  absl::Time start = absl::Now();
  while (Nodes(Group(View(), "san")) != 0 && absl::Now() - start < absl::Seconds(10)) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(Nodes(Group(View(), "san")), 0);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(2800));
  // Its next report brings it back.
  quiet.Report({Vol("db", "san", 1 << 20, 500ull << 20)});
  EXPECT_EQ(Nodes(Group(View(), "san")), 1);
}

TEST_F(ControllerE2eTest, ANodeThatRegistersAgainReplacesItsOldSession) {
  Start();
  FakeNode old_session(channel_, "node-a");
  old_session.Report({Vol("db", "san", 1 << 20, 500ull << 20)});
  FakeNode fresh(channel_, "node-a");
  fresh.Report({Vol("db", "san", 1 << 20, 500ull << 20)});
  v1::NodeMessage m;
  *m.mutable_report()->add_volumes() = Vol("db", "san", 1 << 20, 500ull << 20);
  grpc::Status s = old_session.SendAndFinish(m);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(Nodes(Group(View(), "san")), 1) << "the new session keeps the node";
}

TEST_F(ControllerE2eTest, HealthSaysServing) {
  Start();
  auto h = health::Health::NewStub(channel_);
  for (const char* service : {"", kControllerServiceName}) {
    grpc::ClientContext ctx;
    health::HealthCheckRequest req;
    req.set_service(service);
    health::HealthCheckResponse resp;
    ASSERT_TRUE(h->Check(&ctx, req, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), health::HealthCheckResponse::SERVING) << service;
  }
}

// GET /metrics over a plain socket.
std::string Scrape(const std::string& address) {
  std::vector<std::string> hp = absl::StrSplit(address, ':');
  int port = 0;
  if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port)) return "bad address " + address;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return std::string("connect: ") + std::strerror(errno);
  }
  std::string req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return "write failed";
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fd);
  return out;
}

TEST_F(ControllerE2eTest, MetricsDescribeGroupsAndGrants) {
  ControllerConfig cfg = Config();
  cfg.metrics_listen = "127.0.0.1:0";
  Start(cfg);
  ASSERT_FALSE(controller_->metrics_address().empty());
  FakeNode a(channel_, "node-a");
  a.Report({Vol("db", "san", 1 << 20, 500ull << 20), Vol("x", "other", 1 << 20, 0)});
  std::string text = Scrape(controller_->metrics_address());
  for (const char* line :
       {"writeboost_controller_build_info{version=\"",
        "writeboost_controller_nodes 1\n",
        "writeboost_controller_volumes{group=\"san\"} 1\n",
        "writeboost_controller_volumes{group=\"ceph\"} 0\n",
        "writeboost_controller_group_mode{group=\"other\",mode=\"unlimited\"} 1\n",
        "writeboost_controller_group_budget_bytes_per_second{group=\"san\"} 104857600\n",
        "writeboost_controller_group_budget_iops{group=\"san\"} 1000\n",
        "writeboost_controller_group_target_p99_seconds{group=\"ceph\"} 0.01\n",
        "writeboost_controller_group_observed_p99_seconds{group=\"san\"} 0\n",
        "writeboost_controller_grant_bytes_per_second{group=\"san\",node=\"node-a\",volume=\"db\"} "
        "104857600\n",
        "writeboost_controller_reports_total 1\n", "writeboost_controller_sessions_total 1\n",
        "# TYPE writeboost_controller_reports_total counter\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
  }
  EXPECT_EQ(text.find("writeboost_controller_group_budget_bytes_per_second{group=\"other\"}"),
            std::string::npos)
      << "unlimited groups have no budget";
  EXPECT_EQ(text.find("volume=\"x\""), std::string::npos) << "nor grants in bytes";
}

TEST_F(ControllerE2eTest, AControllerRestartIsRebuiltFromTheNextReports) {
  Start();
  const std::string address = controller_->addresses()[0];
  {
    FakeNode a(channel_, "node-a");
    a.Report({Vol("db", "san", 1 << 20, 500ull << 20)});
  }
  controller_->Shutdown(absl::ZeroDuration());
  ControllerConfig cfg = Config();
  cfg.listen = {address};
  Start(cfg);
  EXPECT_EQ(Nodes(Group(View(), "san")), 0) << "no durable state";
  FakeNode a(channel_, "node-a");
  auto g = a.Report({Vol("db", "san", 1 << 20, 500ull << 20)});
  EXPECT_DOUBLE_EQ(g["db"].bytes_per_second(), 100 * kMiB);
  EXPECT_EQ(Nodes(Group(View(), "san")), 1);
}

}  // namespace
}  // namespace wb::controller
