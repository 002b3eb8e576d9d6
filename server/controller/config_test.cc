#include "server/controller/config.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace wb::controller {
namespace {

absl::Status Parse(const std::string& json, ControllerConfig* cfg) {
  absl::Status s = ParseConfigJson(json, cfg);
  if (!s.ok()) return s;
  return ValidateConfig(*cfg);
}

// The message of a failed parse or validation ("" when it succeeded).
std::string Error(const std::string& json) {
  ControllerConfig cfg;
  absl::Status s = Parse(json, &cfg);
  EXPECT_FALSE(s.ok()) << json;
  if (!s.ok()) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
  return std::string(s.message());
}

TEST(ControllerConfigTest, ParsesTheDocumentedExample) {
  ControllerConfig cfg;
  absl::Status s = Parse(R"({
    "lease_ms": 4000, "report_interval_ms": 250,
    "groups": {
      "san-a": {"capacity_bytes_per_second": 209715200, "capacity_iops": 4000},
      "ceph-ssd": {"target_p99_ms": 20, "min_bytes_per_second": 1048576,
                   "max_bytes_per_second": 1073741824},
      "scratch": {}
    }})",
                         &cfg);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(cfg.lease_ms, 4000u);
  EXPECT_EQ(cfg.report_interval_ms, 250u);
  ASSERT_EQ(cfg.groups.size(), 3u);
  EXPECT_EQ(cfg.groups["san-a"].capacity_bytes_per_second, 209715200);
  EXPECT_EQ(cfg.groups["san-a"].capacity_iops, 4000);
  EXPECT_EQ(ModeOf(&cfg.groups["san-a"]), GroupMode::kCapacity);
  EXPECT_EQ(cfg.groups["ceph-ssd"].target_p99_ms, 20);
  EXPECT_EQ(cfg.groups["ceph-ssd"].max_bytes_per_second, 1073741824);
  EXPECT_EQ(ModeOf(&cfg.groups["ceph-ssd"]), GroupMode::kAimd);
  EXPECT_EQ(ModeOf(&cfg.groups["scratch"]), GroupMode::kUnlimited);
  EXPECT_EQ(ModeOf(nullptr), GroupMode::kUnlimited);
}

TEST(ControllerConfigTest, ModeNames) {
  EXPECT_STREQ(GroupModeName(GroupMode::kCapacity), "capacity");
  EXPECT_STREQ(GroupModeName(GroupMode::kAimd), "aimd");
  EXPECT_STREQ(GroupModeName(GroupMode::kUnlimited), "unlimited");
}

TEST(ControllerConfigTest, DefaultsAreValid) {
  ControllerConfig cfg;
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  EXPECT_EQ(cfg.listen, std::vector<std::string>{"127.0.0.1:7300"});
  EXPECT_EQ(cfg.metrics_listen, "127.0.0.1:7301");
  EXPECT_EQ(cfg.lease_ms, 3000u);
  EXPECT_EQ(cfg.report_interval_ms, 500u);
}

TEST(ControllerConfigTest, ErrorsNameTheKey) {
  EXPECT_EQ(Error(R"({"lease": 1})"),
            "lease: unknown key; known: lease_ms, report_interval_ms, groups");
  EXPECT_EQ(Error(R"({"groups": {"a": {"capacity": 1}}})"),
            "groups.a.capacity: unknown key; known: capacity_bytes_per_second, capacity_iops, "
            "target_p99_ms, min_bytes_per_second, max_bytes_per_second");
  EXPECT_EQ(Error(R"({"groups": {"a": {"capacity_bytes_per_second": -5}}})"),
            "groups.a.capacity_bytes_per_second: must be >= 0, got -5");
  EXPECT_EQ(Error(R"({"groups": {"a": {"target_p99_ms": "20"}}})"),
            "groups.a.target_p99_ms: want a number, got string");
  EXPECT_EQ(Error(R"({"groups": {"a": 7}})"), "groups.a: want an object, got number");
  EXPECT_EQ(Error(R"({"groups": []})"),
            "groups: want an object of group name -> settings, got array");
  EXPECT_EQ(Error(R"({"lease_ms": -1})"),
            "lease_ms: must be a positive number of milliseconds, got -1");
  EXPECT_EQ(Error(R"({"lease_ms": 0})"),
            "lease_ms: must be a positive number of milliseconds, got 0");
  EXPECT_EQ(Error(R"({"report_interval_ms": 1.5})"),
            "report_interval_ms: want an integer number of milliseconds, got 1.5");
  EXPECT_EQ(Error("[1]"), "the top level must be an object");
  EXPECT_EQ(Error("{"), "not valid JSON");
}

TEST(ControllerConfigTest, GroupFieldsMustFitTogether) {
  EXPECT_NE(Error(R"({"groups": {"a": {"capacity_iops": 100}}})")
                .find("capacity_iops needs capacity_bytes_per_second"),
            std::string::npos);
  EXPECT_NE(Error(R"({"groups": {"a": {"capacity_bytes_per_second": 1, "target_p99_ms": 5}}})")
                .find("exclude each other"),
            std::string::npos);
  EXPECT_NE(Error(R"({"groups": {"a": {"max_bytes_per_second": 100}}})")
                .find("need target_p99_ms"),
            std::string::npos);
  EXPECT_EQ(Error(R"({"groups": {"a": {"target_p99_ms": 5, "min_bytes_per_second": 200,
                                       "max_bytes_per_second": 100}}})"),
            "groups.a: min_bytes_per_second (200) is above max_bytes_per_second (100)");
  EXPECT_NE(Error(R"({"groups": {"a b": {}}})").find("no spaces"), std::string::npos);
  EXPECT_NE(Error(R"({"groups": {"": {}}})").find("1 to 128 characters"), std::string::npos);
}

TEST(ControllerConfigTest, LeaseMustCoverTwoReports) {
  EXPECT_EQ(Error(R"({"lease_ms": 900, "report_interval_ms": 500})"),
            "lease_ms (900) must be at least twice report_interval_ms (500), so that one late "
            "report does not lapse the leases");
  EXPECT_EQ(Error(R"({"report_interval_ms": 10})"),
            "report_interval_ms must be from 50 to 60000, got 10");
  ControllerConfig cfg;
  EXPECT_TRUE(Parse(R"({"lease_ms": 1000, "report_interval_ms": 500})", &cfg).ok());
}

TEST(ControllerConfigTest, NetworkListeningNeedsTlsOrInsecure) {
  ControllerConfig cfg;
  cfg.listen = {"127.0.0.1:7300", "0.0.0.0:7300"};
  absl::Status s = ValidateConfig(cfg);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("refusing to listen on non-loopback address 0.0.0.0:7300"),
            absl::string_view::npos)
      << s;
  cfg.insecure = true;
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  cfg.insecure = false;
  cfg.tls_cert = "c.pem";
  cfg.tls_key = "k.pem";
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  cfg.tls_key.clear();
  EXPECT_EQ(ValidateConfig(cfg).message(), "--tls-cert and --tls-key go together");
  cfg.tls_cert.clear();
  cfg.tls_ca = "ca.pem";
  cfg.listen = {"127.0.0.1:7300"};
  EXPECT_EQ(ValidateConfig(cfg).message(), "--tls-ca (mTLS) needs --tls-cert and --tls-key");
}

TEST(ControllerConfigTest, MetricsListen) {
  ControllerConfig cfg;
  for (const char* off : {"none", "0", ""}) {
    EXPECT_TRUE(MetricsDisabled(off)) << off;
    cfg.metrics_listen = off;
    EXPECT_TRUE(ValidateConfig(cfg).ok()) << off;
  }
  for (const char* good : {"127.0.0.1:0", "0.0.0.0:9100", "localhost:7301"}) {
    EXPECT_FALSE(MetricsDisabled(good));
    cfg.metrics_listen = good;
    EXPECT_TRUE(ValidateConfig(cfg).ok()) << good;
  }
  for (const char* bad : {"7301", ":7301", "[::1]:7301", "host:port", "127.0.0.1:70000",
                          "127.0.0.1:-1", "a/b:1"}) {
    cfg.metrics_listen = bad;
    absl::Status s = ValidateConfig(cfg);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("--metrics-listen"), absl::string_view::npos) << s;
  }
}

TEST(ControllerConfigTest, LoadConfigFileNamesThePath) {
  ControllerConfig cfg;
  absl::Status missing = LoadConfigFile("/nonexistent/controller.json", &cfg);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "cannot read config file /nonexistent/controller.json");

  std::string path = ::testing::TempDir() + "/controller_config_test.json";
  std::ofstream(path) << R"({"groups": {"a": {"capacity_iops": -1}}})";
  absl::Status bad = LoadConfigFile(path, &cfg);
  EXPECT_EQ(bad.message(), path + ": groups.a.capacity_iops: must be >= 0, got -1");
  std::ofstream(path) << R"({"groups": {"a": {"capacity_bytes_per_second": 1e8}}})";
  ASSERT_TRUE(LoadConfigFile(path, &cfg).ok());
  EXPECT_EQ(cfg.groups["a"].capacity_bytes_per_second, 1e8);
}

}  // namespace
}  // namespace wb::controller
