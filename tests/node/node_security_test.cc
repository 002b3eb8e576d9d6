// TLS, mutual TLS, bearer tokens, and the refusal to listen on a network
// address in plaintext.
#include <fstream>

#include "tests/node/node_fixture.h"

namespace wbtest {
namespace {

using absl::StatusCode;

// A CA, a server certificate for localhost/127.0.0.1 and a client
// certificate, made with openssl in dir.
void MakeCertificates(const TempDir& dir) {
  std::string d = dir.path();
  std::string cmd = absl::StrCat(
      "cd ", d, " && set -e && ",
      "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && ",
      "openssl req -x509 $K -keyout ca.key -out ca.crt -days 2 -subj /CN=wbtest-ca && ",
      "openssl req $K -keyout server.key -out server.csr -subj /CN=localhost && ",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > s.ext && ",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
      "-out server.crt -days 2 -extfile s.ext && ",
      "openssl req $K -keyout client.key -out client.csr -subj /CN=wbtest-client && ",
      "printf 'extendedKeyUsage=clientAuth\\n' > c.ext && ",
      "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
      "-out client.crt -days 2 -extfile c.ext");
  std::string out;
  ASSERT_EQ(RunCommand(cmd, &out), 0) << out;
}

wbclient::Options Tls(const TempDir& dir, bool client_cert) {
  wbclient::Options o;
  o.credentials.tls = true;
  o.credentials.ca_file = dir.File("ca.crt");
  o.credentials.server_name = "localhost";
  if (client_cert) {
    o.credentials.cert_file = dir.File("client.crt");
    o.credentials.key_file = dir.File("client.key");
  }
  o.retries = 0;
  o.timeout = absl::Seconds(10);
  return o;
}

wbclient::Options Quick() {
  wbclient::Options o;
  o.retries = 0;
  o.timeout = absl::Seconds(10);
  return o;
}

TEST_F(NodeTest, TlsServesOnlyClientsThatSpeakTls) {
  MakeCertificates(dir_);
  StartNode({"v"}, {"--tls-cert", dir_.File("server.crt"), "--tls-key", dir_.File("server.key")},
            Tls(dir_, false));
  auto v = wbclient::Volume::Open(endpoint_, "v", Tls(dir_, false));
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(WritePattern(**v, 0, 4096, 1).ok());
  EXPECT_TRUE(HasPattern(**v, 0, 4096, 1));

  auto plain = wbclient::Volume::Open(endpoint_, "v", Quick());
  EXPECT_EQ(plain.status().code(), StatusCode::kUnavailable) << plain.status();
  wbclient::Options no_ca = Tls(dir_, false);
  no_ca.credentials.ca_file.clear();  // system roots do not know our CA
  auto unverified = wbclient::Volume::Open(endpoint_, "v", no_ca);
  EXPECT_EQ(unverified.status().code(), StatusCode::kUnavailable) << unverified.status();
}

TEST_F(NodeTest, MutualTlsRequiresAClientCertificate) {
  MakeCertificates(dir_);
  StartNode({"v"},
            {"--tls-cert", dir_.File("server.crt"), "--tls-key", dir_.File("server.key"),
             "--tls-ca", dir_.File("ca.crt")},
            Tls(dir_, true));
  auto v = wbclient::Volume::Open(endpoint_, "v", Tls(dir_, true));
  ASSERT_TRUE(v.ok()) << v.status();
  absl::Status w = WritePattern(**v, 0, 4096, 1);
  EXPECT_TRUE(w.ok()) << w;
  auto no_cert = wbclient::Volume::Open(endpoint_, "v", Tls(dir_, false));
  EXPECT_EQ(no_cert.status().code(), StatusCode::kUnavailable) << no_cert.status();
}

TEST_F(NodeTest, BearerTokensGateVolumesAndWrites) {
  {
    std::ofstream f(dir_.File("tokens"));
    f << "# token access volumes\n"
         "tok-rw   rw    v\n"
         "tok-ro   ro    v\n"
         "tok-w    rw    w\n"
         "tok-adm  admin *\n";
  }
  wbclient::Options admin_opts;
  admin_opts.credentials.token = "tok-adm";
  StartNode({"v", "w"}, {"--auth-tokens", dir_.File("tokens")}, admin_opts);
  auto with = [](const std::string& token) {
    wbclient::Options o = Quick();
    o.credentials.token = token;
    return o;
  };
  EXPECT_EQ(wbclient::Volume::Open(endpoint_, "v", with("")).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(wbclient::Volume::Open(endpoint_, "v", with("nope")).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(wbclient::Volume::Open(endpoint_, "v", with("tok-w")).status().code(),
            StatusCode::kPermissionDenied);
  // An unknown volume is not revealed to a token that cannot see it.
  EXPECT_EQ(wbclient::Volume::Open(endpoint_, "x", with("tok-w")).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(wbclient::Volume::Open(endpoint_, "x", with("tok-adm")).status().code(),
            StatusCode::kNotFound);

  auto rw = wbclient::Volume::Open(endpoint_, "v", with("tok-rw"));
  ASSERT_TRUE(rw.ok()) << rw.status();
  EXPECT_FALSE((*rw)->read_only());
  ASSERT_TRUE(WritePattern(**rw, 0, 4096, 4).ok());

  auto ro = wbclient::Volume::Open(endpoint_, "v", with("tok-ro"));
  ASSERT_TRUE(ro.ok()) << ro.status();
  EXPECT_TRUE((*ro)->read_only());
  EXPECT_TRUE(HasPattern(**ro, 0, 4096, 4));
  EXPECT_TRUE((*ro)->Flush().ok());
  EXPECT_EQ(WritePattern(**ro, 0, 4096, 5).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ((*ro)->Trim(0, 4096).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ((*ro)->WriteZeroes(0, 4096).code(), StatusCode::kPermissionDenied);
  auto s = (*ro)->OpenStream(4);
  ASSERT_TRUE(s.ok());
  std::string data(4096, 'z'), back(4096, '\0');
  absl::Status w, r;
  (*s)->Write(0, data, false, [&](absl::Status st) { w = st; });
  (*s)->Read(0, absl::MakeSpan(back), [&](absl::Status st) { r = st; });
  EXPECT_TRUE((*s)->Close().ok());
  EXPECT_EQ(w.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(CheckPattern(back.data(), 4096, 0, 4)) << "the refused write changed nothing";

  // Admin calls: listing is filtered, lifecycle needs admin.
  auto admin_rw = *wbclient::Admin::Connect(endpoint_, with("tok-rw"));
  auto list = admin_rw->ListVolumes();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->volumes_size(), 1);
  EXPECT_EQ(list->volumes(0).name(), "v");
  EXPECT_EQ(admin_rw->DetachVolume("v", false, true).code(), StatusCode::kPermissionDenied);
  auto admin_ro = *wbclient::Admin::Connect(endpoint_, with("tok-ro"));
  EXPECT_TRUE(admin_ro->GetStatus("v").ok());
  EXPECT_EQ(admin_ro->SendMessage("v", "clear_stat", "").status().code(),
            StatusCode::kPermissionDenied);
  auto anonymous = *wbclient::Admin::Connect(endpoint_, with(""));
  EXPECT_EQ(anonymous->ListVolumes().status().code(), StatusCode::kUnauthenticated);
  auto admin = *wbclient::Admin::Connect(endpoint_, with("tok-adm"));
  EXPECT_EQ(admin->ListVolumes()->volumes_size(), 2);
  // The health service needs no token for the server's own services; a
  // volume's name answers only to a token that grants it
  // (node_hostile_test.cc).
  EXPECT_TRUE(anonymous->Serving("writeboost.v1.BlockService").value_or(false));
  EXPECT_EQ(anonymous->Serving("v").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(admin->Serving("v").value_or(false));
}

TEST_F(NodeTest, RefusesPlaintextOnANetworkAddressUnlessInsecure) {
  int port = FreePort();
  std::string any = absl::StrCat("0.0.0.0:", port);
  daemon_.Start({"--listen", any, "--volume", VolumeFlag(dir_, "v")});
  EXPECT_EQ(daemon_.Wait(absl::Seconds(20)), 2);
  EXPECT_NE(daemon_.Log().find("refusing to listen on non-loopback address"),
            std::string::npos)
      << daemon_.Log();

  daemon_.Start({"--listen", any, "--insecure", "--volume", VolumeFlag(dir_, "v")});
  absl::Status s = daemon_.WaitServing(absl::StrCat("127.0.0.1:", port), "v");
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(daemon_.Term(), 0);
}

}  // namespace
}  // namespace wbtest
