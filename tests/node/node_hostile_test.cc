// Hostile admin and auth input, from a client that is not libwbclient:
// sizes far outside their ranges, devices outside the allowed paths, probes
// for volume names through the health service, and names that skip the
// syntax. Each gets its documented code and leaves nothing behind.
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/lib/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/node/node_fixture.h"

namespace wbtest {
namespace {

namespace v1 = writeboost::v1;
namespace health = grpc::health::v1;
namespace fs = std::filesystem;
using absl::StatusCode;
using NameList = std::vector<std::string>;

wbclient::Options Quick(const std::string& token = "") {
  wbclient::Options o;
  o.retries = 0;
  o.timeout = absl::Seconds(20);
  o.credentials.token = token;
  return o;
}

// A status as the client saw it, for comparing two answers.
std::string Answer(const grpc::Status& s) {
  return absl::StrCat(s.error_code(), ": ", s.error_message());
}

class NodeHostileTest : public NodeTest {
 protected:
  // A 64 MiB origin and 32 MiB cache file, empty, at DIR/NAME.origin and
  // DIR/NAME.cache; the spec naming them.
  v1::VolumeSpec Files(const std::string& dir, const std::string& name) {
    fs::create_directories(dir);
    for (const auto& [suffix, size] : {std::pair{".origin", 64 << 20}, {".cache", 32 << 20}}) {
      std::ofstream(dir + "/" + name + suffix);
      fs::resize_file(dir + "/" + name + suffix, size);
    }
    v1::VolumeSpec spec;
    spec.set_name(name);
    spec.set_origin(dir + "/" + name + ".origin");
    spec.add_caches(dir + "/" + name + ".cache");
    return spec;
  }

  std::string DataDir() const { return dir_.File("wb-data"); }

  NameList VolumeNames() {
    NameList names;
    auto list = Admin(Quick(token_))->ListVolumes();
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const v1::VolumeInfo& v : list->volumes()) names.push_back(v.name());
    }
    return names;
  }

  std::shared_ptr<grpc::Channel> Channel() { return *wbclient::MakeChannel(endpoint_, {}); }

  // grpc.health.v1.Health/Check as any client would call it.
  grpc::Status Check(const std::string& service, const std::string& token,
                     health::HealthCheckResponse* resp = nullptr) {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    health::HealthCheckResponse ignored;
    return health::Health::NewStub(Channel())->Check(&ctx, MakeRequest(service),
                                                     resp != nullptr ? resp : &ignored);
  }

  // The first status a Watch of `service` sends.
  std::string FirstWatched(const std::string& service, const std::string& token) {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stub = health::Health::NewStub(Channel());
    auto reader = stub->Watch(&ctx, MakeRequest(service));
    health::HealthCheckResponse resp;
    std::string first = reader->Read(&resp)
                            ? health::HealthCheckResponse::ServingStatus_Name(resp.status())
                            : "no message";
    ctx.TryCancel();
    reader->Finish().IgnoreError();
    return first;
  }

  static health::HealthCheckRequest MakeRequest(const std::string& service) {
    health::HealthCheckRequest req;
    req.set_service(service);
    return req;
  }

  std::string token_;
};

// A request asking for 2^64-1 bytes of RAM buffer made the node allocate
// until std::bad_alloc and left the name OPENING for good.
TEST_F(NodeHostileTest, SizesOutsideTheirRangesAreRefusedAndLeaveNothingBehind) {
  StartNode({"v"}, {"--allow-path", dir_.path()});
  // A regression then fails inside the daemon, fast, instead of using up
  // the host's memory.
  daemon_.LimitAddressSpace(1ull << 30);
  auto admin = Admin(Quick());
  const v1::VolumeSpec spec = Files(dir_.path(), "w");
  ASSERT_TRUE(admin->FormatVolume(spec, false, /*attach=*/false).ok());

  auto attach = [&](auto change) {
    v1::VolumeSpec bad = spec;
    change(bad);
    return admin->AttachVolume(bad).status();
  };
  auto format = [&](auto change) {
    v1::VolumeSpec bad = spec;
    change(bad);
    return admin->FormatVolume(bad, /*force=*/true, /*attach=*/false).status();
  };
  absl::Status s = attach([](v1::VolumeSpec& b) { b.set_rambuf_size(~uint64_t{0}); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  s = attach([](v1::VolumeSpec& b) { b.set_rambuf_size(4096); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  s = attach([](v1::VolumeSpec& b) { b.set_rambuf_size((64ull << 30) + 1); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  s = format([](v1::VolumeSpec& b) { b.set_segment_size(~uint32_t{0}); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  s = format([](v1::VolumeSpec& b) {
    for (int i = 0; i < 1000; i++) b.add_caches(absl::StrCat("/c", i));
    b.set_cache_layout(v1::CACHE_LAYOUT_STRIPE);
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  s = format([](v1::VolumeSpec& b) { b.set_origin("/" + std::string(100000, 'o')); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_LT(s.message().size(), 1024u);
  s = format([](v1::VolumeSpec& b) { b.set_origin_group(std::string(10000, 'g')); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  s = format([](v1::VolumeSpec& b) { (*b.mutable_tunables())["writeback_threshold"] = ~0ull; });
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << s;

  EXPECT_EQ(VolumeNames(), (NameList{"v"})) << "a refused attach leaves nothing behind";
  EXPECT_EQ(Answer(Check("w", "")), Answer(Check("never-attached", "")));
  auto info = admin->AttachVolume(spec);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state(), v1::VOLUME_STATE_SERVING);
  EXPECT_TRUE(admin->DetachVolume("w", false, false).ok());
}

// An in-range RAM buffer the node cannot allocate: the attach fails with
// RESOURCE_EXHAUSTED (not UNKNOWN) and the name is free again at once.
TEST_F(NodeHostileTest, AnAttachThatRunsOutOfMemoryLeavesNothingBehind) {
  StartNode({"v"}, {"--allow-path", dir_.path()});
  daemon_.LimitAddressSpace(768ull << 20);
  auto admin = Admin(Quick());
  v1::VolumeSpec spec = Files(dir_.path(), "w");
  ASSERT_TRUE(admin->FormatVolume(spec, false, /*attach=*/false).ok());
  spec.set_rambuf_size(64ull << 30);  // the largest allowed
  absl::Status s = admin->AttachVolume(spec).status();
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
  // The cap made the allocation fail; what is left is checked without it
  // (the freed heap may stay mapped, and new connections need room).
  daemon_.UnlimitAddressSpace();
  EXPECT_EQ(VolumeNames(), (NameList{"v"}));
  EXPECT_EQ(Answer(Check("w", "")), Answer(Check("never-attached", "")));
  EXPECT_FALSE(fs::exists(DataDir() + "/volumes.json"));
  EXPECT_EQ(admin->DetachVolume("w", false, true).code(), StatusCode::kNotFound);

  spec.set_rambuf_size(0);
  auto info = admin->AttachVolume(spec);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state(), v1::VOLUME_STATE_SERVING);
  auto w = Open("w");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(WritePattern(*w, 0, 65536, 3, /*fua=*/true).ok());
  EXPECT_TRUE(HasPattern(*w, 0, 65536, 3));
}

// FormatVolume overwrote any file the daemon could open.
TEST_F(NodeHostileTest, FormatAndAttachStayUnderTheAllowedPaths) {
  StartNode({"v"});  // allowed: the data directory only
  auto admin = Admin(Quick());
  // Something precious outside the data directory, big enough to format.
  const std::string victim = dir_.File("victim");
  const std::string precious(32 << 20, 'P');
  std::ofstream(victim) << precious;
  auto intact = [&] {
    std::ifstream in(victim);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str() == precious;
  };
  const v1::VolumeSpec inside = Files(DataDir(), "w");
  fs::create_symlink(victim, DataDir() + "/link");

  for (const std::string& cache :
       {victim, DataDir() + "/link", DataDir() + "/../victim"}) {
    v1::VolumeSpec spec = inside;
    spec.set_caches(0, cache);
    absl::Status s = admin->FormatVolume(spec, /*force=*/true, /*attach=*/false).status();
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << cache << ": " << s;
    s = admin->AttachVolume(spec).status();
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << cache << ": " << s;
    EXPECT_TRUE(intact()) << cache;
  }
  v1::VolumeSpec outside_origin = inside;
  outside_origin.set_origin(victim);
  absl::Status s = admin->FormatVolume(outside_origin, true, false).status();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s;
  char buf[64];
  EXPECT_LT(::getxattr(victim.c_str(), "user.writeboost.origin-uuid", buf, sizeof buf), 0)
      << "the refused origin got an identity";
  // NBD origins: none without --allow-nbd.
  v1::VolumeSpec nbd = inside;
  nbd.set_origin("nbd://127.0.0.1:1/export");
  s = admin->AttachVolume(nbd).status();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s;

  EXPECT_EQ(VolumeNames(), (NameList{"v"}));
  EXPECT_TRUE(intact());
  // Under the data directory: served.
  auto info = admin->FormatVolume(inside, false, /*attach=*/true);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state(), v1::VOLUME_STATE_SERVING);
}

TEST_F(NodeHostileTest, AllowPathAndAllowNbdWidenTheRoots) {
  const std::string extra = dir_.File("extra");
  fs::create_directories(extra);
  std::ofstream(extra + "/not-a-socket");
  StartNode({"v"}, {"--allow-path", extra, "--allow-nbd", "nbd+unix:///",
                    "--allow-nbd", "nbd://127.0.0.1:1/"});
  auto admin = Admin(Quick());
  auto info = admin->FormatVolume(Files(extra, "w"), false, /*attach=*/true);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(admin->FormatVolume(Files(dir_.path(), "x"), false, false).status().code(),
            StatusCode::kPermissionDenied);

  v1::VolumeSpec nbd = Files(extra, "n");
  auto attach_origin = [&](const std::string& uri) {
    nbd.set_origin(uri);
    return admin->AttachVolume(nbd).status();
  };
  // Allowed: refused by the (absent) server, not by the node.
  absl::Status s = attach_origin("nbd://127.0.0.1:1/export");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  s = attach_origin("nbd+unix:///export?socket=" + extra + "/not-a-socket");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  // Not allowed: another host, a socket or key file outside the roots, a
  // parameter the node does not know.
  for (const std::string& uri :
       {std::string("nbd://127.0.0.2:1/export"),
        "nbd+unix:///export?socket=" + dir_.path() + "/sock",
        "nbd+unix:///export?socket=" + extra + "/../sock",
        std::string("nbd+unix:///export?socket=%2Fetc%2Fpasswd"),
        std::string("nbd://127.0.0.1:1/export?tls-psk-file=/etc/passwd"),
        std::string("nbd://127.0.0.1:1/export?tls-certificates=/etc")}) {
    s = attach_origin(uri);
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << uri << ": " << s;
  }
  EXPECT_EQ(VolumeNames(), (NameList{"v", "w"}));
}

// The health service told anyone, without a token, whether a name was a
// volume.
TEST_F(NodeHostileTest, HealthAnswersForAVolumeOnlyToWhoMaySeeIt) {
  {
    std::ofstream f(dir_.File("tokens"));
    f << "tok-adm admin *\n"
         "tok-v   rw    v\n";
  }
  token_ = "tok-adm";
  StartNode({"v", "w"}, {"--auth-tokens", dir_.File("tokens")}, Quick(token_));
  const std::string never = Answer(Check("never-attached", ""));
  EXPECT_EQ(Answer(Check("v", "")), never);
  EXPECT_EQ(Answer(Check("v", "wrong-token")), never);
  EXPECT_EQ(Answer(Check("w", "tok-v")), Answer(Check("never-attached", "tok-v")));
  EXPECT_EQ(FirstWatched("v", ""), FirstWatched("never-attached", ""));
  EXPECT_EQ(FirstWatched("v", ""), "SERVICE_UNKNOWN");

  health::HealthCheckResponse resp;
  ASSERT_TRUE(Check("v", "tok-v", &resp).ok());
  EXPECT_EQ(resp.status(), health::HealthCheckResponse::SERVING);
  EXPECT_EQ(FirstWatched("v", "tok-v"), "SERVING");
  // The server and its services need no token.
  for (const std::string service : {"", "writeboost.v1.BlockService"}) {
    ASSERT_TRUE(Check(service, "", &resp).ok()) << service;
    EXPECT_EQ(resp.status(), health::HealthCheckResponse::SERVING) << service;
  }

  ASSERT_TRUE(Admin(Quick(token_))->DetachVolume("w", false, true).ok());
  EXPECT_EQ(Answer(Check("w", "tok-adm")), Answer(Check("never-attached", "tok-adm")));
  EXPECT_EQ(Answer(Check("w", "")), never);
}

// Detached names stayed in the health service (NOT_SERVING) for good, so
// anyone could tell them from names never attached.
TEST_F(NodeHostileTest, DetachedNamesAnswerLikeNamesNeverAttached) {
  StartNode({"v", "w"}, {"--allow-path", dir_.path()});
  auto admin = Admin(Quick());
  ASSERT_TRUE(admin->DetachVolume("w", false, /*force=*/true).ok());
  EXPECT_EQ(Answer(Check("w", "")), Answer(Check("never-attached", "")));
  EXPECT_EQ(Check("w", "").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(FirstWatched("w", ""), FirstWatched("never-attached", ""));
  // Nor does an attach that failed leave its name behind.
  v1::VolumeSpec missing;
  missing.set_name("z");
  missing.set_origin(dir_.File("no-such.origin"));
  missing.add_caches(dir_.File("no-such.cache"));
  EXPECT_EQ(admin->AttachVolume(missing).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Answer(Check("z", "")), Answer(Check("never-attached", "")));
  EXPECT_EQ(FirstWatched("z", ""), FirstWatched("never-attached", ""));
  // The attached volume still answers.
  health::HealthCheckResponse resp;
  ASSERT_TRUE(Check("v", "", &resp).ok());
  EXPECT_EQ(resp.status(), health::HealthCheckResponse::SERVING);
}

// Names were looked up whatever they were, and NOT_FOUND echoed them whole:
// a 100 KB name made the answer exceed the client's metadata limit, which
// the client reports as RESOURCE_EXHAUSTED.
TEST_F(NodeHostileTest, NamesOutsideTheSyntaxAreRefusedOnEveryCall) {
  StartNode({"v"});
  auto admin = Admin(Quick());
  auto refused = [](const absl::Status& s) {
    return s.code() == StatusCode::kInvalidArgument && s.message().size() < 1024;
  };
  for (const std::string& name : {std::string(100000, 'x'), std::string("a/b"),
                                  std::string(65, 'n'), std::string("caf\xc3\xa9")}) {
    const std::string shown = name.substr(0, 16);
    auto vol = wbclient::Volume::Open(endpoint_, name, Quick());
    EXPECT_TRUE(refused(vol.status())) << shown << ": " << vol.status();
    EXPECT_TRUE(refused(admin->GetStatus(name).status())) << shown;
    EXPECT_TRUE(refused(admin->SendMessage(name, "clear_stat", "").status())) << shown;
    EXPECT_TRUE(refused(admin->DropCaches(name, nullptr))) << shown;
    EXPECT_TRUE(refused(admin->DetachVolume(name, false, true))) << shown;
    v1::VolumeSpec spec;
    spec.set_name(name);
    spec.set_origin(dir_.File("o"));
    spec.add_caches(dir_.File("c"));
    EXPECT_TRUE(refused(admin->AttachVolume(spec).status())) << shown;
    auto stream = wbclient::IoStream::Open(Channel(), name, Quick());
    ASSERT_TRUE(stream.ok());
    std::string out(512, '\0');
    absl::Status read;
    (*stream)->Read(0, absl::MakeSpan(out), [&](absl::Status st) { read = st; });
    (*stream)->Drain();
    EXPECT_TRUE(refused(read)) << shown << ": " << read;
    EXPECT_TRUE(refused((*stream)->Close())) << shown;
    grpc::Status h = Check(name, "");
    EXPECT_EQ(h.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << shown;
    EXPECT_LT(h.error_message().size(), 1024u);
  }
  // Keys and values of a message are bounded the same way.
  absl::Status s = admin->SendMessage("v", std::string(100000, 'k'), "").status();
  EXPECT_TRUE(refused(s)) << s;
  s = admin->SendMessage("v", "writeback_threshold", std::string(100000, '9')).status();
  EXPECT_TRUE(refused(s)) << s;
  // The volume itself is untouched.
  auto v = Open();
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(WritePattern(*v, 0, 4096, 9).ok());
}

}  // namespace
}  // namespace wbtest
