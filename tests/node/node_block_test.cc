// The block contract over the network: unary calls, the Io stream, two
// clients on two connections, and the admin calls around them.
#include <atomic>
#include <random>
#include <thread>

#include "absl/synchronization/notification.h"
#include "tests/node/node_fixture.h"

namespace wbtest {
namespace {

using wbclient::IoStream;

TEST_F(NodeTest, DescribeReportsSizeAndLimits) {
  StartNode();
  auto v = Open();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->size(), 256u << 20);
  EXPECT_EQ(v->max_payload(), 4u << 20);
  EXPECT_FALSE(v->read_only());
}

TEST_F(NodeTest, UnaryWriteReadFlushTrimZeroes) {
  StartNode();
  auto v = Open();
  ASSERT_NE(v, nullptr);
  ASSERT_TRUE(WritePattern(*v, 0, 4096, 1).ok());
  ASSERT_TRUE(WritePattern(*v, 1 << 20, 64 << 10, 2, /*fua=*/true).ok());
  ASSERT_TRUE(WritePattern(*v, 4096 + 512, 1024, 3).ok());  // partial block
  EXPECT_TRUE(HasPattern(*v, 0, 4096, 1));
  EXPECT_TRUE(HasPattern(*v, 1 << 20, 64 << 10, 2));
  EXPECT_TRUE(HasPattern(*v, 4096 + 512, 1024, 3));
  std::string around(512, 'x');
  ASSERT_TRUE(v->Read(4096, absl::MakeSpan(around)).ok());
  EXPECT_TRUE(IsZero(around)) << "a sector never written reads as zeroes";
  ASSERT_TRUE(v->Flush().ok());

  ASSERT_TRUE(v->WriteZeroes(1 << 20, 8192).ok());
  std::string z(8192, 'x');
  ASSERT_TRUE(v->Read(1 << 20, absl::MakeSpan(z)).ok());
  EXPECT_TRUE(IsZero(z));
  EXPECT_TRUE(HasPattern(*v, (1 << 20) + 8192, 56 << 10, 2)) << "zeroes stay in range";

  ASSERT_TRUE(v->Trim(0, 4096).ok());
  std::string t(4096, 'x');
  ASSERT_TRUE(v->Read(0, absl::MakeSpan(t)).ok());
  std::string before(4096, '\0');
  FillPattern(before.data(), 4096, 0, 1);
  EXPECT_TRUE(IsZero(t) || t == before) << "trim: zeroes or the value just before";
}

TEST_F(NodeTest, TwoClientsSeeEachOthersAcknowledgedWrites) {
  StartNode();
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 50; i++) {
    uint64_t off = uint64_t(i) * 12288;
    auto& writer = i % 2 ? *a : *b;
    auto& reader = i % 2 ? *b : *a;
    ASSERT_TRUE(WritePattern(writer, off, 8192, 100 + i).ok());
    // No flush: an acknowledged write is visible on every connection.
    ASSERT_TRUE(HasPattern(reader, off, 8192, 100 + i)) << i;
  }
  // A flush on one connection covers writes acknowledged on the other.
  ASSERT_TRUE(a->Flush().ok());
}

TEST_F(NodeTest, StreamPipelinesManyIosAndBothClientsAgree) {
  StartNode();
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto sa = a->OpenStream(32);
  ASSERT_TRUE(sa.ok()) << sa.status();
  constexpr int kBlocks = 2000;
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::string> bufs(kBlocks);
  for (int i = 0; i < kBlocks; i++) {
    bufs[i].resize(4096);
    FillPattern(bufs[i].data(), 4096, uint64_t(i) * 4096, 7);
    (*sa)->Write(uint64_t(i) * 4096, bufs[i], /*fua=*/i % 500 == 499,
                 [&](absl::Status s) { (s.ok() ? ok : bad)++; });
  }
  (*sa)->Drain();
  EXPECT_EQ(ok.load(), kBlocks);
  EXPECT_EQ(bad.load(), 0);

  // The other client reads everything back through its own stream.
  auto sb = b->OpenStream(64);
  ASSERT_TRUE(sb.ok());
  std::vector<std::string> got(kBlocks, std::string(4096, '\0'));
  std::atomic<int> match{0};
  for (int i = 0; i < kBlocks; i++) {
    (*sb)->Read(uint64_t(i) * 4096, absl::MakeSpan(got[i]), [&, i](absl::Status s) {
      if (s.ok() && CheckPattern(got[i].data(), 4096, uint64_t(i) * 4096, 7)) match++;
    });
  }
  (*sb)->Flush([&](absl::Status s) { EXPECT_TRUE(s.ok()) << s; });
  EXPECT_TRUE((*sb)->Close().ok());
  EXPECT_EQ(match.load(), kBlocks);
  EXPECT_TRUE((*sa)->Close().ok());
}

TEST_F(NodeTest, StreamRequestErrorsLeaveTheStreamUsable) {
  StartNode();
  auto v = Open();
  ASSERT_NE(v, nullptr);
  auto s = v->OpenStream(8);
  ASSERT_TRUE(s.ok());
  std::string data(4096, 'a');
  absl::Status misaligned, past_end, good;
  (*s)->Write(100, absl::MakeSpan(data).subspan(0, 512), false,
              [&](absl::Status st) { misaligned = st; });
  (*s)->Write(v->size(), data, false, [&](absl::Status st) { past_end = st; });
  (*s)->Drain();
  (*s)->Write(8192, data, true, [&](absl::Status st) { good = st; });
  EXPECT_TRUE((*s)->Close().ok());
  EXPECT_EQ(misaligned.code(), absl::StatusCode::kInvalidArgument) << misaligned;
  EXPECT_EQ(past_end.code(), absl::StatusCode::kOutOfRange) << past_end;
  EXPECT_TRUE(good.ok()) << good;
  std::string back(4096, '\0');
  ASSERT_TRUE(v->Read(8192, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, data);
}

TEST_F(NodeTest, AdminStatusMessagesAndDropCaches) {
  StartNode({"v", "w"});
  auto admin = Admin();
  auto list = admin->ListVolumes();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->volumes_size(), 2);
  EXPECT_EQ(list->volumes(0).name(), "v");
  EXPECT_EQ(list->volumes(0).size_bytes(), 256u << 20);
  EXPECT_EQ(list->volumes(1).name(), "w");

  auto v = Open();
  ASSERT_NE(v, nullptr);
  for (int i = 0; i < 64; i++) ASSERT_TRUE(WritePattern(*v, i * 65536, 65536, 9).ok());
  auto st = admin->GetStatus("v");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state(), writeboost::v1::VOLUME_STATE_SERVING);
  EXPECT_GT(st->nr_dirty_cache_blocks(), 0u);
  EXPECT_GT(st->nr_cache_blocks(), 0u);
  EXPECT_EQ(st->stats_size(), 16);
  EXPECT_GE(st->tunables_size(), 7);
  EXPECT_EQ(st->cache_devices_size(), 1);
  EXPECT_EQ(st->cache_layout(), writeboost::v1::CACHE_LAYOUT_SINGLE);

  auto set = admin->SendMessage("v", "writeback_threshold", "0");
  ASSERT_TRUE(set.ok()) << set.status();
  st = admin->GetStatus("v");
  for (const auto& t : st->tunables()) {
    if (t.name() == "writeback_threshold") {
      EXPECT_EQ(t.value(), 0u);
    }
  }
  EXPECT_EQ(admin->SendMessage("v", "no_such_tunable", "1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(admin->SendMessage("v", "writeback_threshold", "1000").status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(admin->SendMessage("v", "writeback_threshold", "ten").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(admin->SendMessage("v", "no_such_message", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(admin->SendMessage("v", "clear_stat", "").ok());

  int updates = 0;
  bool done = false;
  absl::Status drop = admin->DropCaches("v", [&](const writeboost::v1::DropCachesProgress& p) {
    updates++;
    done = p.done();
  });
  ASSERT_TRUE(drop.ok()) << drop;
  EXPECT_TRUE(done);
  EXPECT_GE(updates, 1);
  st = admin->GetStatus("v");
  EXPECT_EQ(st->nr_dirty_cache_blocks(), 0u);
  EXPECT_TRUE(HasPattern(*v, 0, 64 * 65536, 9));
  EXPECT_EQ(admin->GetStatus("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(NodeTest, DetachRefusesWhileDirtyThenDrainsAndReattaches) {
  StartNode({"v"}, {"--allow-path", dir_.path()});  // devices outside --data-dir
  auto admin = Admin();
  {
    auto v = Open();
    ASSERT_NE(v, nullptr);
    ASSERT_TRUE(WritePattern(*v, 0, 1 << 20, 11).ok());
  }
  ASSERT_TRUE(admin->SendMessage("v", "writeback_threshold", "0").ok());
  absl::Status s = admin->DetachVolume("v", false, false);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  ASSERT_TRUE(admin->DetachVolume("v", /*drain=*/true, false).ok());
  EXPECT_EQ(admin->GetStatus("v").status().code(), absl::StatusCode::kNotFound);
  // Health forgets the name: it answers like for one never attached.
  EXPECT_EQ(admin->Serving("v").status().code(), absl::StatusCode::kNotFound);

  writeboost::v1::VolumeSpec spec;
  spec.set_name("v");
  spec.set_origin(dir_.File("v.origin"));
  spec.add_caches(dir_.File("v.cache"));
  // A formatted cache is not formatted again by accident.
  EXPECT_EQ(admin->FormatVolume(spec, false, false).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto info = admin->AttachVolume(spec);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state(), writeboost::v1::VOLUME_STATE_SERVING);
  EXPECT_EQ(admin->AttachVolume(spec).status().code(), absl::StatusCode::kAlreadyExists);
  auto v = Open();
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(HasPattern(*v, 0, 1 << 20, 11));
}

TEST_F(NodeTest, HealthReportsVolumesAndServices) {
  StartNode({"v"});
  auto admin = Admin();
  EXPECT_TRUE(admin->Serving("").value_or(false));
  EXPECT_TRUE(admin->Serving("v").value_or(false));
  EXPECT_TRUE(admin->Serving("writeboost.v1.BlockService").value_or(false));
  EXPECT_EQ(admin->Serving("nope").status().code(), absl::StatusCode::kNotFound);
}

// Read caching, WriteZeroes and Trim as the service reports them.
TEST_F(NodeTest, StatusCountsStagedReadsCacheHitsZeroesAndTrims) {
  StartNode();
  auto admin = Admin();
  auto v = Open();
  ASSERT_NE(v, nullptr);
  ASSERT_TRUE(admin->SendMessage("v", "read_cache_threshold", "8").ok());
  std::string out(4096, 'x');
  // Blocks never written: every read misses and is staged (none sequential).
  for (int i = 0; i < 8; i++) ASSERT_TRUE(v->Read((2 * i + 100) * 65536, absl::MakeSpan(out)).ok());
  auto st = admin->GetStatus("v");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(st->read_cache().enabled());
  EXPECT_EQ(st->read_cache().threshold(), 8u);
  EXPECT_EQ(st->read_cache().staged_blocks(), 8u);
  EXPECT_EQ(st->read_cache().clean_blocks(), 8u);
  EXPECT_EQ(st->nr_dirty_cache_blocks(), 0u);
  for (int i = 0; i < 8; i++) ASSERT_TRUE(v->Read((2 * i + 100) * 65536, absl::MakeSpan(out)).ok());
  st = admin->GetStatus("v");
  EXPECT_EQ(st->read_cache().cache_hit_blocks(), 8u);

  ASSERT_TRUE(v->WriteZeroes(1 << 20, 1 << 20).ok());
  ASSERT_TRUE(v->Trim(4 << 20, 64 << 10).ok());
  st = admin->GetStatus("v");
  EXPECT_EQ(st->zero_blocks(), 256u);
  EXPECT_EQ(st->trim_blocks(), 16u);
  std::string z(1 << 20, 'x');
  ASSERT_TRUE(v->Read(1 << 20, absl::MakeSpan(z)).ok());
  EXPECT_TRUE(IsZero(z));
}

}  // namespace
}  // namespace wbtest
