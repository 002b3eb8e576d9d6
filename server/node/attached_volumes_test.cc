#include "server/node/attached_volumes.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace wb::node {
namespace {

class AttachedVolumesTest : public ::testing::Test {
 protected:
  AttachedVolumesTest() {
    char tmpl[] = "/var/tmp/wbnode-attached-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/state/volumes.json";  // the directory does not exist yet
  }
  ~AttachedVolumesTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void WriteFile(const std::string& text) {
    std::filesystem::create_directories(dir_ + "/state");
    std::ofstream(path_) << text;
  }
  std::string ReadFile() {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
  std::string path_;
};

VolumeConfig Volume(const std::string& name) {
  VolumeConfig v;
  v.name = name;
  v.origin = "/dev/" + name + "-origin";
  v.cache = "/dev/" + name + "-cache";
  return v;
}

TEST_F(AttachedVolumesTest, MissingFileIsAnEmptyList) {
  AttachedVolumes a(path_);
  auto list = a.Load();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->empty());
  EXPECT_FALSE(std::filesystem::exists(path_)) << "loading wrote something";
}

TEST_F(AttachedVolumesTest, AddAndRemoveRoundTripThroughTheFile) {
  {
    AttachedVolumes a(path_);
    ASSERT_TRUE(a.Load().ok());
    VolumeConfig db = Volume("db");
    db.rambuf_size = 32 << 20;
    db.io_timeout_s = 30;
    // Format-time and tunable settings are not remembered: the cache keeps
    // them, and applying them again would undo later changes.
    db.cache_size = 1 << 30;
    db.segment_size = 1 << 20;
    db.tunables["writeback_threshold"] = 10;
    ASSERT_TRUE(a.Add(db, [] { return true; }).ok());
    ASSERT_TRUE(a.Add(Volume("logs"), [] { return true; }).ok());
    ASSERT_TRUE(a.Add(Volume("tmp"), [] { return true; }).ok());
    ASSERT_TRUE(a.Remove("tmp").ok());
    ASSERT_TRUE(a.Remove("never-attached").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  AttachedVolumes b(path_);
  auto list = b.Load();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u) << ReadFile();
  const VolumeConfig& db = (*list)[0];
  EXPECT_EQ(db.name, "db");
  EXPECT_EQ(db.origin, "/dev/db-origin");
  EXPECT_EQ(db.cache, "/dev/db-cache");
  EXPECT_EQ(db.rambuf_size, 32u << 20);
  EXPECT_EQ(db.io_timeout_s, 30u);
  EXPECT_EQ(db.cache_size, 0u);
  EXPECT_EQ(db.segment_size, 0u);
  EXPECT_TRUE(db.tunables.empty());
  EXPECT_EQ((*list)[1].name, "logs");
  EXPECT_EQ((*list)[1].io_timeout_s, 60u);
}

TEST_F(AttachedVolumesTest, AddSkipsAVolumeDetachedMeanwhile) {
  AttachedVolumes a(path_);
  ASSERT_TRUE(a.Load().ok());
  ASSERT_TRUE(a.Add(Volume("db"), [] { return false; }).ok());
  EXPECT_FALSE(std::filesystem::exists(path_));
  ASSERT_TRUE(a.Add(Volume("logs"), [] { return true; }).ok());
  AttachedVolumes b(path_);
  auto list = b.Load();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "logs");
}

TEST_F(AttachedVolumesTest, DamagedFileIsRefusedNamingIt) {
  for (const char* text :
       {"{\"volumes\": [", "[]", "{\"volumes\": {}}",
        "{\"volumes\": [], \"listen\": \"0.0.0.0:1\"}",
        "{\"volumes\": [{\"name\": \"db\", \"origin\": \"/o\"}]}",
        "{\"volumes\": [{\"name\": \"d b\", \"origin\": \"/o\", \"cache\": \"/c\"}]}",
        "{\"volumes\": [{\"name\": \"db\", \"origin\": \"/o\", \"cache\": \"/c\", "
        "\"writeback_threshold\": 5}]}",
        "{\"volumes\": [{\"name\": \"db\", \"origin\": \"/o\", \"cache\": \"/c\"}, "
        "{\"name\": \"db\", \"origin\": \"/o2\", \"cache\": \"/c2\"}]}"}) {
    WriteFile(text);
    AttachedVolumes a(path_);
    auto list = a.Load();
    ASSERT_FALSE(list.ok()) << text;
    EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(list.status().message().find(path_), std::string::npos) << list.status();
  }
}

TEST_F(AttachedVolumesTest, UnwritableFileLeavesMemoryUnchanged) {
  // A regular file where the directory should be: nothing can be written.
  std::ofstream(dir_ + "/state") << "x";
  AttachedVolumes a(path_);
  absl::Status s = a.Add(Volume("db"), [] { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  // Remove of a volume that was never recorded needs no write.
  EXPECT_TRUE(a.Remove("db").ok());
}

}  // namespace
}  // namespace wb::node
