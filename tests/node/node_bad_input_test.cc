// Every kind of bad input gets its exact status code, and none of it
// disturbs another client or loses data.
#include <atomic>
#include <thread>

#include "client/lib/channel.h"
#include "tests/node/node_fixture.h"

namespace wbtest {
namespace {

using absl::StatusCode;

TEST_F(NodeTest, BadInputGetsExactCodesAndDisturbsNoOne) {
  StartNode();
  auto bystander = Open();
  auto v = Open();
  ASSERT_NE(v, nullptr);
  ASSERT_NE(bystander, nullptr);
  const uint64_t size = v->size();

  // A well-behaved client writes and checks its data all along.
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0}, failures{0};
  std::thread good([&] {
    for (uint64_t i = 0; !stop; i++) {
      uint64_t off = (128 << 20) + (i % 256) * 65536;  // away from the rest
      if (!WritePattern(*bystander, off, 65536, 1000 + i).ok() ||
          !HasPattern(*bystander, off, 65536, 1000 + i)) {
        failures++;
      }
      rounds++;
    }
  });

  std::string buf(8192, 'b');
  std::string out(8192, '\0');
  auto code = [](absl::Status s) { return s.code(); };
  // Alignment and zero length: INVALID_ARGUMENT.
  EXPECT_EQ(code(v->Read(1, absl::MakeSpan(out).subspan(0, 512))), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->Read(0, absl::MakeSpan(out).subspan(0, 100))), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->Read(0, absl::Span<char>())), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->Write(256, buf, false)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->Write(0, absl::MakeSpan(buf).subspan(0, 1000), false)),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->Write(0, absl::Span<const char>(), false)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->Trim(0, 0)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->Trim(100, 512)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->WriteZeroes(0, 0)), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(v->WriteZeroes(0, 513)), StatusCode::kInvalidArgument);

  // Out of range: OUT_OF_RANGE, including offsets that would overflow.
  EXPECT_EQ(code(v->Read(size, absl::MakeSpan(out).subspan(0, 512))), StatusCode::kOutOfRange);
  EXPECT_EQ(code(v->Read(size - 512, absl::MakeSpan(out))), StatusCode::kOutOfRange);
  EXPECT_EQ(code(v->Write(size - 4096, buf, true)), StatusCode::kOutOfRange);
  EXPECT_EQ(code(v->Write(~uint64_t{511}, buf, false)), StatusCode::kOutOfRange);
  EXPECT_EQ(code(v->Trim(size - 512, 1024)), StatusCode::kOutOfRange);
  EXPECT_EQ(code(v->WriteZeroes(size, 512)), StatusCode::kOutOfRange);

  // Payload over the maximum (4 MiB): RESOURCE_EXHAUSTED, whether the
  // server's check or gRPC's message limit catches it.
  std::string big((4 << 20) + 512, 'x');
  EXPECT_EQ(code(v->Write(0, big, false)), StatusCode::kResourceExhausted);
  std::string huge(16 << 20, 'x');
  EXPECT_EQ(code(v->Write(0, huge, false)), StatusCode::kResourceExhausted);
  EXPECT_EQ(code(v->Read(0, absl::MakeSpan(big))), StatusCode::kResourceExhausted);
  // Exactly the maximum is fine; Trim and WriteZeroes have no cap.
  std::string max(4 << 20, 'm');
  EXPECT_TRUE(v->Write(32 << 20, max, false).ok());
  EXPECT_TRUE(v->Read(32 << 20, absl::MakeSpan(max)).ok());
  EXPECT_TRUE(v->WriteZeroes(32 << 20, 24 << 20).ok());
  EXPECT_TRUE(v->Trim(0, 128 << 20).ok()) << "mkfs discards whole devices";

  // Unknown volume: NOT_FOUND, both at open and on a raw call.
  auto missing = wbclient::Volume::Open(endpoint_, "no-such-volume");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  // The same over the Io stream, each in its own reply.
  auto s = v->OpenStream(16);
  ASSERT_TRUE(s.ok());
  std::vector<StatusCode> got(6, StatusCode::kUnknown);
  auto rec = [&](int i) { return [&got, i](absl::Status st) { got[i] = st.code(); }; };
  (*s)->Read(7, absl::MakeSpan(out).subspan(0, 512), rec(0));
  (*s)->Write(size, buf, false, rec(1));
  (*s)->Read(0, absl::MakeSpan(big), rec(2));
  (*s)->Trim(0, 0, rec(3));
  (*s)->WriteZeroes(0, 16 << 20, false, rec(4));
  (*s)->Flush(rec(5));
  ASSERT_TRUE((*s)->Close().ok());
  EXPECT_EQ(got[0], StatusCode::kInvalidArgument);
  EXPECT_EQ(got[1], StatusCode::kOutOfRange);
  EXPECT_EQ(got[2], StatusCode::kResourceExhausted);
  EXPECT_EQ(got[3], StatusCode::kInvalidArgument);
  EXPECT_EQ(got[4], StatusCode::kOk) << "write-zeroes has no cap";
  EXPECT_EQ(got[5], StatusCode::kOk);

  // An Io stream to an unknown volume ends with NOT_FOUND.
  auto channel = wbclient::MakeChannel(endpoint_, {});
  ASSERT_TRUE(channel.ok());
  auto ghost = wbclient::IoStream::Open(*channel, "no-such-volume", {});
  ASSERT_TRUE(ghost.ok());
  absl::Status ghost_read;
  (*ghost)->Read(0, absl::MakeSpan(out).subspan(0, 512),
                 [&](absl::Status st) { ghost_read = st; });
  (*ghost)->Drain();
  EXPECT_EQ(ghost_read.code(), StatusCode::kNotFound) << ghost_read;
  EXPECT_EQ((*ghost)->Close().code(), StatusCode::kNotFound);

  stop = true;
  good.join();
  EXPECT_GT(rounds.load(), 0);
  EXPECT_EQ(failures.load(), 0) << "bad input disturbed another client";
}

}  // namespace
}  // namespace wbtest
