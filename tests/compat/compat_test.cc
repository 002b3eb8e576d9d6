// Caches written by earlier versions still open: each fixture is copied to
// a temporary directory, opened, its log replayed, its data read back,
// drained, and the origin checked (fixture.h).
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/core/assemble_cache_set.h"
#include "server/core/device/file_device.h"
#include "server/core/volume.h"
#include "tests/compat/fixture.h"

namespace wb::compat {
namespace {

namespace fs = std::filesystem;

class CompatTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const fs::path src = fs::path(WB_COMPAT_FIXTURES) / GetParam();
    absl::StatusOr<Manifest> m = ReadManifest(src / "MANIFEST");
    ASSERT_TRUE(m.ok()) << m.status();
    manifest_ = *m;
    std::string tmpl = (fs::temp_directory_path() / "wb-compat-XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    for (const std::string& f : manifest_.caches) {
      ASSERT_TRUE(Gunzip(src / f, Unpacked(f)).ok()) << f;
    }
    ASSERT_TRUE(Gunzip(src / manifest_.origin, Unpacked(manifest_.origin)).ok());
    ASSERT_EQ(fs::file_size(Unpacked(manifest_.origin)), manifest_.origin_size);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Where file (as named in the manifest) is unpacked.
  std::string Unpacked(const std::string& file) const {
    std::string name = file;
    if (name.size() > 3 && name.ends_with(".gz")) name.resize(name.size() - 3);
    return (dir_ / name).string();
  }

  std::unique_ptr<Device> OpenFile(const std::string& file) {
    auto d = FileDevice::Open(Unpacked(file));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? std::move(*d) : nullptr;
  }

  // The cache as the node opens it: a set is assembled first.
  std::unique_ptr<Device> OpenCache() {
    std::vector<std::unique_ptr<Device>> devs;
    for (const std::string& f : manifest_.caches) devs.push_back(OpenFile(f));
    if (manifest_.layout == "single") return std::move(devs[0]);
    auto set = AssembleCacheSet(std::move(devs));
    EXPECT_TRUE(set.ok()) << set.status();
    return set.ok() ? std::move(*set) : nullptr;
  }

  void ExpectRanges(const std::function<std::string(uint64_t, uint64_t)>& read,
                    const char* when) {
    for (const ExpectedRange& r : manifest_.ranges) {
      const std::string data = read(r.offset, r.length);
      ASSERT_EQ(data.size(), r.length);
      EXPECT_EQ(CheckRange(r, data), "") << when;
    }
  }

  Manifest manifest_;
  fs::path dir_;
};

TEST_P(CompatTest, OpensReplaysReadsBackAndDrains) {
  OpenOptions oo;
  oo.origin_identity = manifest_.origin_identity;
  oo.rambuf_size = 1 << 20;
  oo.enable_writeback = false;  // the data must come from the replayed log
  {
    std::unique_ptr<Device> cache = OpenCache();
    ASSERT_NE(cache, nullptr);
    auto v = Volume::Open(std::move(cache),
                          OpenFile(manifest_.origin), oo);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_GT((*v)->GetStatus().nr_dirty_cache_blocks, 0u)
        << "the fixture should hold dirty data";
    EXPECT_EQ((*v)->size(), manifest_.origin_size);
    ExpectRanges(
        [&](uint64_t off, uint64_t len) {
          std::string out(len, 0);
          EXPECT_TRUE((*v)->Read(off, absl::MakeSpan(out)).ok());
          return out;
        },
        "after replay");
    ASSERT_TRUE((*v)->Close().ok());
  }
  oo.enable_writeback = true;  // DropCaches waits for writeback
  {
    std::unique_ptr<Device> cache = OpenCache();
    ASSERT_NE(cache, nullptr);
    auto v = Volume::Open(std::move(cache), OpenFile(manifest_.origin), oo);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE((*v)->DropCaches({}).ok());
    EXPECT_EQ((*v)->GetStatus().nr_dirty_cache_blocks, 0u);
    ASSERT_TRUE((*v)->Close().ok());
  }
  std::string origin;
  {
    std::ifstream in(Unpacked(manifest_.origin), std::ios::binary);
    origin.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_EQ(origin.size(), manifest_.origin_size);
  ExpectRanges(
      [&](uint64_t off, uint64_t len) { return origin.substr(off, len); },
      "on the origin after the drain");

  // Drained, it opens again with nothing dirty.
  std::unique_ptr<Device> cache = OpenCache();
  ASSERT_NE(cache, nullptr);
  auto v = Volume::Open(std::move(cache), OpenFile(manifest_.origin), oo);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)->GetStatus().nr_dirty_cache_blocks, 0u);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CompatTest,
                         ::testing::Values("single", "tail", "mirror",
                                           "mirror_of_one"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wb::compat
