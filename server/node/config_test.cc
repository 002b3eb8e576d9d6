#include "server/node/config.h"

#include <fstream>

#include <gtest/gtest.h>

#include "server/core/format/superblock.h"

namespace wb::node {
namespace {

TEST(ConfigTest, ParseSizeTakesEverySpelling) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("64M"), 64u << 20);
  EXPECT_EQ(*ParseSize("64m"), 64u << 20);
  EXPECT_EQ(*ParseSize("64MiB"), 64u << 20);
  EXPECT_EQ(*ParseSize("64MB"), 64u << 20);
  EXPECT_EQ(*ParseSize("1G"), 1u << 30);
  EXPECT_EQ(*ParseSize("2T"), 2ull << 40);
  EXPECT_EQ(*ParseSize("512K"), 512u << 10);
  for (const char* bad : {"", "M", "12Q", "-1", "1.5G", "99999999999999999999"}) {
    EXPECT_FALSE(ParseSize(bad).ok()) << bad;
  }
}

TEST(ConfigTest, VolumeSpecSetsEveryKey) {
  auto v = ParseVolumeSpec(
      "name=db,origin=/dev/sdb,cache=/dev/nvme0n1,rambuf_size=128M,origin_size=1G,"
      "cache_size=256M,segment_size=1M,io_timeout=30,writeback_threshold=50");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->name, "db");
  EXPECT_EQ(v->origin, "/dev/sdb");
  EXPECT_EQ(v->cache, "/dev/nvme0n1");
  EXPECT_EQ(v->rambuf_size, 128u << 20);
  EXPECT_EQ(v->origin_size, 1u << 30);
  EXPECT_EQ(v->cache_size, 256u << 20);
  EXPECT_EQ(v->segment_size, 1u << 20);
  EXPECT_EQ(v->io_timeout_s, 30u);
  EXPECT_EQ(v->tunables.at("writeback_threshold"), 50u);
}

TEST(ConfigTest, VolumeSpecRejectsNonsense) {
  EXPECT_FALSE(ParseVolumeSpec("name=a,origin").ok());
  EXPECT_FALSE(ParseVolumeSpec("name=a,colour=blue").ok());
  EXPECT_FALSE(ParseVolumeSpec("name=a,writeback_threshold=101").ok());
  EXPECT_FALSE(ParseVolumeSpec("name=a,rambuf_size=lots").ok());
  EXPECT_FALSE(ParseVolumeSpec("name=a,io_timeout=0").ok());
}

TEST(ConfigTest, NetworkListeningNeedsTlsOrInsecure) {
  NodeConfig cfg;
  cfg.listen = {"0.0.0.0:7200"};
  EXPECT_FALSE(ValidateConfig(cfg).ok());
  cfg.insecure = true;
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  cfg.insecure = false;
  cfg.tls_cert = "c.pem";
  cfg.tls_key = "k.pem";
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  cfg.tls_key.clear();
  EXPECT_FALSE(ValidateConfig(cfg).ok()) << "cert without key";
}

TEST(ConfigTest, ValidateRejectsDuplicateAndBadNames) {
  NodeConfig cfg;
  cfg.volumes.push_back(*ParseVolumeSpec("name=a,origin=o,cache=c"));
  EXPECT_TRUE(ValidateConfig(cfg).ok());
  cfg.volumes.push_back(*ParseVolumeSpec("name=a,origin=o2,cache=c2"));
  EXPECT_FALSE(ValidateConfig(cfg).ok());
  cfg.volumes.pop_back();
  cfg.volumes.push_back(*ParseVolumeSpec("name=a/b,origin=o2,cache=c2"));
  EXPECT_FALSE(ValidateConfig(cfg).ok());
  cfg.volumes.pop_back();
  cfg.max_payload = 1000;
  EXPECT_FALSE(ValidateConfig(cfg).ok());
}

TEST(ConfigTest, JsonFileLoadsAndRejectsUnknownKeys) {
  std::string path = ::testing::TempDir() + "/wb-config-test.json";
  {
    std::ofstream f(path);
    f << R"({"listen": ["127.0.0.1:7300", "unix:/tmp/x.sock"], "rambuf_size": "32M",
            "max_payload": 1048576, "volumes": [{"name": "v", "origin": "/o",
            "cache": "/c", "tunables": {"writeback_threshold": 10}}]})";
  }
  NodeConfig cfg;
  ASSERT_TRUE(LoadConfigFile(path, &cfg).ok());
  EXPECT_EQ(cfg.listen.size(), 2u);
  EXPECT_EQ(cfg.rambuf_size, 32u << 20);
  EXPECT_EQ(cfg.max_payload, 1u << 20);
  ASSERT_EQ(cfg.volumes.size(), 1u);
  EXPECT_EQ(cfg.volumes[0].tunables.at("writeback_threshold"), 10u);
  {
    std::ofstream f(path);
    f << R"({"listne": "127.0.0.1:1"})";
  }
  NodeConfig other;
  EXPECT_FALSE(LoadConfigFile(path, &other).ok());
  {
    std::ofstream f(path);
    f << "{not json";
  }
  EXPECT_FALSE(LoadConfigFile(path, &other).ok());
}

TEST(ConfigTest, SeveralCacheDevicesNeedALayout) {
  absl::StatusOr<VolumeConfig> v = ParseVolumeSpec(
      "name=m,origin=/o,cache=/c0,cache=/c1,cache_layout=mirror");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->cache, "/c0");
  EXPECT_EQ(v->more_caches, std::vector<std::string>{"/c1"});
  EXPECT_EQ(CachePaths(*v), (std::vector<std::string>{"/c0", "/c1"}));
  EXPECT_EQ(v->cache_layout, 2u);
  NodeConfig cfg;
  cfg.volumes = {*v};
  EXPECT_TRUE(ValidateConfig(cfg).ok());

  // Every spelling, and nothing else.
  for (const char* name : {"single", "stripe", "mirror"}) {
    absl::StatusOr<uint32_t> code = ParseCacheLayout(name);
    ASSERT_TRUE(code.ok()) << name;
    EXPECT_STREQ(LayoutName(*code), name);
  }
  EXPECT_FALSE(ParseVolumeSpec("name=m,origin=/o,cache=/c,cache_layout=raid1").ok());

  // Two caches, no layout: refused, saying what to add.
  v = ParseVolumeSpec("name=m,origin=/o,cache=/c0,cache=/c1");
  ASSERT_TRUE(v.ok());
  cfg.volumes = {*v};
  absl::Status s = ValidateConfig(cfg);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cache_layout=stripe"), std::string::npos) << s;
  // The same device twice: refused.
  v = ParseVolumeSpec("name=m,origin=/o,cache=/c0,cache=/c0,cache_layout=stripe");
  ASSERT_TRUE(v.ok());
  cfg.volumes = {*v};
  EXPECT_FALSE(ValidateConfig(cfg).ok());

  // JSON: "cache" as a list.
  std::string path = ::testing::TempDir() + "/wb-config-set-test.json";
  {
    std::ofstream f(path);
    f << R"({"volumes": [{"name": "s", "origin": "/o", "cache": ["/a", "/b", "/c"],
            "cache_layout": "stripe"}]})";
  }
  NodeConfig loaded;
  ASSERT_TRUE(LoadConfigFile(path, &loaded).ok());
  ASSERT_EQ(loaded.volumes.size(), 1u);
  EXPECT_EQ(CachePaths(loaded.volumes[0]),
            (std::vector<std::string>{"/a", "/b", "/c"}));
  EXPECT_EQ(loaded.volumes[0].cache_layout, 1u);
  EXPECT_TRUE(ValidateConfig(loaded).ok());
}

}  // namespace
}  // namespace wb::node
