#include "server/common/listen_address.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace wb::common {

bool IsLocalAddress(absl::string_view listen) {
  if (absl::StartsWith(listen, "unix:") || absl::StartsWith(listen, "unix-abstract:")) {
    return true;
  }
  absl::ConsumePrefix(&listen, "ipv4:");
  absl::ConsumePrefix(&listen, "ipv6:");
  absl::string_view host;
  if (absl::ConsumePrefix(&listen, "[")) {
    host = listen.substr(0, listen.find(']'));
  } else {
    size_t colon = listen.rfind(':');
    host = colon == absl::string_view::npos ? listen : listen.substr(0, colon);
  }
  if (host == "localhost" || host == "::1") return true;
  std::vector<absl::string_view> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4 || octets[0] != "127") return false;
  for (absl::string_view o : octets) {
    int n;
    if (!absl::SimpleAtoi(o, &n) || n < 0 || n > 255) return false;
  }
  return true;
}

std::string BoundAddress(const std::string& addr, int port) {
  if (absl::StartsWith(addr, "unix")) return addr;
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return addr;
  return absl::StrCat(addr.substr(0, colon + 1), port);
}

}  // namespace wb::common
