// Losing one member of a mirrored cache set at a random instant loses no
// durable write (issue 8, part 4).
//
// Each trial formats a mirror of two CrashDevices, opens a Volume on it and
// runs a seeded workload of writes (some FUA) and Flushes. At a random
// member I/O, one member is destroyed: that I/O and every later one fails.
// Then:
//   1. the live volume still serves every acknowledged write;
//   2. after a power cut at a random ack, the survivor alone opens if it
//      recorded the loss, and every sector holds its durable value or a
//      later written one; if it did not record it, the destroyed member
//      alone holds every durable write (nothing relied on the survivor);
//   3. given back together with the survivor, a destroyed member that the
//      survivor recorded failed is stale and never read: the same check;
//   4. when both were still in sync at the cut, after a Flush the member
//      reads do not use holds by itself exactly what the mirror showed.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/core/assemble_cache_set.h"
#include "server/core/device/cache_set.h"
#include "server/core/device/crash_device.h"
#include "server/core/device/device_ref.h"
#include "server/core/device/mem_device.h"
#include "server/core/format_cache_set.h"
#include "server/core/volume.h"

namespace wb {
namespace {

constexpr uint64_t kCacheSize = 4 << 20;
constexpr uint64_t kOriginSize = 512 << 10;
constexpr uint64_t kSectors = kOriginSize / kSectorSize;
constexpr char kIdentity[] = "mirror-loss-origin";

// Forwards to inner until the n-th submitted I/O; that one and every later
// one fail, as if the device had been pulled.
class DoomedDevice final : public Device {
 public:
  DoomedDevice(Device* inner, int64_t fail_at) : inner_(inner), left_(fail_at) {}
  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override {
    return inner_->logical_block_size();
  }
  std::string name() const override { return inner_->name(); }
  void Submit(const IoRequest& req, IoCallback done) override {
    if (dead_.load() || left_.fetch_sub(1) == 1) {
      if (!dead_.exchange(true)) killed_op_ = req.op;
      std::move(done)(absl::UnavailableError("device destroyed"));
      return;
    }
    inner_->Submit(req, std::move(done));
  }
  bool dead() const { return dead_.load(); }
  IoOp killed_op() const { return killed_op_; }

 private:
  Device* const inner_;
  std::atomic<int64_t> left_;
  std::atomic<bool> dead_{false};
  IoOp killed_op_ = IoOp::kRead;
};

// Each written sector holds (write id, sector number) repeated, so a read
// tells which write it came from.
void FillSector(char* p, uint64_t id, uint64_t sector) {
  for (size_t i = 0; i < kSectorSize; i += 16) {
    std::memcpy(p + i, &id, 8);
    std::memcpy(p + i + 8, &sector, 8);
  }
}

// Which values each sector may hold.
struct Model {
  std::vector<uint64_t> current = std::vector<uint64_t>(kSectors, 0);
  std::vector<uint64_t> durable = std::vector<uint64_t>(kSectors, 0);
  // Ids written since the durable one.
  std::vector<std::vector<uint64_t>> later =
      std::vector<std::vector<uint64_t>>(kSectors);

  void Wrote(uint64_t first, uint64_t n, uint64_t id, bool fua) {
    for (uint64_t s = first; s < first + n; s++) {
      current[s] = id;
      if (fua) {
        durable[s] = id;
        later[s].clear();
      } else {
        later[s].push_back(id);
      }
    }
  }
  void Flushed() {
    durable = current;
    for (auto& l : later) l.clear();
  }
};

// Reads the whole volume; exact: every sector must hold current.
// Otherwise: durable or one of later. Returns the first bad sector or -1.
int64_t Check(Volume& v, const Model& m, bool exact, std::string* why) {
  std::string buf(kOriginSize, 0);
  if (absl::Status s = v.Read(0, absl::MakeSpan(buf)); !s.ok()) {
    *why = s.ToString();
    return 0;
  }
  for (uint64_t s = 0; s < kSectors; s++) {
    uint64_t id, sector;
    std::memcpy(&id, buf.data() + s * kSectorSize, 8);
    std::memcpy(&sector, buf.data() + s * kSectorSize + 8, 8);
    if (id != 0 && sector != s) {
      *why = "sector holds another sector's data";
      return static_cast<int64_t>(s);
    }
    bool ok = exact ? id == m.current[s] : id == m.durable[s];
    if (!exact) {
      for (uint64_t l : m.later[s]) ok |= id == l;
    }
    if (!ok) {
      *why = "holds write " + std::to_string(id) + ", durable " +
             std::to_string(m.durable[s]) + ", current " +
             std::to_string(m.current[s]);
      return static_cast<int64_t>(s);
    }
  }
  return -1;
}

OpenOptions VolumeOptions() {
  OpenOptions oo;
  oo.origin_identity = kIdentity;
  oo.rambuf_size = 256 << 10;
  oo.enable_writeback = false;  // the cache set alone must hold it all
  oo.io_timeout = absl::Seconds(10);
  return oo;
}

std::unique_ptr<Volume> OpenOn(std::vector<std::unique_ptr<Device>> members,
                               MemDevice* origin, std::string* err) {
  auto set = AssembleCacheSet(std::move(members));
  if (!set.ok()) {
    *err = set.status().ToString();
    return nullptr;
  }
  auto v = Volume::Open(std::move(*set), std::make_unique<DeviceRef>(origin),
                        VolumeOptions());
  if (!v.ok()) {
    *err = v.status().ToString();
    return nullptr;
  }
  return std::move(*v);
}

TEST(MirrorLossTest, DestroyingOneMemberLosesNoDurableWrite) {
  constexpr int kTrials = 300;
  constexpr int kOps = 60;
  // Formatted once; each trial starts from these images.
  std::string image0, image1;
  {
    MemDevice a(kCacheSize, 512, "a"), b(kCacheSize, 512, "b");
    MemDevice origin(kOriginSize, 512, "origin");
    FormatOptions fo;
    fo.segment_size = 64 << 10;
    fo.origin_identity = kIdentity;
    ASSERT_TRUE(FormatCacheSet({&a, &b}, kLayoutMirror, origin, fo).ok());
    image0 = a.Image();
    image1 = b.Image();
  }
  int destroyed = 0, destroyed_on_flush = 0, survivor_alone = 0;
  int checked_second = 0;
  for (int trial = 0; trial < kTrials; trial++) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    std::mt19937_64 rng(trial);
    const bool async = trial % 4 == 0;
    auto make = [&](const std::string& img, const char* name) {
      CrashDeviceOptions o;
      o.name = name;
      o.async_completion = async;
      o.seed = rng();
      o.max_delay = absl::Microseconds(30);
      return CrashDevice::FromImage(img, o);
    };
    std::unique_ptr<CrashDevice> dev[2] = {make(image0, "a"),
                                           make(image1, "b")};
    const int victim = static_cast<int>(rng() % 2);
    // Member I/Os of a trial number about 150; some trials never reach it.
    DoomedDevice doomed(dev[victim].get(), 1 + rng() % 180);
    MemDevice origin(kOriginSize, 512, "origin");
    std::vector<std::unique_ptr<Device>> members;
    for (int i = 0; i < 2; i++) {
      members.push_back(i == victim ? std::make_unique<DeviceRef>(&doomed)
                                    : std::make_unique<DeviceRef>(dev[i].get()));
    }
    std::string err;
    std::unique_ptr<Volume> v = OpenOn(std::move(members), &origin, &err);
    ASSERT_NE(v, nullptr) << err;

    Model model, at_cut;
    uint64_t id = 0;
    const int survivor = 1 - victim;
    const int cut_after = static_cast<int>(rng() % kOps);
    std::string cut, stale;
    for (int op = 0; op < kOps; op++) {
      if (op == cut_after) {
        // Power cut right after an ack (the membership thread may still be
        // at work): what each member would hold.
        cut = dev[survivor]->PowerCutImage(rng());
        stale = dev[victim]->PowerCutImage(rng());
        at_cut = model;
      }
      if (rng() % 8 == 0) {
        ASSERT_TRUE(v->Flush().ok());
        model.Flushed();
        continue;
      }
      const uint64_t n = 1 + rng() % 24;  // sectors
      const uint64_t first = rng() % (kSectors - n);
      const bool fua = rng() % 4 == 0;
      std::string data(n * kSectorSize, 0);
      ++id;
      for (uint64_t s = 0; s < n; s++) {
        FillSector(data.data() + s * kSectorSize, id, first + s);
      }
      absl::Status s = v->Write(first * kSectorSize, data, fua);
      ASSERT_TRUE(s.ok()) << s;
      model.Wrote(first, n, id, fua);
    }
    // 1. The live volume serves everything acknowledged.
    int64_t bad = Check(*v, model, /*exact=*/true, &err);
    ASSERT_EQ(bad, -1) << "live volume, sector " << bad << ": " << err;
    if (doomed.dead()) {
      destroyed++;
      destroyed_on_flush += doomed.killed_op() == IoOp::kFlush;
    }

    v.reset();
    // 2. After the cut, the survivor comes back alone.
    auto s_dev = MemDevice::FromImage(cut, 512, "survivor");
    auto v_dev = MemDevice::FromImage(stale, 512, "victim");
    bool alone_ok = false;
    {
      std::vector<std::unique_ptr<Device>> alone;
      alone.push_back(std::make_unique<DeviceRef>(s_dev.get()));
      std::unique_ptr<Volume> v2 = OpenOn(std::move(alone), &origin, &err);
      alone_ok = v2 != nullptr;
      if (v2 == nullptr) {
        // Refused alone only while its record still names the other member
        // in sync, which must mean nothing relied on the survivor alone: the
        // victim then holds every durable write by itself.
        EXPECT_NE(err.find("was not given"), std::string::npos) << err;
        auto victim_copy = MemDevice::FromImage(stale, 512, "victim");
        std::vector<std::unique_ptr<Device>> other;
        other.push_back(std::make_unique<DeviceRef>(victim_copy.get()));
        CacheSetOpenOptions force;
        force.allow_missing = true;
        auto set = AssembleCacheSet(std::move(other), force);
        ASSERT_TRUE(set.ok()) << set.status();
        auto vv = Volume::Open(std::move(*set),
                               std::make_unique<DeviceRef>(&origin),
                               VolumeOptions());
        ASSERT_TRUE(vv.ok()) << vv.status();
        bad = Check(**vv, at_cut, /*exact=*/false, &err);
        ASSERT_EQ(bad, -1) << "victim alone, sector " << bad << ": " << err;
      } else {
        survivor_alone++;
        bad = Check(*v2, at_cut, /*exact=*/false, &err);
        ASSERT_EQ(bad, -1) << "survivor alone, sector " << bad << ": " << err;
      }
    }
    // 3. Both given back (survivor's cut image again: the open above may
    // have written to it, which a second open must also accept).
    auto s_dev2 = MemDevice::FromImage(cut, 512, "survivor");
    std::vector<std::unique_ptr<Device>> both;
    both.push_back(std::make_unique<DeviceRef>(v_dev.get()));
    both.push_back(std::make_unique<DeviceRef>(s_dev2.get()));
    auto set = AssembleCacheSet(std::move(both));
    ASSERT_TRUE(set.ok()) << set.status();
    if (alone_ok) {
      // The survivor recorded the victim failed: it must not be trusted.
      EXPECT_EQ((*set)->GetStatus().members[victim].health,
                MemberHealth::kStale);
    }
    const bool both_in_sync = !(*set)->GetStatus().degraded;
    auto v3 = Volume::Open(std::move(*set),
                           std::make_unique<DeviceRef>(&origin),
                           VolumeOptions());
    ASSERT_TRUE(v3.ok()) << v3.status();
    bad = Check(**v3, at_cut, /*exact=*/false, &err);
    ASSERT_EQ(bad, -1) << "both members, sector " << bad << ": " << err;
    if (!both_in_sync) continue;
    // 4. Both were in sync after the cut: what the volume showed is durable
    // on each after a Flush, so member 1 (the one reads do not use) alone
    // must show exactly the same.
    std::string seen(kOriginSize, 0);
    ASSERT_TRUE((*v3)->Read(0, absl::MakeSpan(seen)).ok());
    ASSERT_TRUE((*v3)->Flush().ok());
    ASSERT_TRUE((*v3)->Close().ok());
    v3->reset();
    MemDevice* member1 = victim == 1 ? v_dev.get() : s_dev2.get();
    std::vector<std::unique_ptr<Device>> second;
    second.push_back(std::make_unique<DeviceRef>(member1));
    CacheSetOpenOptions force;
    force.allow_missing = true;
    auto set4 = AssembleCacheSet(std::move(second), force);
    ASSERT_TRUE(set4.ok()) << set4.status();
    auto v4 = Volume::Open(std::move(*set4),
                           std::make_unique<DeviceRef>(&origin),
                           VolumeOptions());
    ASSERT_TRUE(v4.ok()) << v4.status();
    std::string back(kOriginSize, 0);
    ASSERT_TRUE((*v4)->Read(0, absl::MakeSpan(back)).ok());
    ASSERT_TRUE(back == seen) << "member 1 alone differs from the mirror";
    checked_second++;
  }
  std::printf(
      "mirror loss: %d trials, %d destroyed a member mid-workload (%d on a "
      "flush), survivor opened alone in %d, other member alone checked in "
      "%d\n",
      kTrials, destroyed, destroyed_on_flush, survivor_alone, checked_second);
  EXPECT_GT(destroyed, kTrials / 3);
  EXPECT_GT(survivor_alone, kTrials / 10);
  EXPECT_GT(checked_second, kTrials / 4);
}

}  // namespace
}  // namespace wb
