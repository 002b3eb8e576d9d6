#include "server/core/device/origin_identity.h"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace wb {
namespace {

class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    std::string tmpl = "/var/tmp/wb-origin-XXXXXX";
    const int fd = mkstemp(tmpl.data());
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, contents.data(), contents.size()),
              static_cast<ssize_t>(contents.size()));
    close(fd);
    path_ = tmpl;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::string Contents() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

TEST(OriginIdentityTest, FileUuidCreatedOnceAndStable) {
  const std::string data(1 << 16, 'd');
  TempFile f(data);
  auto none = OriginIdentity(f.path(), false);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);

  auto id = OriginIdentity(f.path(), true);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_EQ(id->size(), 5u + 36u) << *id;
  EXPECT_TRUE(absl::StartsWith(*id, "uuid:")) << *id;
  EXPECT_EQ((*id)[5 + 14], '4');  // Version 4.
  EXPECT_NE(std::string("89ab").find((*id)[5 + 19]), std::string::npos);

  // Kept in the xattr, not in the data.
  char buf[64];
  const ssize_t n =
      getxattr(f.path().c_str(), kOriginUuidXattr, buf, sizeof buf);
  ASSERT_EQ(n, 36);
  EXPECT_EQ(std::string(buf, n), id->substr(5));
  EXPECT_EQ(f.Contents(), data);

  EXPECT_EQ(OriginIdentity(f.path(), false).value(), *id);
  EXPECT_EQ(OriginIdentity(f.path(), true).value(), *id);

  TempFile other(data);
  auto other_id = OriginIdentity(other.path(), true);
  ASSERT_TRUE(other_id.ok());
  EXPECT_NE(*other_id, *id);
}

TEST(OriginIdentityTest, CorruptXattrIsRefused) {
  TempFile f("x");
  ASSERT_EQ(setxattr(f.path().c_str(), kOriginUuidXattr, "hello", 5, 0), 0);
  EXPECT_EQ(OriginIdentity(f.path(), true).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(OriginIdentityTest, FilesystemWithoutXattrs) {
  // procfs refuses user xattrs on get; sysfs reports none, then refuses set.
  auto proc = OriginIdentity("/proc/version", true);
  EXPECT_EQ(proc.status().code(), absl::StatusCode::kFailedPrecondition)
      << proc.status();
  EXPECT_TRUE(absl::StrContains(proc.status().message(), "extended attributes"))
      << proc.status();
  const char* sys = "/sys/kernel/mm/transparent_hugepage/enabled";
  if (access(sys, F_OK) == 0) {
    EXPECT_EQ(OriginIdentity(sys, true).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

TEST(OriginIdentityTest, BadPaths) {
  EXPECT_EQ(OriginIdentity("/var/tmp/wb-no-such-origin", true).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(OriginIdentity("/var/tmp", true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OriginIdentityTest, RealBlockDevice) {
  // Whatever this machine's disk is, its identity is short and stable.
  for (const char* disk : {"/dev/vda", "/dev/sda", "/dev/nvme0n1"}) {
    struct stat st;
    if (stat(disk, &st) != 0 || !S_ISBLK(st.st_mode)) continue;
    auto id = OriginIdentity(disk, false);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_LE(id->size(), kMaxOriginIdentityLength);
    EXPECT_TRUE(absl::StartsWith(*id, "wwid:") ||
                absl::StartsWith(*id, "serial:") ||
                absl::StartsWith(*id, "devt-size:"))
        << *id;
    EXPECT_EQ(OriginIdentity(disk, false).value(), *id);
    std::printf("%s: %s\n", disk, id->c_str());
    return;
  }
  GTEST_SKIP() << "no disk device node found";
}

std::optional<std::string> RunCommand(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return std::nullopt;
  char line[512] = {};
  const bool got = std::fgets(line, sizeof line, p) != nullptr;
  if (pclose(p) != 0 || !got) return std::nullopt;
  return std::string(absl::StripTrailingAsciiWhitespace(line));
}

TEST(OriginIdentityTest, LoopDeviceUsesBackingFile) {
  if (access("/dev/loop-control", F_OK) != 0) {
    GTEST_SKIP() << "/dev/loop-control is missing: no loop devices here";
  }
  if (geteuid() != 0) GTEST_SKIP() << "losetup needs root";
  TempFile backing(std::string(4 << 20, '\0'));
  auto loop = RunCommand("losetup -f --show -o 8192 " + backing.path());
  ASSERT_TRUE(loop.has_value()) << "losetup failed";
  absl::Cleanup detach = [&] { std::system(("losetup -d " + *loop).c_str()); };

  // The backing file has no UUID yet.
  EXPECT_EQ(OriginIdentity(*loop, false).status().code(),
            absl::StatusCode::kNotFound);
  auto id = OriginIdentity(*loop, true);
  ASSERT_TRUE(id.ok()) << id.status();
  auto file_id = OriginIdentity(backing.path(), false);
  ASSERT_TRUE(file_id.ok()) << file_id.status();
  EXPECT_EQ(*id, absl::StrCat("loop:", *file_id, ":8192"));
  EXPECT_EQ(OriginIdentity(*loop, false).value(), *id);
}

}  // namespace
}  // namespace wb
