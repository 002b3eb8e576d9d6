#include "server/node/path_policy.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/node/config.h"

namespace wb::node {
namespace {

// Entries looked at per root when searching for a device node: /dev holds
// a few thousand; a bound keeps a huge data directory from stalling a call.
constexpr int kMaxScan = 100000;

std::string RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> r(::realpath(path.c_str(), nullptr),
                                               &std::free);
  return r == nullptr ? std::string() : std::string(r.get());
}

absl::Status OpenError(int err, const std::string& path) {
  std::string m = absl::StrCat(path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR: return absl::NotFoundError(m);
    case EACCES:
    case EPERM: return absl::PermissionDeniedError(m);
    default: return absl::UnavailableError(m);
  }
}

absl::Status Outside(const std::string& path) {
  return absl::PermissionDeniedError(absl::StrCat(
      path, " is outside the paths this node allows (its data directory and "
      "--allow-path)"));
}

// %XX decoding of one URI query component.
std::string PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    int value;
    if (s[i] == '%' && i + 2 < s.size() &&
        absl::SimpleHexAtoi(s.substr(i + 1, 2), &value)) {
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

ConfinedFile::~ConfinedFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ConfinedFile::proc_path() const { return absl::StrCat("/proc/self/fd/", fd_); }

bool PathPolicy::UnderRoot(const std::string& real) const {
  for (const std::string& root : roots_) {
    const std::string r = RealPath(root);
    if (r.empty()) continue;
    if (r == "/" || real == r || absl::StartsWith(real, r + "/")) return true;
  }
  return false;
}

bool PathPolicy::DeviceUnderRoot(unsigned long rdev) const {
  namespace fs = std::filesystem;
  auto matches = [rdev](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == rdev;
  };
  for (const std::string& root : roots_) {
    const std::string r = RealPath(root);
    if (r.empty()) continue;
    if (matches(r)) return true;
    std::error_code ec;
    // Symlinks to directories are not descended into; symlinks to devices
    // (/dev/disk/by-id/...) are followed by matches().
    fs::recursive_directory_iterator it(r, fs::directory_options::skip_permission_denied, ec);
    int seen = 0;
    for (; !ec && it != fs::recursive_directory_iterator() && seen < kMaxScan;
         it.increment(ec), seen++) {
      if (matches(it->path().string())) return true;
    }
  }
  return false;
}

absl::StatusOr<ConfinedFile> PathPolicy::Open(const std::string& path) const {
  const int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) return OpenError(errno, path);
  ConfinedFile file(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return OpenError(errno, path);
  if (S_ISBLK(st.st_mode)) {
    if (!DeviceUnderRoot(st.st_rdev)) return Outside(path);
    return file;
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is neither a regular file nor a block device"));
  }
  // Where the descriptor's file lives, whatever name reached it.
  char real[PATH_MAX];
  const ssize_t n = ::readlink(file.proc_path().c_str(), real, sizeof(real) - 1);
  if (n <= 0) return OpenError(errno, path);
  real[n] = '\0';
  // The kernel's name must still lead to this very file (not one deleted,
  // or one of another mount namespace, whose name means something else).
  struct stat again;
  if (::stat(real, &again) != 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino ||
      !UnderRoot(real)) {
    return Outside(path);
  }
  return file;
}

absl::Status PathPolicy::CheckNbdUri(absl::string_view uri) const {
  bool allowed = false;
  for (const std::string& p : nbd_prefixes_) allowed |= absl::StartsWith(uri, p);
  if (!allowed) {
    return absl::PermissionDeniedError(absl::StrCat(
        "NBD origin ", QuoteBounded(uri, 256),
        " does not start with a prefix this node allows (--allow-nbd)"));
  }
  const size_t q = uri.find('?');
  if (q == absl::string_view::npos) return absl::OkStatus();
  absl::string_view query = uri.substr(q + 1);
  query = query.substr(0, query.find('#'));
  for (absl::string_view param : absl::StrSplit(query, absl::ByAnyChar("&;"), absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(param, absl::MaxSplits('=', 1));
    const std::string key = PercentDecode(kv.first);
    if (key == "tls-verify-peer" || key == "tls-username" || key == "tls-hostname") continue;
    if (key != "socket" && key != "tls-certificates" && key != "tls-psk-file") {
      return absl::PermissionDeniedError(absl::StrCat(
          "NBD origin: query parameter ", QuoteBounded(key), " is not allowed"));
    }
    // libnbd opens these by name itself; the name is all there is to check.
    const std::string file = PercentDecode(kv.second);
    const std::string real = RealPath(file);
    if (real.empty() || !UnderRoot(real)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "NBD origin: ", key, "=", QuoteBounded(file, 256),
          " is not a path under the paths this node allows (its data "
          "directory and --allow-path)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace wb::node
