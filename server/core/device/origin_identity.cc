// OriginIdentity: xattr UUIDs for files, sysfs ids for block devices.
#include "server/core/device/origin_identity.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/core/device/nbd_device.h"

namespace wb {
namespace {

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = absl::StrFormat("%s: %s", what, std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

absl::Status NoXattrs(const std::string& path) {
  return absl::FailedPreconditionError(absl::StrFormat(
      "%s: the filesystem does not support extended attributes, so the origin "
      "file cannot be given a stable identity (%s); put it on a filesystem "
      "with user xattrs (ext4, xfs, btrfs, tmpfs) or use a block device",
      path, kOriginUuidXattr));
}

std::string NewUuidV4() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    const ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
    // getrandom fails only with EINTR (retry) or on kernels before 3.17.
    else if (errno != EINTR)
      std::abort();
  }
  b[6] = (b[6] & 0x0f) | 0x40;  // Version 4.
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant.
  return absl::StrFormat(
      "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
      b[12], b[13], b[14], b[15]);
}

bool IsUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> FileIdentity(const std::string& path,
                                         bool create_if_missing) {
  // Twice at most: a racing creator may win between our get and set.
  for (int attempt = 0; attempt < 2; ++attempt) {
    char buf[64];
    const ssize_t n = getxattr(path.c_str(), kOriginUuidXattr, buf, sizeof buf);
    if (n >= 0 || errno == ERANGE) {
      std::string value(buf, n >= 0 ? static_cast<size_t>(n) : 0);
      if (!IsUuid(value)) {
        return absl::FailedPreconditionError(
            absl::StrFormat("%s: extended attribute %s does not hold a UUID",
                            path, kOriginUuidXattr));
      }
      return absl::StrCat("uuid:", value);
    }
    if (errno == ENOTSUP) return NoXattrs(path);
    if (errno != ENODATA) return ErrnoStatus(errno, path);
    if (!create_if_missing) {
      return absl::NotFoundError(absl::StrFormat(
          "%s has no origin identity yet (extended attribute %s)", path,
          kOriginUuidXattr));
    }
    const std::string uuid = NewUuidV4();
    if (setxattr(path.c_str(), kOriginUuidXattr, uuid.data(), uuid.size(),
                 XATTR_CREATE) == 0) {
      return absl::StrCat("uuid:", uuid);
    }
    if (errno == ENOTSUP) return NoXattrs(path);
    if (errno != EEXIST) return ErrnoStatus(errno, path);
  }
  return absl::UnavailableError(
      absl::StrFormat("%s: %s keeps changing", path, kOriginUuidXattr));
}

// The first line of a sysfs attribute, trimmed; unless raw, other
// unprintable bytes and blanks become '_' so that the identity is one
// token. nullopt when absent or empty.
std::optional<std::string> ReadSysfs(const std::string& file,
                                     bool raw = false) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  std::string v(absl::StripAsciiWhitespace(line));
  if (v.empty()) return std::nullopt;
  if (raw) return v;
  std::string out;
  for (char c : v) {
    const unsigned char u = static_cast<unsigned char>(c);
    out.push_back(std::isgraph(u) ? c : '_');
  }
  return out;
}

// An identity from the disk's own attributes; nullopt if it has none.
// wwid before serial, and the block device's own attributes before its
// parent's: an NVMe namespace has its own wwid while device/serial names
// the controller, which several namespaces share.
std::optional<std::string> HardwareId(const std::string& sysdir) {
  for (const char* rel : {"wwid", "device/wwid"}) {
    if (auto v = ReadSysfs(sysdir + "/" + rel)) return "wwid:" + *v;
  }
  for (const char* rel : {"serial", "device/serial"}) {
    if (auto v = ReadSysfs(sysdir + "/" + rel)) return "serial:" + *v;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> BlockIdentity(const std::string& path, dev_t rdev,
                                          bool create_if_missing) {
  const unsigned maj = major(rdev);
  const unsigned min = minor(rdev);
  const std::string sysdir = absl::StrFormat("/sys/dev/block/%u:%u", maj, min);

  // A partition shares its disk's attributes; tell partitions apart.
  std::string disk = sysdir;
  std::string suffix;
  if (auto part = ReadSysfs(sysdir + "/partition")) {
    disk = sysdir + "/..";
    suffix = ":part" + *part;
  }
  if (auto id = HardwareId(disk)) return *id + suffix;

  if (auto backing = ReadSysfs(disk + "/loop/backing_file", /*raw=*/true)) {
    if (absl::EndsWith(*backing, " (deleted)")) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: the loop device's backing file was deleted", path));
    }
    // The backing file's identity, recursively (it may be a block device).
    absl::StatusOr<std::string> inner =
        OriginIdentity(*backing, create_if_missing);
    if (!inner.ok()) return inner.status();
    const std::string offset = ReadSysfs(disk + "/loop/offset").value_or("0");
    return absl::StrCat("loop:", *inner, ":", offset, suffix);
  }

  // Weak: the device number can change across reboots and hot-plug, and two
  // disks of one size can swap numbers. It only catches gross mistakes.
  const std::string sectors = ReadSysfs(sysdir + "/size").value_or("0");
  const uint64_t bytes = std::strtoull(sectors.c_str(), nullptr, 10) * 512;
  return absl::StrFormat("devt-size:%u:%u:%d", maj, min, bytes);
}

// Keeps an identity within kMaxOriginIdentityLength: a readable prefix and a
// 64-bit FNV-1a hash of the whole, so distinct long ids stay distinct.
std::string Shorten(std::string id) {
  if (id.size() <= kMaxOriginIdentityLength) return id;
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  const std::string tail = absl::StrFormat("~%016x", h);
  id.resize(kMaxOriginIdentityLength - tail.size());
  return id + tail;
}

}  // namespace

absl::StatusOr<std::string> OriginIdentity(const std::string& path,
                                           bool create_if_missing) {
  // A location, not a disk: nothing on the server can be asked for more.
  if (IsNbdUri(path)) return Shorten(absl::StrCat("nbd:", NormalizeNbdUri(path)));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, path);
  absl::StatusOr<std::string> id;
  if (S_ISREG(st.st_mode)) {
    id = FileIdentity(path, create_if_missing);
  } else if (S_ISBLK(st.st_mode)) {
    id = BlockIdentity(path, st.st_rdev, create_if_missing);
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is neither a regular file nor a block device", path));
  }
  if (!id.ok()) return id;
  return Shorten(*std::move(id));
}

}  // namespace wb
