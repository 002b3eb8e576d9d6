// What survives the daemon's death: FUA'd and Flushed writes across SIGKILL,
// and every acknowledged write across a clean SIGTERM restart.
#include <atomic>

#include "tests/node/node_fixture.h"

namespace wbtest {
namespace {

constexpr uint64_t kChunk = 64 << 10;
// A lone sector in the middle of a block nobody else writes.
constexpr uint64_t kSector7 = (200 << 20) + 7 * 512;

// Every sector of [offset, +length) holds either pattern `seed` or zeroes
// (a write not covered by FUA or Flush may be lost, but only whole sectors).
::testing::AssertionResult SectorsNewOrOld(wbclient::Volume& v, uint64_t offset,
                                           uint64_t length, uint64_t seed) {
  std::string buf(length, '\0');
  if (absl::Status s = v.Read(offset, absl::MakeSpan(buf)); !s.ok()) {
    return ::testing::AssertionFailure() << s;
  }
  for (uint64_t i = 0; i < length; i += 512) {
    std::string sector = buf.substr(i, 512);
    if (!IsZero(sector) && !CheckPattern(sector.data(), 512, offset + i, seed)) {
      return ::testing::AssertionFailure() << "torn or foreign sector at " << offset + i;
    }
  }
  return ::testing::AssertionSuccess();
}

TEST_F(NodeTest, FuaAndFlushedWritesSurviveSigkill) {
  StartNode();
  {
    auto v = Open();
    ASSERT_NE(v, nullptr);
    // A: FUA writes, unary and on a stream.
    for (int i = 0; i < 16; i++) {
      ASSERT_TRUE(WritePattern(*v, i * kChunk, kChunk, 1, /*fua=*/true).ok());
    }
    auto s = v->OpenStream(16);
    ASSERT_TRUE(s.ok());
    std::vector<std::string> bufs(16, std::string(kChunk, '\0'));
    std::atomic<int> ok{0};
    for (int i = 0; i < 16; i++) {
      uint64_t off = (16 + i) * kChunk;
      FillPattern(bufs[i].data(), kChunk, off, 1);
      (*s)->Write(off, bufs[i], /*fua=*/true, [&](absl::Status st) { ok += st.ok(); });
    }
    ASSERT_TRUE((*s)->Close().ok());
    ASSERT_EQ(ok.load(), 16);
    // B: plain writes, then a Flush on another connection.
    for (int i = 0; i < 32; i++) {
      ASSERT_TRUE(WritePattern(*v, (64 + i) * kChunk, kChunk, 2).ok());
    }
    auto other = Open();
    ASSERT_TRUE(other->Flush().ok());
    // C: plain writes nobody flushed; they may be lost.
    for (int i = 0; i < 32; i++) {
      ASSERT_TRUE(WritePattern(*v, (128 + i) * kChunk, kChunk, 3).ok());
    }
  }
  daemon_.Kill();
  Restart();
  auto v = Open();
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(HasPattern(*v, 0, 32 * kChunk, 1)) << "FUA writes lost";
  EXPECT_TRUE(HasPattern(*v, 64 * kChunk, 32 * kChunk, 2)) << "flushed writes lost";
  EXPECT_TRUE(SectorsNewOrOld(*v, 128 * kChunk, 32 * kChunk, 3));
  auto st = Admin()->GetStatus("v");
  ASSERT_TRUE(st.ok());
  EXPECT_GE(st->generation(), 2u) << "the cache was reopened, not reformatted";
}

TEST_F(NodeTest, CleanSigtermRestartKeepsUnflushedAcknowledgedWrites) {
  StartNode();
  {
    auto v = Open();
    ASSERT_NE(v, nullptr);
    // Small, unflushed writes: they sit in the RAM buffer at SIGTERM.
    for (int i = 0; i < 200; i++) {
      ASSERT_TRUE(WritePattern(*v, uint64_t(i) * 40960, 4096, 5).ok());
    }
    auto s = v->OpenStream(8);
    ASSERT_TRUE(s.ok());
    std::string buf(512, '\0');
    FillPattern(buf.data(), 512, kSector7, 6);
    absl::Status last;
    (*s)->Write(kSector7, buf, false, [&](absl::Status st) { last = st; });
    ASSERT_TRUE((*s)->Close().ok());
    ASSERT_TRUE(last.ok());
  }
  EXPECT_EQ(daemon_.Term(), 0) << daemon_.Log();
  EXPECT_NE(daemon_.Log().find("stopped cleanly"), std::string::npos);
  Restart();
  auto v = Open();
  ASSERT_NE(v, nullptr);
  for (int i = 0; i < 200; i++) {
    ASSERT_TRUE(HasPattern(*v, uint64_t(i) * 40960, 4096, 5)) << i;
  }
  EXPECT_TRUE(HasPattern(*v, kSector7, 512, 6));
}

TEST_F(NodeTest, ClientStreamSurvivesServerRestartForReads) {
  StartNode();
  auto v = Open();
  ASSERT_NE(v, nullptr);
  ASSERT_TRUE(WritePattern(*v, 0, kChunk, 8, /*fua=*/true).ok());
  auto s = v->OpenStream(4);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(daemon_.Term(), 0);
  Restart();
  // The stream broke under the client; reads are retried on a new stream.
  std::string buf(kChunk, '\0');
  absl::Status st;
  (*s)->Read(0, absl::MakeSpan(buf), [&](absl::Status r) { st = r; });
  (*s)->Drain();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(CheckPattern(buf.data(), kChunk, 0, 8));
  // So are unary reads.
  EXPECT_TRUE(HasPattern(*v, 0, kChunk, 8));
}

}  // namespace
}  // namespace wbtest
