// Volumes changed at run time: FormatVolume, AttachVolume and DetachVolume
// through libwbclient, what a detach does with dirty data, the node
// remembering run-time attaches across restarts (DATA_DIR/volumes.json),
// and opens that wait out a lock held a moment too long.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/core/util/crc32c.h"
#include "tests/node/node_fixture.h"

namespace wbtest {
namespace {

namespace v1 = writeboost::v1;
using absl::StatusCode;

class NodeAdminTest : public NodeTest {
 protected:
  // An empty 64 MiB origin and 32 MiB cache file for volume `name`.
  v1::VolumeSpec NewVolumeFiles(const std::string& name) {
    for (const auto& [suffix, size] : {std::pair{".origin", 64 << 20}, {".cache", 32 << 20}}) {
      std::ofstream(dir_.File(name + suffix));
      std::filesystem::resize_file(dir_.File(name + suffix), size);
    }
    return Spec(name);
  }

  v1::VolumeSpec Spec(const std::string& name) {
    v1::VolumeSpec spec;
    spec.set_name(name);
    spec.set_origin(dir_.File(name + ".origin"));
    spec.add_caches(dir_.File(name + ".cache"));
    return spec;
  }

  // The devices are in dir_, outside the default --data-dir: allow it.
  std::vector<std::string> AllowDir() const { return {"--allow-path", dir_.path()}; }

  // The daemon runs in dir_ with the default --data-dir.
  std::string StateFile() const { return dir_.File("wb-data/volumes.json"); }

  std::string ReadText(const std::string& path) const {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Whether the origin file itself holds pattern `seed` (no daemon involved).
  ::testing::AssertionResult OriginHasPattern(const std::string& name, uint64_t offset,
                                              uint64_t length, uint64_t seed) const {
    std::string buf(length, '\0');
    int fd = ::open(dir_.File(name + ".origin").c_str(), O_RDONLY);
    ssize_t n = ::pread(fd, buf.data(), length, static_cast<off_t>(offset));
    ::close(fd);
    if (n != static_cast<ssize_t>(length)) return ::testing::AssertionFailure() << "short read";
    if (!CheckPattern(buf.data(), length, offset, seed)) {
      return ::testing::AssertionFailure() << "pattern " << seed << " not on the origin";
    }
    return ::testing::AssertionSuccess();
  }

  std::vector<std::string> VolumeNames() {
    std::vector<std::string> names;
    auto list = Admin()->ListVolumes();
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const v1::VolumeInfo& v : list->volumes()) names.push_back(v.name());
    }
    return names;
  }
};

using NameList = std::vector<std::string>;

TEST_F(NodeAdminTest, FormatAttachRefusedDetachThenDrainedDetach) {
  StartNode({"v"}, AllowDir());
  auto admin = Admin();
  v1::VolumeSpec spec = NewVolumeFiles("w");
  // No autonomous writeback: what is written stays dirty until the drain.
  (*spec.mutable_tunables())["writeback_threshold"] = 0;
  auto info = admin->FormatVolume(spec, /*force=*/false, /*attach=*/true);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state(), v1::VOLUME_STATE_SERVING);
  EXPECT_EQ(info->size_bytes(), 64u << 20);
  EXPECT_EQ(VolumeNames(), (NameList{"v", "w"}));
  EXPECT_NE(ReadText(StateFile()).find(dir_.File("w.cache")), std::string::npos);
  // Formatting an attached volume is refused before the devices are touched.
  EXPECT_EQ(admin->FormatVolume(spec, true, false).status().code(), StatusCode::kAlreadyExists);

  auto w = Open("w");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(WritePattern(*w, 1 << 20, 1 << 20, 21).ok());
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_FALSE(OriginHasPattern("w", 1 << 20, 1 << 20, 21)) << "written back too early";

  absl::Status refused = admin->DetachVolume("w", /*drain=*/false, /*force=*/false);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("256 dirty blocks"), std::string::npos) << refused;
  // Refused means untouched: still served, still remembered.
  EXPECT_TRUE(HasPattern(*w, 1 << 20, 1 << 20, 21));
  EXPECT_NE(ReadText(StateFile()).find("\"w\""), std::string::npos);

  ASSERT_TRUE(admin->DetachVolume("w", /*drain=*/true, false).ok());
  EXPECT_EQ(VolumeNames(), (NameList{"v"}));
  std::string sector(512, '\0');
  EXPECT_EQ(w->Read(0, absl::MakeSpan(sector)).code(), StatusCode::kNotFound);
  EXPECT_TRUE(OriginHasPattern("w", 1 << 20, 1 << 20, 21)) << "drain left data behind";
  EXPECT_EQ(ReadText(StateFile()).find("\"w\""), std::string::npos) << ReadText(StateFile());
  EXPECT_EQ(admin->DetachVolume("w", false, false).code(), StatusCode::kNotFound);
}

TEST_F(NodeAdminTest, ForcedDetachKeepsDirtyDataForTheNextAttach) {
  StartNode({"v"}, AllowDir());
  auto admin = Admin();
  v1::VolumeSpec spec = NewVolumeFiles("w");
  (*spec.mutable_tunables())["writeback_threshold"] = 0;
  ASSERT_TRUE(admin->FormatVolume(spec, false, /*attach=*/false).ok());
  EXPECT_EQ(VolumeNames(), (NameList{"v"})) << "formatted without attach";
  EXPECT_FALSE(std::filesystem::exists(StateFile()));
  ASSERT_TRUE(admin->AttachVolume(Spec("w")).ok());
  {
    auto w = Open("w");
    ASSERT_NE(w, nullptr);
    ASSERT_TRUE(WritePattern(*w, 0, 256 << 10, 22, /*fua=*/true).ok());
  }
  ASSERT_TRUE(admin->DetachVolume("w", false, /*force=*/true).ok());
  EXPECT_FALSE(OriginHasPattern("w", 0, 256 << 10, 22));
  auto info = admin->AttachVolume(Spec("w"));
  ASSERT_TRUE(info.ok()) << info.status();
  auto w = Open("w");
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(HasPattern(*w, 0, 256 << 10, 22)) << "replayed from the cache";
  auto st = admin->GetStatus("w");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->nr_dirty_cache_blocks(), 64u);
  // The tunable set at format lives in the cache, not in volumes.json.
  for (const v1::Tunable& t : st->tunables()) {
    if (t.name() == "writeback_threshold") {
      EXPECT_EQ(t.value(), 0u);
    }
  }
}

// A cache whose superblock the reader refuses for a reason other than its
// checksum (here a reserved byte that is not zero) may still front dirty
// data: a format without force must not treat it as an empty device.
TEST_F(NodeAdminTest, FormatRefusesADeviceWithAnyWriteboostSuperblock) {
  StartNode({"v"}, AllowDir());
  auto admin = Admin();
  v1::VolumeSpec spec = NewVolumeFiles("w");
  ASSERT_TRUE(admin->FormatVolume(spec, false, /*attach=*/false).ok());
  const std::string cache = dir_.File("w.cache");
  std::string block(4096, '\0');
  {
    std::ifstream in(cache, std::ios::binary);
    in.read(block.data(), block.size());
  }
  block[800] = 1;  // reserved, zero by the format
  const uint32_t crc = wb::Crc32c(block.data() + 8, block.size() - 8);
  for (int i = 0; i < 4; i++) block[4 + i] = static_cast<char>(crc >> (8 * i));
  {
    std::fstream out(cache, std::ios::binary | std::ios::in | std::ios::out);
    out.write(block.data(), block.size());
  }
  EXPECT_EQ(admin->FormatVolume(spec, /*force=*/false, false).status().code(),
            StatusCode::kFailedPrecondition);
  std::ifstream in(cache, std::ios::binary);
  std::string after(4096, '\0');
  in.read(after.data(), after.size());
  EXPECT_TRUE(after == block) << "the superblock was overwritten";
}

TEST_F(NodeAdminTest, RunTimeAttachesSurviveRestartsAndDetachesDoNot) {
  StartNode({"v"}, AllowDir());
  auto admin = Admin();
  for (const char* name : {"w", "x"}) {
    ASSERT_TRUE(admin->FormatVolume(NewVolumeFiles(name), false, /*attach=*/true).ok());
  }
  {
    auto w = Open("w");
    ASSERT_NE(w, nullptr);
    ASSERT_TRUE(WritePattern(*w, 0, 64 << 10, 23).ok());  // not flushed
  }
  // A clean restart: both come back, with the acknowledged write.
  ASSERT_EQ(daemon_.Term(), 0) << daemon_.Log();
  Restart();
  for (const char* name : {"w", "x"}) {
    ASSERT_TRUE(daemon_.WaitServing(endpoint_, name, {}, absl::Seconds(20)).ok()) << name;
  }
  EXPECT_EQ(VolumeNames(), (NameList{"v", "w", "x"}));
  {
    auto w = Open("w");
    ASSERT_NE(w, nullptr);
    EXPECT_TRUE(HasPattern(*w, 0, 64 << 10, 23));
  }
  // A detached volume stays gone; one attached just before a SIGKILL is
  // back, as the reply came only after it was recorded.
  admin = Admin();
  ASSERT_TRUE(admin->DetachVolume("x", false, /*force=*/true).ok());
  ASSERT_TRUE(admin->FormatVolume(NewVolumeFiles("y"), false, /*attach=*/true).ok());
  daemon_.Kill();
  Restart();
  for (const char* name : {"w", "y"}) {
    ASSERT_TRUE(daemon_.WaitServing(endpoint_, name, {}, absl::Seconds(20)).ok()) << name;
  }
  EXPECT_EQ(VolumeNames(), (NameList{"v", "w", "y"}));
  EXPECT_EQ(Admin()->GetStatus("x").status().code(), StatusCode::kNotFound);
  EXPECT_NE(daemon_.Log().find("volume w: attaching again"), std::string::npos);
}

TEST_F(NodeAdminTest, RememberedVolumeThatCannotOpenIsFailedUntilDetached) {
  StartNode({"v"}, AllowDir());
  ASSERT_TRUE(Admin()->FormatVolume(NewVolumeFiles("w"), false, /*attach=*/true).ok());
  ASSERT_EQ(daemon_.Term(), 0);
  std::filesystem::remove(dir_.File("w.cache"));
  Restart();
  auto admin = Admin();
  absl::StatusOr<v1::VolumeStatus> st;
  for (int i = 0; i < 200; i++) {  // its open runs on a thread of its own
    st = admin->GetStatus("w");
    if (!st.ok() || st->state() != v1::VOLUME_STATE_OPENING) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state(), v1::VOLUME_STATE_FAILED);
  EXPECT_NE(st->failure().find(dir_.File("w.cache")), std::string::npos) << st->failure();
  auto w = wbclient::Volume::Open(endpoint_, "w");
  EXPECT_EQ(w.status().code(), StatusCode::kFailedPrecondition) << w.status();
  ASSERT_TRUE(admin->DetachVolume("w", false, false).ok());
  EXPECT_EQ(ReadText(StateFile()).find("\"w\""), std::string::npos) << ReadText(StateFile());
  EXPECT_EQ(VolumeNames(), (NameList{"v"}));
}

TEST_F(NodeAdminTest, ConfiguredVolumeWinsOverARememberedOneOfTheSameName) {
  StartNode({"v"}, AllowDir());
  auto admin = Admin();
  {
    auto v = Open("v");
    ASSERT_NE(v, nullptr);
    ASSERT_TRUE(WritePattern(*v, 0, 4096, 24, /*fua=*/true).ok());
  }
  // Serve other devices under the configured name until the next start.
  ASSERT_TRUE(admin->DetachVolume("v", /*drain=*/true, false).ok());
  v1::VolumeSpec other = NewVolumeFiles("other");
  other.set_name("v");
  ASSERT_TRUE(admin->FormatVolume(other, false, /*attach=*/true).ok());
  EXPECT_EQ(admin->GetStatus("v")->size_bytes(), 64u << 20);
  ASSERT_EQ(daemon_.Term(), 0);
  Restart();
  auto v = Open("v");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->size(), 256u << 20) << "the configured devices";
  EXPECT_TRUE(HasPattern(*v, 0, 4096, 24));
  EXPECT_EQ(ReadText(StateFile()).find("\"v\""), std::string::npos) << ReadText(StateFile());
  EXPECT_NE(daemon_.Log().find("forgetting the run-time attachment"), std::string::npos);
}

TEST_F(NodeAdminTest, DamagedStateFileStopsTheNodeNamingIt) {
  std::filesystem::create_directories(dir_.File("wb-data"));
  std::ofstream(StateFile()) << "{\"volumes\": [";
  daemon_.Start({"--listen", absl::StrCat("127.0.0.1:", FreePort()), "--volume",
                 VolumeFlag(dir_, "v")});
  EXPECT_EQ(daemon_.Wait(absl::Seconds(30)), 1);
  // The daemon runs in dir_, so it names the file as its --data-dir does.
  EXPECT_NE(daemon_.Log().find("wb-data/volumes.json: not valid JSON"), std::string::npos)
      << daemon_.Log();
}

// flock on `path` for as long as the object lives, as a second writeboostd
// (or a dying one) would hold it. Close-on-exec: a daemon started meanwhile
// must not inherit the lock.
class HeldLock {
 public:
  explicit HeldLock(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CLOEXEC)) {
    EXPECT_EQ(::flock(fd_, LOCK_EX | LOCK_NB), 0) << path;
  }
  ~HeldLock() { Release(); }
  void Release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

TEST_F(NodeAdminTest, OpenWaitsBrieflyForAReleasedLockThenGivesUp) {
  StartNode({"v"}, AllowDir());
  ASSERT_EQ(daemon_.Term(), 0);
  {
    // Released 300 ms into the restart, as a killed daemon's io_uring
    // releases its files a moment after the process is gone.
    HeldLock lock(dir_.File("v.cache"));
    daemon_.Start(args_);
    absl::SleepFor(absl::Milliseconds(300));
    lock.Release();
    absl::Status s = daemon_.WaitServing(endpoint_, "v", {}, absl::Seconds(15));
    ASSERT_TRUE(s.ok()) << s;
  }
  // A lock that stays is reported as what it is, after the retry period.
  auto admin = Admin();
  ASSERT_TRUE(admin->FormatVolume(NewVolumeFiles("w"), false, /*attach=*/false).ok());
  HeldLock lock(dir_.File("w.cache"));
  absl::Time start = absl::Now();
  absl::Status s = admin->AttachVolume(Spec("w")).status();
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("in use by another process"), std::string::npos) << s;
  EXPECT_GE(took, absl::Milliseconds(1900));
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_EQ(VolumeNames(), (NameList{"v"})) << "a failed attach leaves nothing behind";
  EXPECT_FALSE(std::filesystem::exists(StateFile()));
  lock.Release();
  EXPECT_TRUE(admin->AttachVolume(Spec("w")).ok());
}

}  // namespace
}  // namespace wbtest
