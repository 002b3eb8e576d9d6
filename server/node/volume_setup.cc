#include "server/node/volume_setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "server/core/device/aligned_io.h"
#include "server/core/device/nbd_device.h"
#include "server/core/device/origin_identity.h"
#include "server/core/format/layout.h"
#include "server/core/format/superblock.h"
#include "server/core/util/coding.h"
#include "server/core/assemble_cache_set.h"
#include "server/core/format_cache_set.h"
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

// The message of s with every `from` replaced by `to`: errors of a device
// opened through /proc/self/fd/N name the path the client gave.
absl::Status Renamed(const absl::Status& s, const std::string& from, const std::string& to) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrReplaceAll(s.message(), {{from, to}}));
}

// A device opened through a checked descriptor (PathPolicy::Open): keeps
// that descriptor, so that its /proc/self/fd name stays valid, and bears
// the name the client gave.
class CheckedDevice final : public Device {
 public:
  CheckedDevice(std::unique_ptr<Device> inner, ConfinedFile file, std::string name)
      : inner_(std::move(inner)), file_(std::move(file)), name_(std::move(name)) {}

  uint64_t size() const override { return inner_->size(); }
  uint32_t logical_block_size() const override { return inner_->logical_block_size(); }
  std::string name() const override { return name_; }
  bool supports_discard() const override { return inner_->supports_discard(); }
  bool discard_zeroes() const override { return inner_->discard_zeroes(); }
  void Submit(const IoRequest& req, IoCallback done) override {
    inner_->Submit(req, std::move(done));
  }

 private:
  const std::unique_ptr<Device> inner_;
  const ConfinedFile file_;
  const std::string name_;
};

// OpenExclusive(path), or with a policy: only what it allows, opened
// through the descriptor it checked. *stable_path (when not null) is set to
// a name of the opened file that stays valid while the device lives.
absl::StatusOr<std::unique_ptr<Device>> OpenChecked(const std::string& path,
                                                    const PathPolicy* policy,
                                                    std::string* stable_path = nullptr) {
  if (policy == nullptr) {
    absl::StatusOr<std::unique_ptr<FileDevice>> dev = OpenExclusive(path);
    if (!dev.ok()) return dev.status();
    if (stable_path != nullptr) *stable_path = path;
    return std::unique_ptr<Device>(*std::move(dev));
  }
  absl::StatusOr<ConfinedFile> file = policy->Open(path);
  if (!file.ok()) return file.status();
  const std::string proc = file->proc_path();
  absl::StatusOr<std::unique_ptr<FileDevice>> dev = OpenExclusive(proc);
  if (!dev.ok()) return Renamed(dev.status(), proc, path);
  if (stable_path != nullptr) *stable_path = proc;
  return std::unique_ptr<Device>(
      std::make_unique<CheckedDevice>(*std::move(dev), *std::move(file), path));
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

// Creates every cache device of cfg at cfg.cache_size and formats them
// together for origin (one device: a plain cache). Each is written under a
// temporary name and renamed when the format is done, so a crash leaves no
// half-formatted device under the real name.
absl::Status CreateCaches(const VolumeConfig& cfg, const Device& origin,
                          const std::string& identity) {
  const std::vector<std::string> paths = CachePaths(cfg);
  std::vector<std::unique_ptr<FileDevice>> files;
  std::vector<Device*> members;
  for (const std::string& path : paths) {
    const std::string tmp = path + ".formatting";
    ::unlink(tmp.c_str());  // a format that a crash interrupted
    FileDeviceOptions fo;
    fo.create = true;
    fo.create_size = cfg.cache_size;
    absl::StatusOr<std::unique_ptr<FileDevice>> f = OpenExclusive(tmp, fo);
    if (!f.ok()) return f.status();
    members.push_back(f->get());
    files.push_back(*std::move(f));
  }
  absl::StatusOr<FormatOptions> opts = MakeFormatOptions(cfg, identity);
  if (!opts.ok()) return opts.status();
  Log("volume %s: formatting a new %s cache of %d device(s) (%d MiB each) "
      "for origin %s: %s",
      cfg.name, LayoutName(cfg.cache_layout), paths.size(),
      cfg.cache_size >> 20, cfg.origin, absl::StrJoin(paths, ", "));
  if (absl::Status s =
          FormatCacheSet(members, cfg.cache_layout, origin, *opts);
      !s.ok()) {
    return s;
  }
  files.clear();
  for (const std::string& path : paths) {
    const std::string tmp = path + ".formatting";
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      return OsError("cannot rename to", path);
    }
    if (absl::Status s = SyncParentDir(path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

bool Missing(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
}

// Opens cfg's cache devices: one FileDevice, or a CacheSet of several.
absl::Status OpenCaches(const VolumeConfig& cfg, const PathPolicy* policy,
                        VolumeDevices* d) {
  const std::vector<std::string> paths = CachePaths(cfg);
  if (paths.size() == 1 && cfg.cache_layout == kLayoutSingle) {
    absl::StatusOr<std::unique_ptr<Device>> cache = OpenChecked(cfg.cache, policy);
    if (!cache.ok()) return cache.status();
    d->cache = *std::move(cache);
    return absl::OkStatus();
  }
  std::vector<std::unique_ptr<Device>> members;
  for (const std::string& path : paths) {
    absl::StatusOr<std::unique_ptr<Device>> dev = OpenChecked(path, policy);
    if (!dev.ok()) return dev.status();
    members.push_back(*std::move(dev));
  }
  absl::StatusOr<std::unique_ptr<CacheSet>> set =
      AssembleCacheSet(std::move(members));
  if (!set.ok()) {
    return absl::Status(set.status().code(),
                        absl::StrCat("volume ", cfg.name, ": ",
                                     set.status().message()));
  }
  if ((*set)->layout() != cfg.cache_layout) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", cfg.name, ": cache_layout=",
        LayoutName(cfg.cache_layout), " but its cache devices hold a ",
        LayoutName((*set)->layout()), " set"));
  }
  CacheSetStatus st = (*set)->GetStatus();
  for (const CacheMemberStatus& m : st.members) {
    if (m.health == MemberHealth::kInSync) continue;
    Log("volume %s: cache device %u (%s) is %s; the %s set is degraded "
        "(membership generation %u)",
        cfg.name, m.index, m.name.empty() ? "not given" : m.name,
        MemberHealthName(m.health), LayoutName(st.layout), st.generation);
  }
  d->cache_set = set->get();
  d->cache = *std::move(set);
  return absl::OkStatus();
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

absl::StatusOr<std::unique_ptr<Device>> OpenOrigin(const VolumeConfig& cfg,
                                                   const PathPolicy* policy,
                                                   std::string* identity_path) {
  if (IsNbdUri(cfg.origin)) {
    if (cfg.origin_size != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "volume ", cfg.name, ": origin_size cannot be used with the NBD origin ",
          cfg.origin, " (the server sets the export's size)"));
    }
    if (policy != nullptr) {
      if (absl::Status s = policy->CheckNbdUri(cfg.origin); !s.ok()) return s;
    }
    absl::StatusOr<std::unique_ptr<NbdDevice>> nbd = NbdDevice::Open(cfg.origin);
    if (!nbd.ok()) return nbd.status();
    if (identity_path != nullptr) *identity_path = cfg.origin;
    return std::unique_ptr<Device>(*std::move(nbd));
  }
  if (policy != nullptr) return OpenChecked(cfg.origin, policy, identity_path);
  FileDeviceOptions oo;
  if (cfg.origin_size != 0) {
    oo.create = true;
    oo.create_size = cfg.origin_size;
  }
  absl::StatusOr<std::unique_ptr<FileDevice>> file = OpenExclusive(cfg.origin, oo);
  if (!file.ok()) return file.status();
  if (identity_path != nullptr) *identity_path = cfg.origin;
  return std::unique_ptr<Device>(*std::move(file));
}

absl::StatusOr<VolumeDevices> OpenVolumeDevices(const VolumeConfig& cfg,
                                                const PathPolicy* policy) {
  VolumeDevices d;
  std::string identity_path;
  absl::StatusOr<std::unique_ptr<Device>> origin = OpenOrigin(cfg, policy, &identity_path);
  if (!origin.ok()) return origin.status();
  d.origin = *std::move(origin);

  const std::vector<std::string> paths = CachePaths(cfg);
  bool all_missing = true;
  for (const std::string& p : paths) all_missing &= Missing(p);
  // Only when every device is missing: a set with one device gone may hold
  // dirty data on the others. Never under a policy: the AdminService
  // creates no files.
  if (all_missing && cfg.cache_size != 0 && policy == nullptr) {
    // A new cache: the origin gets its identity now if it has none.
    absl::StatusOr<std::string> identity =
        OriginIdentity(cfg.origin, /*create_if_missing=*/true);
    if (!identity.ok()) return identity.status();
    if (absl::Status s = CreateCaches(cfg, *d.origin, *identity); !s.ok()) {
      return s;
    }
  }
  // The cache first: a missing or busy cache is the better message.
  if (absl::Status s = OpenCaches(cfg, policy, &d); !s.ok()) return s;
  // An existing origin must have its identity already.
  absl::StatusOr<std::string> identity =
      OriginIdentity(identity_path, /*create_if_missing=*/false);
  if (absl::IsNotFound(identity.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        Renamed(identity.status(), identity_path, cfg.origin).message(),
        ": no writeboost cache was ever formatted for this "
        "origin; format one first (FormatVolume)"));
  }
  if (!identity.ok()) return Renamed(identity.status(), identity_path, cfg.origin);
  d.origin_identity = *identity;
  return d;
}

absl::Status FormatVolumeDevices(const VolumeConfig& cfg, bool force,
                                 const PathPolicy* policy) {
  VolumeConfig existing = cfg;
  existing.origin_size = 0;  // Format never creates the origin.
  std::string identity_path;
  absl::StatusOr<std::unique_ptr<Device>> origin =
      OpenOrigin(existing, policy, &identity_path);
  if (!origin.ok()) return origin.status();
  std::vector<std::unique_ptr<Device>> caches;
  std::vector<Device*> members;
  for (const std::string& path : CachePaths(cfg)) {
    absl::StatusOr<std::unique_ptr<Device>> cache = OpenChecked(path, policy);
    if (!cache.ok()) return cache.status();
    members.push_back(cache->get());
    caches.push_back(*std::move(cache));
  }
  for (size_t i = 0; i < caches.size() && !force; i++) {
    // Block 3 too: a mirror member's newer membership copy lives there.
    // (Zero-filled past the end of a device too small to hold them.)
    AlignedBuffer block(4 * kBlockSize);
    const uint64_t n = std::min<uint64_t>(block.size(), caches[i]->size());
    if (absl::Status s = caches[i]->Read(0, block.data(), n); !s.ok()) {
      return s;
    }
    for (size_t b : {0, 3}) {
      // Any block with the superblock magic may front dirty data, whatever
      // else the reader refuses in it (checksum, version, reserved bytes);
      // so may any member of a set.
      if (GetFixed32(block.data() + b * kBlockSize) == kSuperblockMagic) {
        return absl::FailedPreconditionError(absl::StrCat(
            CachePaths(cfg)[i], " already holds a writeboost cache set; "
            "formatting would discard its dirty data (drain it first, or "
            "force)"));
      }
    }
  }
  absl::StatusOr<std::string> identity =
      OriginIdentity(identity_path, /*create_if_missing=*/true);
  if (!identity.ok()) return Renamed(identity.status(), identity_path, cfg.origin);
  absl::StatusOr<FormatOptions> opts = MakeFormatOptions(cfg, *identity);
  if (!opts.ok()) return opts.status();
  Log("volume %s: formatting %s cache %s for origin %s", cfg.name,
      LayoutName(cfg.cache_layout), absl::StrJoin(CachePaths(cfg), ","),
      cfg.origin);
  return FormatCacheSet(members, cfg.cache_layout, **origin, *opts);
}

}  // namespace wb::node
