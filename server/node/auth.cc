#include "server/node/auth.h"

#include <fstream>
#include <sstream>

#include <grpcpp/server_context.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace wb::node {

const char* AccessName(Access a) {
  switch (a) {
    case Access::kRead: return "read-only";
    case Access::kWrite: return "read-write";
    case Access::kAdmin: return "admin";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<std::unique_ptr<Authorizer>> a = Parse(ss.str());
  if (!a.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", a.status().message()));
  }
  return a;
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Parse(absl::string_view text) {
  auto a = std::make_unique<Authorizer>();
  a->enabled_ = true;
  int lineno = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    lineno++;
    line = line.substr(0, line.find('#'));
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (f.empty()) continue;
    if (f.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", lineno, ": want \"TOKEN ro|rw|admin VOLUME[,VOLUME...]|*\""));
    }
    Grant g;
    if (f[1] == "ro") {
      g.access = Access::kRead;
    } else if (f[1] == "rw") {
      g.access = Access::kWrite;
    } else if (f[1] == "admin") {
      g.access = Access::kAdmin;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", lineno, ": access \"", f[1], "\" is not ro, rw or admin"));
    }
    g.volumes = absl::StrSplit(f[2], ',', absl::SkipEmpty());
    a->tokens_[std::string(f[0])].push_back(std::move(g));
  }
  return a;
}

absl::StatusOr<Access> Authorizer::GrantFor(absl::string_view authorization,
                                            absl::string_view volume) const {
  if (!enabled_) return Access::kAdmin;
  absl::string_view v = absl::StripAsciiWhitespace(authorization);
  if (v.empty()) {
    return absl::UnauthenticatedError(
        "this server requires a bearer token (authorization: Bearer TOKEN)");
  }
  if (v.size() < 7 || !absl::EqualsIgnoreCase(v.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError("the authorization is not \"Bearer TOKEN\"");
  }
  absl::string_view token = absl::StripAsciiWhitespace(v.substr(7));
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return absl::UnauthenticatedError("unknown token");
  bool found = false;
  Access best = Access::kRead;
  for (const Grant& g : it->second) {
    for (const std::string& name : g.volumes) {
      if (name != "*" && name != volume) continue;
      if (!found || g.access > best) best = g.access;
      found = true;
    }
  }
  if (!found) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token grants no access to volume \"", volume, "\""));
  }
  return best;
}

absl::Status Authorizer::Check(absl::string_view authorization,
                               absl::string_view volume, Access need) const {
  absl::StatusOr<Access> a = GrantFor(authorization, volume);
  if (!a.ok()) return a.status();
  if (*a < need) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the token grants ", AccessName(*a), " access to volume \"", volume,
        "\"; this needs ", AccessName(need)));
  }
  return absl::OkStatus();
}

std::string AuthorizationOf(const grpc::ServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace wb::node
