#include "server/core/device/file_device.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/origin_identity.h"

namespace wb {
namespace {

// A uniquely named file under dir, removed by the destructor.
class TempFile {
 public:
  explicit TempFile(const std::string& dir, uint64_t size = 0) {
    std::string tmpl = dir + "/wb-filedev-XXXXXX";
    const int fd = mkstemp(tmpl.data());
    EXPECT_GE(fd, 0) << dir;
    if (size > 0) {
      EXPECT_EQ(ftruncate(fd, size), 0);
    }
    close(fd);
    path_ = tmpl;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Whether this process holds path open with O_DIRECT, from /proc's view of
// the open file (not from what FileDevice says about itself).
std::optional<bool> OpenWithDirect(const std::string& path) {
  const std::string real = std::filesystem::canonical(path).string();
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string() != real) continue;
    std::ifstream info("/proc/self/fdinfo/" + e.path().filename().string());
    std::string key;
    while (info >> key) {
      if (key == "flags:") {
        std::string octal;
        info >> octal;
        return (std::strtoul(octal.c_str(), nullptr, 8) & O_DIRECT) != 0;
      }
    }
  }
  return std::nullopt;
}

void Fill(AlignedBuffer& b, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < b.size(); ++i) b.data()[i] = static_cast<char>(rng());
}

FileDeviceOptions CreateOptions(uint64_t size) {
  FileDeviceOptions o;
  o.create = true;
  o.create_size = size;
  return o;
}

class FileDeviceDirTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FileDeviceDirTest, OpenWriteReadReopen) {
  const std::string dir = GetParam();
  struct statfs fs;
  if (statfs(dir.c_str(), &fs) != 0) GTEST_SKIP() << dir << " is missing";
  TempFile f(dir);
  auto dev = FileDevice::Open(f.path(), CreateOptions(4 << 20));
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ((*dev)->size(), 4u << 20);
  // 4096 only where O_DIRECT runs on a disk with 4 KiB sectors.
  EXPECT_TRUE((*dev)->logical_block_size() == 512 ||
              ((*dev)->direct() && (*dev)->logical_block_size() == 4096));
  EXPECT_EQ((*dev)->name(), f.path());
  EXPECT_FALSE((*dev)->is_block_device());
  EXPECT_TRUE((*dev)->uses_io_uring());
  // What the device reports is what the kernel has.
  EXPECT_EQ(OpenWithDirect(f.path()), (*dev)->direct());
  if (fs.f_type != TMPFS_MAGIC) {
    // A disk filesystem takes O_DIRECT, so it must really be in use.
    EXPECT_TRUE((*dev)->direct()) << dir;
  }
  std::printf("%s: fs 0x%lx, O_DIRECT %s\n", dir.c_str(),
              static_cast<unsigned long>(fs.f_type),
              (*dev)->direct() ? "on" : "off (buffered fallback)");

  AlignedBuffer w(1 << 20), r(1 << 20);
  Fill(w, 1);
  ASSERT_TRUE((*dev)->Write(4096 * 3, w.data(), w.size()).ok());
  ASSERT_TRUE((*dev)->Flush().ok());
  ASSERT_TRUE((*dev)->Read(4096 * 3, r.data(), r.size()).ok());
  EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
  dev->reset();

  auto again = FileDevice::Open(f.path(), FileDeviceOptions{});
  ASSERT_TRUE(again.ok()) << again.status();
  std::memset(r.data(), 0, r.size());
  ASSERT_TRUE((*again)->Read(4096 * 3, r.data(), r.size()).ok());
  EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(Dirs, FileDeviceDirTest,
                         ::testing::Values("/tmp", "/var/tmp", "/dev/shm"));

TEST(FileDeviceTest, BufferedFallbackWhenDirectRefused) {
  TempFile f("/var/tmp", 1 << 20);
  FileDeviceOptions o;
  o.TEST_refuse_direct = true;
  auto dev = FileDevice::Open(f.path(), o);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_FALSE((*dev)->direct());
  EXPECT_EQ(OpenWithDirect(f.path()), false);
  AlignedBuffer w(8192), r(8192);
  Fill(w, 2);
  ASSERT_TRUE((*dev)->Write(8192, w.data(), 8192).ok());
  ASSERT_TRUE((*dev)->Flush().ok());
  ASSERT_TRUE((*dev)->Read(8192, r.data(), 8192).ok());
  EXPECT_EQ(std::memcmp(w.data(), r.data(), 8192), 0);
}

TEST(FileDeviceTest, SynchronousFallbackWithoutIoUring) {
  TempFile f("/var/tmp", 1 << 20);
  FileDeviceOptions o;
  o.use_io_uring = false;
  auto dev = FileDevice::Open(f.path(), o);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_FALSE((*dev)->uses_io_uring());
  AlignedBuffer w(4096), r(4096);
  Fill(w, 3);
  bool inline_done = false;
  (*dev)->Submit(IoRequest{IoOp::kWrite, 4096, 4096, w.data()},
                 [&](absl::Status s) {
                   EXPECT_TRUE(s.ok()) << s;
                   inline_done = true;
                 });
  EXPECT_TRUE(inline_done);
  ASSERT_TRUE((*dev)->Flush().ok());
  ASSERT_TRUE((*dev)->Read(4096, r.data(), 4096).ok());
  EXPECT_EQ(std::memcmp(w.data(), r.data(), 4096), 0);
  ASSERT_TRUE((*dev)->Discard(4096, 4096).ok());
  ASSERT_TRUE((*dev)->Read(4096, r.data(), 4096).ok());
  EXPECT_EQ(std::string(r.data(), 4096), std::string(4096, '\0'));
}

TEST(FileDeviceTest, ManyWritesInFlightThenReadBack) {
  TempFile f("/var/tmp");
  constexpr int kBlocks = 1000;
  FileDeviceOptions o = CreateOptions(kBlocks * 4096);
  o.queue_depth = 16;  // Far fewer than the I/Os: most wait for ring space.
  auto dev = FileDevice::Open(f.path(), o);
  ASSERT_TRUE(dev.ok()) << dev.status();
  std::vector<AlignedBuffer> bufs;
  for (int i = 0; i < kBlocks; ++i) {
    bufs.emplace_back(4096);
    Fill(bufs.back(), 100 + i);
  }
  absl::BlockingCounter writes(kBlocks);
  std::atomic<int> failed{0};
  for (int i = 0; i < kBlocks; ++i) {
    (*dev)->Submit(IoRequest{IoOp::kWrite, i * 4096ull, 4096, bufs[i].data()},
                   [&](absl::Status s) {
                     if (!s.ok()) ++failed;
                     writes.DecrementCount();
                   });
  }
  writes.Wait();
  ASSERT_EQ(failed.load(), 0);
  std::vector<AlignedBuffer> back;
  for (int i = 0; i < kBlocks; ++i) back.emplace_back(4096);
  absl::BlockingCounter reads(kBlocks);
  for (int i = 0; i < kBlocks; ++i) {
    (*dev)->Submit(IoRequest{IoOp::kRead, i * 4096ull, 4096, back[i].data()},
                   [&](absl::Status s) {
                     if (!s.ok()) ++failed;
                     reads.DecrementCount();
                   });
  }
  reads.Wait();
  ASSERT_EQ(failed.load(), 0);
  for (int i = 0; i < kBlocks; ++i) {
    ASSERT_EQ(std::memcmp(bufs[i].data(), back[i].data(), 4096), 0) << i;
  }
}

TEST(FileDeviceTest, CallbacksMaySubmitAndDestructorDrains) {
  TempFile f("/var/tmp");
  FileDeviceOptions o = CreateOptions(1 << 20);
  o.queue_depth = 1;
  auto dev = FileDevice::Open(f.path(), o);
  ASSERT_TRUE(dev.ok()) << dev.status();
  AlignedBuffer buf(4096);
  std::atomic<int> done{0};
  // A chain: each completion (on the reaper thread, ring full) submits the
  // next write. Must not deadlock.
  std::function<void(int)> next = [&](int i) {
    (*dev)->Submit(
        IoRequest{IoOp::kWrite, (i % 256) * 4096ull, 4096, buf.data()},
        [&, i](absl::Status s) {
          EXPECT_TRUE(s.ok());
          ++done;
          if (i < 99) next(i + 1);
        });
  };
  next(0);
  for (int i = 0; i < 50; ++i) {
    (*dev)->Submit(IoRequest{IoOp::kWrite, 0, 4096, buf.data()},
                   [&](absl::Status) { ++done; });
  }
  // The chain keeps submitting while we wait for it.
  while (done.load() < 150) absl::SleepFor(absl::Milliseconds(1));
  for (int i = 0; i < 50; ++i) {
    (*dev)->Submit(IoRequest{IoOp::kFlush}, [&](absl::Status) { ++done; });
  }
  dev->reset();  // Waits for the 50 flushes.
  EXPECT_EQ(done.load(), 200);
}

TEST(FileDeviceTest, ExclusiveOpenRefused) {
  TempFile f("/var/tmp", 1 << 20);
  auto first = FileDevice::Open(f.path(), FileDeviceOptions{});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = FileDevice::Open(f.path(), FileDeviceOptions{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(second.status().message(),
            f.path() + " is in use by another process (lock held)");
  FileDeviceOptions shared;
  shared.exclusive = false;
  EXPECT_TRUE(FileDevice::Open(f.path(), shared).ok());
  first->reset();
  EXPECT_TRUE(FileDevice::Open(f.path(), FileDeviceOptions{}).ok());
}

TEST(FileDeviceTest, OpenErrors) {
  auto missing = FileDevice::Open("/var/tmp/wb-no-such-file-xyz", {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/var/tmp/wb-no-such-file-xyz"),
            absl::string_view::npos);

  TempFile odd("/var/tmp", 1000);
  auto bad_size = FileDevice::Open(odd.path(), {});
  EXPECT_EQ(bad_size.status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(FileDevice::Open("/var/tmp", {}).status().code(),
            absl::StatusCode::kInvalidArgument);

  TempFile f("/var/tmp", 1 << 20);
  FileDeviceOptions lbs;
  lbs.logical_block_size = 1024;
  EXPECT_EQ(FileDevice::Open(f.path(), lbs).status().code(),
            absl::StatusCode::kInvalidArgument);

  TempFile empty("/var/tmp");
  FileDeviceOptions bad_create = CreateOptions(1000);
  EXPECT_EQ(FileDevice::Open(empty.path(), bad_create).status().code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_EQ(chmod(f.path().c_str(), 0), 0);
  // Root ignores file modes; drop to nobody for this thread's file access.
  const bool root = geteuid() == 0;
  if (root) setfsuid(65534);
  auto denied = FileDevice::Open(f.path(), {});
  if (root) setfsuid(0);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied)
      << denied.status();
}

TEST(FileDeviceTest, RangeAndDiscard) {
  TempFile f("/var/tmp", 1 << 20);
  auto dev = FileDevice::Open(f.path(), {});
  ASSERT_TRUE(dev.ok());
  AlignedBuffer buf(8192);
  Fill(buf, 4);
  EXPECT_EQ((*dev)->Write((1 << 20) - 4096, buf.data(), 8192).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*dev)->Write(100, buf.data(), 512).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*dev)->supports_discard());
  ASSERT_TRUE((*dev)->Write(65536, buf.data(), 8192).ok());
  ASSERT_TRUE((*dev)->Discard(65536, 4096).ok());
  ASSERT_TRUE((*dev)->Read(65536, buf.data(), 8192).ok());
  EXPECT_EQ(std::string(buf.data(), 4096), std::string(4096, '\0'));
  EXPECT_NE(std::string(buf.data() + 4096, 4096), std::string(4096, '\0'));
}

TEST(FileDeviceTest, FourKibLogicalBlocks) {
  TempFile f("/var/tmp", 1 << 20);
  FileDeviceOptions o;
  o.logical_block_size = 4096;
  auto dev = FileDevice::Open(f.path(), o);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ((*dev)->logical_block_size(), 4096u);
  AlignedBuffer buf(4096);
  EXPECT_EQ((*dev)->Write(512, buf.data(), 4096).code(),
            absl::StatusCode::kInvalidArgument);
  // aligned_io bridges 512-byte writes with read-modify-write.
  const std::string all(8192, 'k');
  ASSERT_TRUE(WriteSectors(**dev, 0, all.data(), all.size()).ok());
  const std::string mid(512, 'm');
  ASSERT_TRUE(WriteSectors(**dev, 1536, mid.data(), 512).ok());
  std::string back(8192, '\0');
  ASSERT_TRUE(ReadAny(**dev, 0, back.data(), back.size()).ok());
  std::string want = all;
  want.replace(1536, 512, mid);
  EXPECT_EQ(back, want);

  TempFile odd("/var/tmp", 4096 + 512);
  EXPECT_EQ(FileDevice::Open(odd.path(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Runs cmd and returns its first output line, or nullopt if it failed.
std::optional<std::string> RunCommand(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return std::nullopt;
  char line[512] = {};
  const bool got = std::fgets(line, sizeof line, p) != nullptr;
  if (pclose(p) != 0 || !got) return std::nullopt;
  return std::string(absl::StripTrailingAsciiWhitespace(line));
}

TEST(FileDeviceTest, LoopDevice) {
  if (access("/dev/loop-control", F_OK) != 0) {
    GTEST_SKIP() << "/dev/loop-control is missing: no loop devices here";
  }
  if (geteuid() != 0) GTEST_SKIP() << "losetup needs root";
  TempFile backing("/var/tmp", 8 << 20);
  auto file_id = OriginIdentity(backing.path(), /*create_if_missing=*/true);
  ASSERT_TRUE(file_id.ok()) << file_id.status();
  for (const char* sector : {"512", "4096"}) {
    auto loop = RunCommand(
        absl::StrCat("losetup -f --show -b ", sector, " ", backing.path()));
    ASSERT_TRUE(loop.has_value()) << "losetup failed";
    absl::Cleanup detach = [&] {
      std::system(("losetup -d " + *loop).c_str());
    };

    auto id = OriginIdentity(*loop, false);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, "loop:" + *file_id + ":0");

    auto dev = FileDevice::Open(*loop, {});
    ASSERT_TRUE(dev.ok()) << dev.status();
    EXPECT_TRUE((*dev)->is_block_device());
    EXPECT_TRUE((*dev)->direct());
    EXPECT_EQ(OpenWithDirect(*loop), true);
    EXPECT_EQ((*dev)->size(), 8u << 20);
    EXPECT_EQ((*dev)->logical_block_size(),
              static_cast<uint32_t>(std::atoi(sector)));
    // Exclusive: a second opener in this process is refused.
    auto second = FileDevice::Open(*loop, {});
    EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition)
        << second.status();

    AlignedBuffer w(65536), r(65536);
    Fill(w, 5);
    ASSERT_TRUE((*dev)->Write(1 << 20, w.data(), w.size()).ok());
    ASSERT_TRUE((*dev)->Flush().ok());
    ASSERT_TRUE((*dev)->Read(1 << 20, r.data(), r.size()).ok());
    EXPECT_EQ(std::memcmp(w.data(), r.data(), w.size()), 0);
    if ((*dev)->supports_discard()) {
      ASSERT_TRUE((*dev)->Discard(1 << 20, 4096).ok());
    }
    dev->reset();
    // The data went through to the backing file.
    std::ifstream in(backing.path(), std::ios::binary);
    in.seekg((1 << 20) + 8192);
    std::string tail(8192, '\0');
    in.read(tail.data(), tail.size());
    EXPECT_EQ(std::memcmp(tail.data(), w.data() + 8192, 8192), 0);
  }
}

}  // namespace
}  // namespace wb
