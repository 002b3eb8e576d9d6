#include "server/node/path_policy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace wb::node {
namespace {

namespace fs = std::filesystem;
using absl::StatusCode;

class PathPolicyTest : public ::testing::Test {
 protected:
  PathPolicyTest() {
    char tmpl[] = "/var/tmp/wb-path-policy-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::create_directories(root());
    fs::create_directories(outside());
  }
  ~PathPolicyTest() override { fs::remove_all(dir_); }

  std::string root() const { return dir_ + "/root"; }
  std::string outside() const { return dir_ + "/outside"; }
  void Touch(const std::string& path) { std::ofstream(path) << "x"; }

  StatusCode Code(const PathPolicy& p, const std::string& path) {
    return p.Open(path).status().code();
  }

  std::string dir_;
};

TEST_F(PathPolicyTest, RegularFilesCountWhereTheyReallyAre) {
  PathPolicy p({root()}, {});
  Touch(root() + "/in");
  Touch(outside() + "/out");
  fs::create_symlink(outside() + "/out", root() + "/link-out");
  fs::create_symlink(root() + "/in", outside() + "/link-in");
  EXPECT_EQ(Code(p, root() + "/in"), StatusCode::kOk);
  EXPECT_EQ(Code(p, outside() + "/link-in"), StatusCode::kOk) << "the file is inside";
  EXPECT_EQ(Code(p, outside() + "/out"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(p, root() + "/link-out"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(p, root() + "/../outside/out"), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(p, root() + "/missing"), StatusCode::kNotFound);
  EXPECT_EQ(Code(p, root()), StatusCode::kInvalidArgument) << "a directory";
  ASSERT_EQ(::mkfifo((root() + "/fifo").c_str(), 0600), 0);
  EXPECT_EQ(Code(p, root() + "/fifo"), StatusCode::kInvalidArgument) << "without blocking";
  // A root named through a symlink counts as where it leads.
  fs::create_symlink(root(), dir_ + "/root-link");
  EXPECT_EQ(Code(PathPolicy({dir_ + "/root-link"}, {}), root() + "/in"), StatusCode::kOk);
  // A sibling whose name merely begins like the root is not under it.
  fs::create_directories(root() + "x");
  Touch(root() + "x/f");
  EXPECT_EQ(Code(p, root() + "x/f"), StatusCode::kPermissionDenied);
}

// The check holds for what is opened later, whatever happens to the name.
TEST_F(PathPolicyTest, TheCheckedFileIsTheOneReopened) {
  PathPolicy p({root()}, {});
  Touch(root() + "/dev");
  Touch(outside() + "/secret");
  absl::StatusOr<ConfinedFile> f = p.Open(root() + "/dev");
  ASSERT_TRUE(f.ok()) << f.status();
  struct stat checked, swapped, reopened;
  ASSERT_EQ(::stat((root() + "/dev").c_str(), &checked), 0);
  // Swapped for a link to a file outside after the check.
  fs::remove(root() + "/dev");
  fs::create_symlink(outside() + "/secret", root() + "/dev");
  ASSERT_EQ(::stat((root() + "/dev").c_str(), &swapped), 0);
  int fd = ::open(f->proc_path().c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fstat(fd, &reopened), 0);
  ::close(fd);
  EXPECT_EQ(reopened.st_ino, checked.st_ino);
  EXPECT_NE(reopened.st_ino, swapped.st_ino);
}

// Block devices count by device number, so that the symlinks of
// /dev/disk/by-id work. Device nodes are made with mknod (the tests run as
// root); nothing opens the devices themselves.
TEST_F(PathPolicyTest, BlockDevicesCountByANodeUnderARoot) {
  const dev_t allowed = ::makedev(7, 200), other = ::makedev(7, 201);
  ASSERT_EQ(::mknod((outside() + "/blk").c_str(), S_IFBLK | 0600, allowed), 0)
      << std::strerror(errno);
  ASSERT_EQ(::mknod((outside() + "/other").c_str(), S_IFBLK | 0600, other), 0);
  fs::create_symlink(outside() + "/blk", root() + "/disk-by-id");
  PathPolicy p({root()}, {});
  EXPECT_EQ(Code(p, root() + "/disk-by-id"), StatusCode::kOk);
  EXPECT_EQ(Code(p, outside() + "/blk"), StatusCode::kOk) << "the same device";
  EXPECT_EQ(Code(p, outside() + "/other"), StatusCode::kPermissionDenied);
}

TEST_F(PathPolicyTest, NbdUrisNeedAPrefixAndFilesUnderTheRoots) {
  Touch(root() + "/sock");
  PathPolicy none({root()}, {});
  EXPECT_EQ(none.CheckNbdUri("nbd://san1/db").code(), StatusCode::kPermissionDenied);
  PathPolicy p({root()}, {"nbd://san1/", "nbd+unix:///"});
  EXPECT_TRUE(p.CheckNbdUri("nbd://san1/db").ok());
  EXPECT_TRUE(p.CheckNbdUri("nbd://san1/db?tls-verify-peer=false").ok());
  EXPECT_TRUE(p.CheckNbdUri("nbd+unix:///db?socket=" + root() + "/sock").ok());
  EXPECT_EQ(p.CheckNbdUri("nbd://san1.evil/db").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(p.CheckNbdUri("nbd://san2/db").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(p.CheckNbdUri("nbd+unix:///db?socket=/run/other.sock").code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(p.CheckNbdUri("nbd+unix:///db?socket=" + root() + "/../outside").code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(p.CheckNbdUri("nbd://san1/db?tls-psk-file=%2Fetc%2Fshadow").code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(p.CheckNbdUri("nbd://san1/db?tls-certificates=/etc").code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(p.CheckNbdUri("nbd://san1/db?unknown=1").code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace wb::node
