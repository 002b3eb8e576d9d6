#include "server/node/volume_setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/nbd_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/format/layout.h"
#include "server/core/format/superblock.h"
#include "server/core/volume.h"
#include "server/node/log.h"

namespace wb::node {
namespace {

absl::Status OsError(const std::string& what, const std::string& path) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status SyncParentDir(const std::string& path) {
  // Constructed, not assigned: GCC 12 warns (-Wrestrict, a false positive)
  // about assigning a literal to the string here.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return OsError("cannot open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return OsError("cannot sync directory", dir);
  return absl::OkStatus();
}

absl::StatusOr<FormatOptions> MakeFormatOptions(const VolumeConfig& cfg,
                                                std::string identity) {
  FormatOptions opts;
  if (cfg.segment_size != 0) opts.segment_size = cfg.segment_size;
  opts.origin_identity = std::move(identity);
  for (const auto& [name, value] : cfg.tunables) {
    if (absl::Status s = SetTunable(&opts.tunables, name, value); !s.ok()) {
      return s;
    }
  }
  return opts;
}

// Creates cfg.cache at cfg.cache_size and formats it for origin.
absl::Status CreateCache(const VolumeConfig& cfg, const Device& origin,
                         const std::string& identity) {
  const std::string tmp = cfg.cache + ".formatting";
  ::unlink(tmp.c_str());  // a format that a crash interrupted
  FileDeviceOptions fo;
  fo.create = true;
  fo.create_size = cfg.cache_size;
  absl::StatusOr<std::unique_ptr<FileDevice>> cache = OpenExclusive(tmp, fo);
  if (!cache.ok()) return cache.status();
  absl::StatusOr<FormatOptions> opts = MakeFormatOptions(cfg, identity);
  if (!opts.ok()) return opts.status();
  Log("volume %s: formatting new cache %s (%d MiB) for origin %s", cfg.name,
      cfg.cache, cfg.cache_size >> 20, cfg.origin);
  if (absl::Status s = FormatCache(**cache, origin, *opts); !s.ok()) return s;
  cache->reset();
  if (::rename(tmp.c_str(), cfg.cache.c_str()) != 0) {
    return OsError("cannot rename to", cfg.cache);
  }
  return SyncParentDir(cfg.cache);
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileDevice>> OpenExclusive(const std::string& path,
                                                          const FileDeviceOptions& options) {
  const absl::Time give_up = absl::Now() + kInUseRetry;
  while (true) {
    absl::StatusOr<std::unique_ptr<FileDevice>> dev = FileDevice::Open(path, options);
    // kFailedPrecondition is FileDevice's "in use by another process".
    if (dev.ok() || dev.status().code() != absl::StatusCode::kFailedPrecondition ||
        absl::Now() >= give_up) {
      return dev;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::StatusOr<std::unique_ptr<Device>> OpenOrigin(const VolumeConfig& cfg) {
  if (IsNbdUri(cfg.origin)) {
    if (cfg.origin_size != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "volume ", cfg.name, ": origin_size cannot be used with the NBD origin ",
          cfg.origin, " (the server sets the export's size)"));
    }
    absl::StatusOr<std::unique_ptr<NbdDevice>> nbd = NbdDevice::Open(cfg.origin);
    if (!nbd.ok()) return nbd.status();
    return std::unique_ptr<Device>(*std::move(nbd));
  }
  FileDeviceOptions oo;
  if (cfg.origin_size != 0) {
    oo.create = true;
    oo.create_size = cfg.origin_size;
  }
  absl::StatusOr<std::unique_ptr<FileDevice>> file = OpenExclusive(cfg.origin, oo);
  if (!file.ok()) return file.status();
  return std::unique_ptr<Device>(*std::move(file));
}

absl::StatusOr<VolumeDevices> OpenVolumeDevices(const VolumeConfig& cfg) {
  VolumeDevices d;
  absl::StatusOr<std::unique_ptr<Device>> origin = OpenOrigin(cfg);
  if (!origin.ok()) return origin.status();
  d.origin = *std::move(origin);

  struct stat st;
  bool cache_missing = ::stat(cfg.cache.c_str(), &st) != 0 && errno == ENOENT;
  if (cache_missing && cfg.cache_size != 0) {
    // A new cache: the origin gets its identity now if it has none.
    absl::StatusOr<std::string> identity =
        OriginIdentity(cfg.origin, /*create_if_missing=*/true);
    if (!identity.ok()) return identity.status();
    if (absl::Status s = CreateCache(cfg, *d.origin, *identity); !s.ok()) return s;
  }
  // The cache first: a missing or busy cache is the better message.
  absl::StatusOr<std::unique_ptr<FileDevice>> cache = OpenExclusive(cfg.cache);
  if (!cache.ok()) return cache.status();
  d.cache = *std::move(cache);
  // An existing origin must have its identity already.
  absl::StatusOr<std::string> identity =
      OriginIdentity(cfg.origin, /*create_if_missing=*/false);
  if (absl::IsNotFound(identity.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        identity.status().message(), ": no writeboost cache was ever formatted for this "
        "origin; format one first (FormatVolume)"));
  }
  if (!identity.ok()) return identity.status();
  d.origin_identity = *identity;
  return d;
}

absl::Status FormatVolumeDevices(const VolumeConfig& cfg, bool force) {
  VolumeConfig existing = cfg;
  existing.origin_size = 0;  // Format never creates the origin.
  absl::StatusOr<std::unique_ptr<Device>> origin = OpenOrigin(existing);
  if (!origin.ok()) return origin.status();
  absl::StatusOr<std::unique_ptr<FileDevice>> cache = OpenExclusive(cfg.cache);
  if (!cache.ok()) return cache.status();
  if (!force) {
    AlignedBuffer block(kBlockSize);
    if (absl::Status s = (*cache)->Read(0, block.data(), kBlockSize); !s.ok()) {
      return s;
    }
    absl::StatusOr<Superblock> sb = Superblock::Decode(block.data());
    // Any superblock, even one that fails its checksum, may front dirty data.
    if (sb.ok() || sb.status().code() == absl::StatusCode::kDataLoss) {
      return absl::FailedPreconditionError(absl::StrCat(
          cfg.cache, " already holds a writeboost cache set; formatting "
          "would discard its dirty data (drain it first, or force)"));
    }
  }
  absl::StatusOr<std::string> identity =
      OriginIdentity(cfg.origin, /*create_if_missing=*/true);
  if (!identity.ok()) return identity.status();
  absl::StatusOr<FormatOptions> opts = MakeFormatOptions(cfg, *identity);
  if (!opts.ok()) return opts.status();
  Log("volume %s: formatting cache %s for origin %s", cfg.name, cfg.cache, cfg.origin);
  return FormatCache(**cache, **origin, *opts);
}

}  // namespace wb::node
