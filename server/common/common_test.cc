// The pieces both daemons share; each daemon's own tests cover how it uses
// them (server/node/metrics_test.cc, server/controller/config_test.cc).
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "server/common/listen_address.h"
#include "server/common/metrics_endpoint.h"
#include "server/common/metrics_listen.h"
#include "server/common/server_credentials.h"

namespace wb::common {
namespace {

TEST(ListenAddressTest, LoopbackDetection) {
  for (const char* local : {"127.0.0.1:7200", "127.1.2.3:1", "localhost:7200", "[::1]:7200",
                            "unix:/tmp/wb.sock", "unix-abstract:wb", "ipv4:127.0.0.1:80"}) {
    EXPECT_TRUE(IsLocalAddress(local)) << local;
  }
  for (const char* remote : {"0.0.0.0:7200", "[::]:7200", "10.0.0.1:7200", "example.com:7200",
                             "128.0.0.1:1", "127.0.0.1.evil.com:1", "127.0.0.256:1"}) {
    EXPECT_FALSE(IsLocalAddress(remote)) << remote;
  }
}

TEST(ListenAddressTest, BoundAddressFillsInThePort) {
  EXPECT_EQ(BoundAddress("127.0.0.1:0", 4711), "127.0.0.1:4711");
  EXPECT_EQ(BoundAddress("[::1]:0", 4711), "[::1]:4711");
  EXPECT_EQ(BoundAddress("unix:/tmp/wb.sock", 0), "unix:/tmp/wb.sock");
  EXPECT_EQ(BoundAddress("localhost", 4711), "localhost");
}

TEST(ServerCredentialsTest, PlaintextWithoutACertificate) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> c = MakeServerCredentials("", "", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(*c, nullptr);
}

TEST(ServerCredentialsTest, NamesTheFileItCannotRead) {
  char dir[] = "/tmp/wb-common-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string cert = std::string(dir) + "/cert.pem";
  ASSERT_TRUE(std::ofstream(cert) << "not a certificate") << cert;
  const std::string missing = std::string(dir) + "/missing.pem";

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> c =
      MakeServerCredentials(missing, cert, "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(), "cannot read TLS certificate " + missing);
  c = MakeServerCredentials(cert, missing, "");
  EXPECT_EQ(c.status().message(), "cannot read TLS key " + missing);
  c = MakeServerCredentials(cert, cert, missing);
  EXPECT_EQ(c.status().message(), "cannot read TLS CA " + missing);

  unlink(cert.c_str());
  rmdir(dir);
}

TEST(MetricsListenTest, SuggestsTheDaemonsExample) {
  EXPECT_TRUE(MetricsDisabled(""));
  EXPECT_TRUE(MetricsDisabled("none"));
  EXPECT_FALSE(MetricsDisabled("0"));
  EXPECT_TRUE(ValidateMetricsListen("none", "127.0.0.1:9").ok());
  EXPECT_TRUE(ValidateMetricsListen("127.0.0.1:0", "127.0.0.1:9").ok());
  absl::Status s = ValidateMetricsListen("127.0.0.1", "127.0.0.1:9");
  EXPECT_EQ(s.message(),
            "--metrics-listen \"127.0.0.1\": no port (want HOST:PORT, e.g. 127.0.0.1:9, "
            "port 0 for any free port, or none)");
  for (const char* bad : {"127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:80 ", "127.0.0.1:65536"}) {
    EXPECT_TRUE(absl::StrContains(ValidateMetricsListen(bad, "x").message(),
                                  "the port is not a number"))
        << bad;
  }
}

TEST(MetricsEndpointTest, PicksAPortRefusesATakenOneAndStopsQuickly) {
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> e = MetricsEndpoint::Start("127.0.0.1:0", {});
  ASSERT_TRUE(e.ok()) << e.status();
  const std::string address = (*e)->address();
  ASSERT_TRUE(absl::StartsWith(address, "127.0.0.1:")) << address;
  EXPECT_NE(address, "127.0.0.1:0");

  // The Exposer alone would take two seconds for each of these.
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> again = MetricsEndpoint::Start(address, {});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(again.status().message(), "cannot listen on " + address))
      << again.status();
  (*e)->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ((*e)->address(), address);
}

}  // namespace
}  // namespace wb::common
