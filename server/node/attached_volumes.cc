#include "server/node/attached_volumes.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "server/core/device/nbd_device.h"
#include "server/core/format/superblock.h"
#include "server/node/log.h"
#include "server/node/volume_registry.h"

namespace wb::node {
namespace {

absl::Status OsError(const std::string& what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

nlohmann::json ToJson(const VolumeConfig& v) {
  nlohmann::json j = {{"name", v.name}, {"origin", v.origin}, {"cache", v.cache}};
  if (!v.more_caches.empty()) j["cache"] = CachePaths(v);
  if (v.cache_layout != 0) j["cache_layout"] = LayoutName(v.cache_layout);
  if (v.rambuf_size != 0) j["rambuf_size"] = v.rambuf_size;
  if (v.io_timeout_s != VolumeConfig().io_timeout_s) j["io_timeout"] = v.io_timeout_s;
  if (!v.origin_group.empty()) j["origin_group"] = v.origin_group;
  return j;
}

// A relative path was opened against the node's working directory; the
// next start may have another one.
std::string Absolute(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.string();
}

// What the node needs to open the volume again; nothing that format or the
// cache itself keeps.
VolumeConfig Remembered(const VolumeConfig& cfg) {
  VolumeConfig v;
  v.name = cfg.name;
  // An NBD URI is not a path.
  v.origin = IsNbdUri(cfg.origin) ? cfg.origin : Absolute(cfg.origin);
  v.cache = Absolute(cfg.cache);
  for (const std::string& c : cfg.more_caches) v.more_caches.push_back(Absolute(c));
  v.cache_layout = cfg.cache_layout;
  v.rambuf_size = cfg.rambuf_size;
  v.io_timeout_s = cfg.io_timeout_s;
  v.origin_group = cfg.origin_group;
  return v;
}

absl::StatusOr<VolumeConfig> VolumeFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("a volume must be an object");
  VolumeConfig v;
  for (const auto& [key, value] : j.items()) {
    if (key != "name" && key != "origin" && key != "cache" && key != "rambuf_size" &&
        key != "io_timeout" && key != "origin_group" && key != "cache_layout") {
      return absl::InvalidArgumentError(absl::StrCat("unknown volume key \"", key, "\""));
    }
    if (key == "cache" && value.is_array()) {  // a cache set
      for (const auto& c : value) {
        if (!c.is_string()) return absl::InvalidArgumentError("cache: want paths");
        if (absl::Status s = SetVolumeKey(&v, key, c.get<std::string>()); !s.ok()) {
          return s;
        }
      }
      continue;
    }
    std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (absl::Status s = SetVolumeKey(&v, key, text); !s.ok()) return s;
  }
  if (!IsValidVolumeName(v.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume name \"", v.name, "\" is not [A-Za-z0-9._-]{1,64}"));
  }
  if (v.origin.empty() || v.cache.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", v.name, " lacks origin or cache"));
  }
  return v;
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return OsError("cannot open", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return OsError("cannot sync", path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<VolumeConfig>> AttachedVolumes::Load() {
  absl::MutexLock l(&mu_);
  volumes_.clear();
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec) && !ec) return std::vector<VolumeConfig>{};
  std::ifstream in(path_);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path_));
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": ", why, " (it lists the volumes attached at run time; fix or remove it)"));
  };
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object() || j.size() != 1 || !j.contains("volumes") || !j["volumes"].is_array()) {
    return bad("want an object with one key, \"volumes\", a list");
  }
  std::vector<VolumeConfig> out;
  for (const nlohmann::json& vj : j["volumes"]) {
    absl::StatusOr<VolumeConfig> v = VolumeFromJson(vj);
    if (!v.ok()) return bad(v.status().message());
    if (!volumes_.emplace(v->name, *v).second) {
      return bad(absl::StrCat("volume ", v->name, " is listed twice"));
    }
    out.push_back(*std::move(v));
  }
  return out;
}

absl::Status AttachedVolumes::Add(const VolumeConfig& cfg,
                                  absl::FunctionRef<bool()> still_attached) {
  absl::MutexLock l(&mu_);
  if (!still_attached()) return absl::OkStatus();
  std::map<std::string, VolumeConfig> next = volumes_;
  next[cfg.name] = Remembered(cfg);
  if (absl::Status s = Write(next); !s.ok()) return s;
  volumes_.swap(next);
  return absl::OkStatus();
}

absl::Status AttachedVolumes::Remove(const std::string& name) {
  absl::MutexLock l(&mu_);
  if (volumes_.count(name) == 0) return absl::OkStatus();
  std::map<std::string, VolumeConfig> next = volumes_;
  next.erase(name);
  if (absl::Status s = Write(next); !s.ok()) return s;
  volumes_.swap(next);
  return absl::OkStatus();
}

absl::Status AttachedVolumes::Write(const std::map<std::string, VolumeConfig>& volumes) const {
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [name, v] : volumes) list.push_back(ToJson(v));
  const std::string text = nlohmann::json{{"volumes", list}}.dump(2) + "\n";

  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return OsError("cannot create", tmp);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = OsError("cannot write", tmp);
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  // The data must be on disk before the rename makes it the list: otherwise
  // a crash could leave an empty file under the real name.
  if (::fsync(fd) != 0) {
    absl::Status s = OsError("cannot sync", tmp);
    ::close(fd);
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return OsError("cannot rename to", path_);
  return FsyncPath(dir, O_RDONLY | O_DIRECTORY);
}

absl::Status AttachRemembered(AttachedVolumes& attached,
                              const std::vector<VolumeConfig>& configured,
                              VolumeRegistry& registry, const PathPolicy* policy) {
  absl::StatusOr<std::vector<VolumeConfig>> remembered = attached.Load();
  if (!remembered.ok()) return remembered.status();
  std::set<std::string> names;
  for (const VolumeConfig& v : configured) names.insert(v.name);
  for (const VolumeConfig& v : *remembered) {
    if (names.count(v.name) != 0) {
      Log("volume %s: configured; forgetting the run-time attachment in %s", v.name,
          attached.path());
      if (absl::Status s = attached.Remove(v.name); !s.ok()) return s;
      continue;
    }
    Log("volume %s: attaching again (attached at run time, listed in %s)", v.name,
        attached.path());
    if (absl::Status s = registry.Attach(v, /*wait=*/false, policy); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace wb::node
