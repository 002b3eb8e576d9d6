#include "server/node/auth.h"

#include <gtest/gtest.h>

namespace wb::node {
namespace {

TEST(AuthTest, GrantsByTokenAndVolume) {
  auto a = Authorizer::Parse(
      "# comment\n"
      "tok-a rw a,b   # trailing comment\n"
      "tok-a ro c\n"
      "tok-r ro *\n"
      "tok-x admin *\n");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*(*a)->GrantFor("Bearer tok-a", "a"), Access::kWrite);
  EXPECT_EQ(*(*a)->GrantFor("bearer tok-a", "c"), Access::kRead);
  EXPECT_EQ((*a)->GrantFor("Bearer tok-a", "d").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(*(*a)->GrantFor("Bearer tok-r", "anything"), Access::kRead);
  EXPECT_EQ(*(*a)->GrantFor("Bearer  tok-x ", "z"), Access::kAdmin);
  EXPECT_EQ((*a)->GrantFor("", "a").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*a)->GrantFor("Basic dXNlcg==", "a").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*a)->GrantFor("Bearer nope", "a").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*a)->Check("Bearer tok-a", "a", Access::kWrite).ok());
  EXPECT_EQ((*a)->Check("Bearer tok-a", "c", Access::kWrite).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ((*a)->Check("Bearer tok-a", "a", Access::kAdmin).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthTest, WithoutAFileEverythingIsAllowed) {
  Authorizer open;
  EXPECT_FALSE(open.enabled());
  EXPECT_EQ(*open.GrantFor("", "x"), Access::kAdmin);
}

TEST(AuthTest, BadLinesAreRefusedWithTheirNumber) {
  auto a = Authorizer::Parse("tok rw a\ntok rwx a\n");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("line 2"), std::string::npos);
  EXPECT_FALSE(Authorizer::Parse("tok rw\n").ok());
}

}  // namespace
}  // namespace wb::node
