// NbdDevice against a real nbdkit on a unix socket (and one TCP port), and
// the identity of NBD URI origins.
#include "server/core/device/nbd_device.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/origin_identity.h"

extern char** environ;

namespace wb {
namespace {

constexpr uint64_t kMiB = 1 << 20;

// An nbdkit process serving on a unix socket; killed by the destructor.
class Nbdkit {
 public:
  // Starts "nbdkit -f --exit-with-parent -U sock ARGS..." and waits (up to
  // 10 s) until it accepts connections (it writes its pid file then; the
  // socket exists a moment earlier); nullptr (with a test failure)
  // otherwise.
  static std::unique_ptr<Nbdkit> Start(const std::string& sock,
                                       const std::vector<std::string>& args) {
    const std::string pidfile = sock + ".pid";
    ::unlink(sock.c_str());
    ::unlink(pidfile.c_str());
    std::vector<std::string> argv = {"nbdkit", "-f", "--exit-with-parent",
                                     "-U", sock, "-P", pidfile};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid;
    if (posix_spawnp(&pid, "nbdkit", nullptr, nullptr, cargv.data(), environ) != 0) {
      ADD_FAILURE() << "cannot start nbdkit";
      return nullptr;
    }
    std::unique_ptr<Nbdkit> n(new Nbdkit(pid));
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    struct stat st;
    while (::stat(pidfile.c_str(), &st) != 0 || st.st_size == 0) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        n->pid_ = -1;
        ADD_FAILURE() << "nbdkit exited at start (status " << status << ")";
        return nullptr;
      }
      if (absl::Now() > give_up) {
        ADD_FAILURE() << "nbdkit did not get ready on " << sock;
        return nullptr;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return n;
  }
  ~Nbdkit() { Kill(); }
  // SIGKILL: a crash. (On SIGTERM nbdkit waits for its clients to leave.)
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  explicit Nbdkit(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

bool HaveNbdkit() { return std::system("nbdkit --version >/dev/null 2>&1") == 0; }

void Fill(AlignedBuffer& b, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < b.size(); ++i) b.data()[i] = static_cast<char>(rng());
}

class NbdDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/install-deps.sh installs nbdkit: without it the set-up is broken.
    ASSERT_TRUE(HaveNbdkit()) << "nbdkit is missing (scripts/install-deps.sh installs it)";
    char tmpl[] = "/tmp/wb-nbddev-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/nbd.sock";
    uri_ = "nbd+unix:///?socket=" + sock_;
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  void Serve(const std::vector<std::string>& args) {
    server_.reset();
    server_ = Nbdkit::Start(sock_, args);
    ASSERT_NE(server_, nullptr);
  }
  std::unique_ptr<NbdDevice> OpenOk(const std::string& uri,
                                    const NbdDeviceOptions& o = {}) {
    absl::StatusOr<std::unique_ptr<NbdDevice>> dev = NbdDevice::Open(uri, o);
    EXPECT_TRUE(dev.ok()) << dev.status();
    return dev.ok() ? *std::move(dev) : nullptr;
  }

  std::string dir_, sock_, uri_;
  std::unique_ptr<Nbdkit> server_;
};

TEST_F(NbdDeviceTest, GeometryAndRoundTrip) {
  Serve({"memory", "64M"});
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->size(), 64 * kMiB);
  EXPECT_EQ(dev->logical_block_size(), 512u);
  EXPECT_TRUE(dev->supports_discard());
  EXPECT_EQ(dev->connections(), 4);  // The memory plugin advertises multi-conn.
  EXPECT_EQ(dev->name(), uri_);

  AlignedBuffer data(kMiB), back(kMiB);
  Fill(data, 1);
  ASSERT_TRUE(dev->Write(3 * kMiB + 512, data.data(), kMiB).ok());
  ASSERT_TRUE(dev->Flush().ok());
  ASSERT_TRUE(dev->Read(3 * kMiB + 512, back.data(), kMiB).ok());
  EXPECT_EQ(std::memcmp(data.data(), back.data(), kMiB), 0);

  // Trim: the memory plugin reads trimmed ranges back as zeroes.
  ASSERT_TRUE(dev->Discard(3 * kMiB + 512, 64 * 1024).ok());
  ASSERT_TRUE(dev->Read(3 * kMiB + 512, back.data(), kMiB).ok());
  AlignedBuffer zeroes(64 * 1024);
  EXPECT_EQ(std::memcmp(back.data(), zeroes.data(), 64 * 1024), 0);
  EXPECT_EQ(std::memcmp(back.data() + 64 * 1024, data.data() + 64 * 1024,
                        kMiB - 64 * 1024),
            0);

  // The shared validation.
  EXPECT_EQ(dev->Read(100, back.data(), 512).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dev->Read(64 * kMiB, back.data(), 512).code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(NbdDeviceTest, RequestsAboveTheServerMaximumAreSplit) {
  // The filter refuses (EINVAL) any request above 1 MiB.
  Serve({"--filter=blocksize-policy", "memory", "64M",
         "blocksize-maximum=1M", "blocksize-error-policy=error"});
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_);
  ASSERT_NE(dev, nullptr);
  AlignedBuffer data(5 * kMiB + 4096), back(5 * kMiB + 4096);
  Fill(data, 2);
  ASSERT_TRUE(dev->Write(4096, data.data(), data.size()).ok());
  ASSERT_TRUE(dev->Read(4096, back.data(), back.size()).ok());
  EXPECT_EQ(std::memcmp(data.data(), back.data(), data.size()), 0);
}

TEST_F(NbdDeviceTest, LargeRequestWithoutServerMaximum) {
  Serve({"memory", "64M"});
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_);
  ASSERT_NE(dev, nullptr);
  // Above libnbd's own 64 MiB request limit would not fit the export; 40 MiB
  // is above the 32 MiB the device sends at once.
  AlignedBuffer data(40 * kMiB), back(40 * kMiB);
  Fill(data, 3);
  ASSERT_TRUE(dev->Write(8 * kMiB, data.data(), data.size()).ok());
  ASSERT_TRUE(dev->Read(8 * kMiB, back.data(), back.size()).ok());
  EXPECT_EQ(std::memcmp(data.data(), back.data(), data.size()), 0);
}

TEST_F(NbdDeviceTest, MinimumBlockSizeMakesA4KDevice) {
  Serve({"--filter=blocksize-policy", "memory", "64M", "blocksize-minimum=4096",
         "blocksize-error-policy=error"});
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->logical_block_size(), 4096u);
  AlignedBuffer b(4096);
  EXPECT_EQ(dev->Read(512, b.data(), 4096).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(dev->Read(4096, b.data(), 4096).ok());
}

// Several threads, each with its own blocks, keep many writes and reads in
// flight at random offsets; every read and the final image must match what
// each thread wrote.
TEST_F(NbdDeviceTest, ConcurrentSubmitsMatchAModel) {
  Serve({"memory", "64M"});
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_);
  ASSERT_NE(dev, nullptr);
  constexpr int kThreads = 4;
  constexpr uint64_t kBlock = 4096;
  constexpr uint64_t kBlocks = 2048;  // 8 MiB, block b belongs to b % kThreads.
  constexpr int kRounds = 30;
  constexpr int kBatch = 16;
  std::vector<std::string> model(kBlocks, std::string(kBlock, '\0'));
  std::atomic<int> mismatches{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      AlignedBuffer bufs(kBatch * kBlock);
      for (int round = 0; round < kRounds; ++round) {
        // kBatch distinct blocks of this thread.
        std::map<uint64_t, int> picked;
        while (picked.size() < kBatch) {
          const uint64_t b = (rng() % (kBlocks / kThreads)) * kThreads + t;
          picked.emplace(b, static_cast<int>(picked.size()));
        }
        const bool write = round % 2 == 0;
        absl::BlockingCounter done(kBatch);
        for (auto [block, i] : picked) {
          char* buf = bufs.data() + i * kBlock;
          if (write) {
            for (uint64_t k = 0; k < kBlock; ++k) buf[k] = static_cast<char>(rng());
            model[block].assign(buf, kBlock);
          }
          IoRequest req{write ? IoOp::kWrite : IoOp::kRead, block * kBlock, kBlock, buf};
          dev->Submit(req, [&](absl::Status s) {
            if (!s.ok()) errors++;
            done.DecrementCount();
          });
        }
        done.Wait();
        if (!write) {
          for (auto [block, i] : picked) {
            if (model[block] != std::string(bufs.data() + i * kBlock, kBlock)) {
              mismatches++;
            }
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  ASSERT_TRUE(dev->Flush().ok());
  AlignedBuffer image(kBlocks * kBlock);
  ASSERT_TRUE(dev->Read(0, image.data(), image.size()).ok());
  int bad = 0;
  for (uint64_t b = 0; b < kBlocks; ++b) {
    bad += model[b] != std::string(image.data() + b * kBlock, kBlock);
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(NbdDeviceTest, DestructorFinishesQueuedRequests) {
  Serve({"memory", "64M"});
  constexpr int kWrites = 64;
  AlignedBuffer data(kWrites * 65536);
  Fill(data, 4);
  std::atomic<int> ok{0};
  {
    std::unique_ptr<NbdDevice> dev = OpenOk(uri_);
    ASSERT_NE(dev, nullptr);
    for (int i = 0; i < kWrites; ++i) {
      dev->Submit({IoOp::kWrite, uint64_t{65536} * i, 65536, data.data() + 65536 * i},
                  [&ok](absl::Status s) { ok += s.ok(); });
    }
  }
  EXPECT_EQ(ok.load(), kWrites);
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_);
  ASSERT_NE(dev, nullptr);
  AlignedBuffer back(data.size());
  ASSERT_TRUE(dev->Read(0, back.data(), back.size()).ok());
  EXPECT_EQ(std::memcmp(data.data(), back.data(), data.size()), 0);
}

TEST_F(NbdDeviceTest, OneConnectionWithoutMultiConn) {
  Serve({"--filter=multi-conn", "memory", "64M", "multi-conn-mode=disable"});
  NbdDeviceOptions o;
  o.connections = 8;
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_, o);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->connections(), 1);
  AlignedBuffer b(4096);
  Fill(b, 5);
  EXPECT_TRUE(dev->Write(0, b.data(), 4096).ok());
  EXPECT_TRUE(dev->Flush().ok());
}

TEST_F(NbdDeviceTest, ConnectionCountOption) {
  Serve({"memory", "64M"});
  NbdDeviceOptions o;
  o.connections = 2;
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_, o);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->connections(), 2);
  o.connections = 0;
  EXPECT_EQ(NbdDevice::Open(uri_, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(NbdDeviceTest, ReadOnlyExportIsRefused) {
  Serve({"-r", "memory", "64M"});
  absl::StatusOr<std::unique_ptr<NbdDevice>> dev = NbdDevice::Open(uri_);
  EXPECT_EQ(dev.status().code(), absl::StatusCode::kFailedPrecondition) << dev.status();
  EXPECT_NE(dev.status().message().find(uri_), std::string::npos) << dev.status();
  EXPECT_NE(dev.status().message().find("read-only"), std::string::npos) << dev.status();
}

TEST_F(NbdDeviceTest, NoServer) {
  absl::StatusOr<std::unique_ptr<NbdDevice>> dev = NbdDevice::Open(uri_);
  EXPECT_EQ(dev.status().code(), absl::StatusCode::kUnavailable) << dev.status();
  EXPECT_NE(dev.status().message().find(uri_), std::string::npos) << dev.status();

  // Nothing listens on TCP port 1 of loopback: connection refused.
  dev = NbdDevice::Open("nbd://127.0.0.1:1/");
  EXPECT_EQ(dev.status().code(), absl::StatusCode::kUnavailable) << dev.status();
  EXPECT_NE(dev.status().message().find("nbd://127.0.0.1:1/"), std::string::npos)
      << dev.status();
}

TEST_F(NbdDeviceTest, TcpPort) {
  // A free loopback port, then nbdkit on it (-p); no socket to wait for, so
  // poll the connection.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(probe);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  std::vector<std::string> argv = {"nbdkit", "-f", "--exit-with-parent",
                                   "-i", "127.0.0.1", "-p", port, "memory", "16M"};
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawnp(&pid, "nbdkit", nullptr, nullptr, cargv.data(), environ), 0);
  const std::string uri = "nbd://127.0.0.1:" + port + "/";
  absl::StatusOr<std::unique_ptr<NbdDevice>> dev;
  for (int i = 0; i < 500; ++i) {
    dev = NbdDevice::Open(uri);
    if (dev.ok()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ((*dev)->size(), 16 * kMiB);
  AlignedBuffer b(4096), back(4096);
  Fill(b, 6);
  EXPECT_TRUE((*dev)->Write(8192, b.data(), 4096).ok());
  EXPECT_TRUE((*dev)->Read(8192, back.data(), 4096).ok());
  EXPECT_EQ(std::memcmp(b.data(), back.data(), 4096), 0);
  dev->reset();
  ::kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST_F(NbdDeviceTest, TlsWithAPreSharedKey) {
  const std::string keys = dir_ + "/psk.keys";
  std::ofstream(keys) << "alice:" << std::string(64, 'a') << "\n";
  Serve({"--tls=require", "--tls-psk=" + keys, "memory", "16M"});
  const std::string tls_uri =
      "nbds+unix://alice@/?socket=" + sock_ + "&tls-psk-file=" + keys;
  std::unique_ptr<NbdDevice> dev = OpenOk(tls_uri);
  ASSERT_NE(dev, nullptr);
  AlignedBuffer b(4096), back(4096);
  Fill(b, 8);
  EXPECT_TRUE(dev->Write(0, b.data(), 4096).ok());
  EXPECT_TRUE(dev->Read(0, back.data(), 4096).ok());
  EXPECT_EQ(std::memcmp(b.data(), back.data(), 4096), 0);
  // The server insists on TLS.
  absl::StatusOr<std::unique_ptr<NbdDevice>> plain = NbdDevice::Open(uri_);
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kUnavailable) << plain.status();
}

TEST_F(NbdDeviceTest, BadUris) {
  for (const char* bad : {"/dev/sdb", "relative/file", "http://host/x", "nbd:/x"}) {
    absl::StatusOr<std::unique_ptr<NbdDevice>> dev = NbdDevice::Open(bad);
    EXPECT_EQ(dev.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(dev.status().message().find(bad), std::string::npos) << dev.status();
  }
  // Schemes libnbd knows, but URIs it refuses: a unix URI without a
  // socket, and an unterminated IPv6 literal.
  for (const char* bad : {"nbd+unix:///export", "nbd://[::1/x"}) {
    absl::StatusOr<std::unique_ptr<NbdDevice>> dev = NbdDevice::Open(bad);
    EXPECT_EQ(dev.status().code(), absl::StatusCode::kInvalidArgument)
        << bad << ": " << dev.status();
    EXPECT_NE(dev.status().message().find(bad), std::string::npos) << dev.status();
  }
}

TEST_F(NbdDeviceTest, MissingExport) {
  std::filesystem::create_directory(dir_ + "/exports");
  std::ofstream(dir_ + "/exports/a").close();
  ASSERT_EQ(::truncate((dir_ + "/exports/a").c_str(), 4 * kMiB), 0);
  Serve({"file", "dir=" + dir_ + "/exports"});
  const std::string good = "nbd+unix:///a?socket=" + sock_;
  std::unique_ptr<NbdDevice> dev = OpenOk(good);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->size(), 4 * kMiB);
  const std::string missing = "nbd+unix:///nope?socket=" + sock_;
  absl::StatusOr<std::unique_ptr<NbdDevice>> bad = NbdDevice::Open(missing);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnavailable) << bad.status();
  EXPECT_NE(bad.status().message().find(missing), std::string::npos) << bad.status();
}

TEST_F(NbdDeviceTest, ServerErrorsAreUnavailableAndKeepTheConnection) {
  // Every write fails with EIO on the server; reads still work.
  Serve({"--filter=error", "memory", "64M", "error-pwrite=EIO",
         "error-pwrite-rate=100%"});
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_);
  ASSERT_NE(dev, nullptr);
  AlignedBuffer b(4096);
  absl::Status s = dev->Write(4096, b.data(), 4096);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("write at offset 4096 length 4096"), std::string::npos) << s;
  EXPECT_TRUE(dev->Read(4096, b.data(), 4096).ok());
  EXPECT_TRUE(dev->Flush().ok());
  EXPECT_EQ(dev->reconnects(), 0u);
}

// A server restart loses what it had not flushed, so the device reconnects
// but fails the next flush once; with the server down, I/O fails and then
// recovers when it is back.
TEST_F(NbdDeviceTest, ReconnectsAfterServerRestart) {
  Serve({"memory", "64M"});
  NbdDeviceOptions o;
  o.connections = 1;
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_, o);
  ASSERT_NE(dev, nullptr);
  AlignedBuffer data(8192), back(8192);
  Fill(data, 7);
  ASSERT_TRUE(dev->Write(0, data.data(), 8192).ok());
  ASSERT_TRUE(dev->Flush().ok());

  server_->Kill();
  absl::Status s = dev->Read(0, back.data(), 8192);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("reconnecting failed"), std::string::npos) << s;

  Serve({"memory", "64M"});
  ASSERT_TRUE(dev->Write(0, data.data(), 8192).ok());
  EXPECT_EQ(dev->reconnects(), 1u);
  s = dev->Flush();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("connection to the server was lost"), std::string::npos) << s;
  ASSERT_TRUE(dev->Write(0, data.data(), 8192).ok());
  EXPECT_TRUE(dev->Flush().ok());
  ASSERT_TRUE(dev->Read(0, back.data(), 8192).ok());
  EXPECT_EQ(std::memcmp(data.data(), back.data(), 8192), 0);

  // A restart between two requests: the read that finds the connection
  // dead is sent again on a new one and succeeds (the new memory disk is
  // empty); the flush after it still fails once.
  server_->Kill();
  Serve({"memory", "64M"});
  ASSERT_TRUE(dev->Read(0, back.data(), 8192).ok());
  EXPECT_EQ(dev->reconnects(), 2u);
  EXPECT_EQ(back.data()[0], 0);
  EXPECT_EQ(dev->Flush().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(dev->Flush().ok());
}

TEST_F(NbdDeviceTest, ReconnectRefusesAChangedExport) {
  Serve({"memory", "64M"});
  NbdDeviceOptions o;
  o.connections = 1;
  std::unique_ptr<NbdDevice> dev = OpenOk(uri_, o);
  ASSERT_NE(dev, nullptr);
  server_->Kill();
  Serve({"memory", "32M"});
  AlignedBuffer b(4096);
  absl::Status s = dev->Read(0, b.data(), 4096);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("33554432"), std::string::npos) << s;
}

TEST(NbdUriTest, Recognised) {
  EXPECT_TRUE(IsNbdUri("nbd://host/x"));
  EXPECT_TRUE(IsNbdUri("NBDS://host/x"));
  EXPECT_TRUE(IsNbdUri("nbd+unix:///?socket=/s"));
  EXPECT_TRUE(IsNbdUri("nbds+unix:///?socket=/s"));
  EXPECT_TRUE(IsNbdUri("nbd+vsock://2"));
  EXPECT_FALSE(IsNbdUri("/dev/sdb"));
  EXPECT_FALSE(IsNbdUri("nbd.img"));
  EXPECT_FALSE(IsNbdUri("nbd:/x"));
  EXPECT_FALSE(IsNbdUri("file:///x"));
}

TEST(NbdUriTest, Normalised) {
  EXPECT_EQ(NormalizeNbdUri("nbds://Host:10809/disk?tls-verify-peer=false"),
            "nbd://host/disk");
  EXPECT_EQ(NormalizeNbdUri("nbd://alice@host:10810"), "nbd://host:10810/");
  EXPECT_EQ(NormalizeNbdUri("nbd://[::1]:10809/"), "nbd://[::1]/");
  EXPECT_EQ(NormalizeNbdUri("nbd://[::1]/"), "nbd://[::1]/");
  EXPECT_EQ(NormalizeNbdUri("nbd+unix://?socket=/run/s"), "nbd+unix:///?socket=/run/s");
  EXPECT_EQ(NormalizeNbdUri("nbds+unix:///e?tls-certificates=/c&socket=/run/%73#x"),
            "nbd+unix:///e?socket=/run/s");
  EXPECT_EQ(NormalizeNbdUri("nbd://h/a%2fb"), NormalizeNbdUri("nbd://h/a/b"));
  EXPECT_EQ(NormalizeNbdUri("nbd://h/with space"), "nbd://h/with%20space");
  EXPECT_NE(NormalizeNbdUri("nbd://h/a"), NormalizeNbdUri("nbd://h/A"));
  EXPECT_NE(NormalizeNbdUri("nbd+unix:///?socket=/a"),
            NormalizeNbdUri("nbd+unix:///?socket=/b"));
}

TEST(NbdUriTest, OriginIdentity) {
  absl::StatusOr<std::string> id =
      OriginIdentity("nbds://SAN:10809/vol1?tls-verify-peer=false", false);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "nbd:nbd://san/vol1");
  // Created or not: no server is asked, nothing is written.
  EXPECT_EQ(*OriginIdentity("nbd://san/vol1", true), *id);

  const std::string long_a = "nbd+unix:///e?socket=/" + std::string(200, 'a');
  const std::string long_b = "nbd+unix:///e?socket=/" + std::string(199, 'a') + "b";
  absl::StatusOr<std::string> a = OriginIdentity(long_a, false);
  absl::StatusOr<std::string> b = OriginIdentity(long_b, false);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LE(a->size(), kMaxOriginIdentityLength);
  EXPECT_EQ(a->rfind("nbd:nbd+unix:///e?socket=/aaa", 0), 0u) << *a;
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace wb
