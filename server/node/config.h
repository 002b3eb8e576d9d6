// writeboostd's configuration: what the command line flags and the JSON
// config file (docs/SERVICE.md, "Configuration") turn into. Parsing only;
// nothing here opens a device or a socket.
#ifndef WRITEBOOST_NODE_CONFIG_H_
#define WRITEBOOST_NODE_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wb::node {

// One volume: an origin with a cache in front of it.
struct VolumeConfig {
  std::string name;
  std::string origin;
  std::string cache;
  // Further cache devices (cache= given again): the set is cache, then
  // these, in order. With any, cache_layout must be stripe or mirror.
  std::vector<std::string> more_caches;
  // How the cache devices are combined (docs/FORMAT.md, "Cache sets"): 0
  // single, 1 stripe, 2 mirror, as superblock.h's kLayout*. Format only;
  // an existing set's layout is read from its superblocks.
  uint32_t cache_layout = 0;
  // 0: the node's rambuf_size.
  uint64_t rambuf_size = 0;
  // Create the origin file, sparse, at this size when it does not exist.
  uint64_t origin_size = 0;
  // Create the cache file at this size and format it when it does not
  // exist (formatted under a temporary name, then renamed, so an existing
  // cache file is always a formatted one).
  uint64_t cache_size = 0;
  // Format only; 0 = the core's default (512 KiB).
  uint32_t segment_size = 0;
  // Seconds a write may wait on a full log without writeback progress.
  uint32_t io_timeout_s = 60;
  // Tunables to set at format and after every open (persisted).
  std::map<std::string, uint64_t> tunables;
  // Volumes whose origins share one back end; the controller paces each
  // group's writeback as a whole. Empty: the node's --origin-group.
  std::string origin_group;
};

struct NodeConfig {
  // gRPC listen addresses: "HOST:PORT" or "unix:PATH".
  std::vector<std::string> listen = {"127.0.0.1:7200"};
  // Node state: the embedded default volume, and volumes.json (the volumes
  // attached at run time; attached_volumes.h).
  std::string data_dir = "wb-data";
  uint64_t rambuf_size = 64ull << 20;
  // Largest Read/Write payload; the gRPC message limit is this plus
  // kMessageOverhead.
  uint64_t max_payload = 4ull << 20;
  // Bytes one Io stream may hold (requests read but not answered, replies
  // not yet sent) before the server stops reading it.
  uint64_t stream_inflight = 8ull << 20;
  // The same bound over all streams together.
  uint64_t total_inflight = 128ull << 20;
  // Worker threads per Io stream (I/Os of one stream executing at once).
  int stream_workers = 8;
  // gRPC server threads (each unary call or stream in progress holds one).
  int max_threads = 256;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;  // set: clients must present a certificate it signed
  std::string auth_tokens;
  bool insecure = false;  // allow non-loopback listening without TLS
  // writeboost-controller to register with (HOST:PORT); empty: none, and
  // writeback is paced locally (docs/CONTROLLER.md).
  std::string controller;
  // PEM CA that signed the controller's certificate; empty: plaintext.
  std::string controller_tls_ca;
  // How this node names itself to the controller; empty: the host name.
  std::string node_id;
  // The origin group of volumes that set none.
  std::string origin_group = "default";
  // Where FormatVolume and AttachVolume may find devices, besides data_dir
  // (--allow-path; path_policy.h). Configured volumes are not confined.
  std::vector<std::string> allow_paths;
  // URI prefixes of the NBD origins they may use (--allow-nbd); none: no
  // NBD origin through the AdminService.
  std::vector<std::string> allow_nbd;
  std::vector<VolumeConfig> volumes;
};

// Ranges of the sizes and counts a volume may ask for (docs/SERVICE.md,
// "Limits"). Outside them: INVALID_ARGUMENT before anything is allocated.
inline constexpr uint64_t kMinRambufSize = 1ull << 20;
inline constexpr uint64_t kMaxRambufSize = 64ull << 30;
inline constexpr size_t kMaxPathLength = 4095;  // PATH_MAX less its NUL
inline constexpr size_t kMaxOriginGroupLength = 64;

// Framing allowance on top of max_payload for the gRPC message limit.
inline constexpr uint64_t kMessageOverhead = 64 << 10;

// "4096", "512K", "64M", "1G", "1T" (binary units, optional "B"/"iB").
absl::StatusOr<uint64_t> ParseSize(absl::string_view text);

// Every cache device of v: cache, then more_caches.
std::vector<std::string> CachePaths(const VolumeConfig& v);

// "single", "stripe", "mirror" (LayoutName's spellings) to kLayoutSingle,
// kLayoutStripe, kLayoutMirror; INVALID_ARGUMENT otherwise.
absl::StatusOr<uint32_t> ParseCacheLayout(absl::string_view text);

// Sets one key of a volume from text: name, origin, cache (again for each
// further cache device), cache_layout, rambuf_size, origin_size,
// cache_size, segment_size, io_timeout, or a tunable name.
absl::Status SetVolumeKey(VolumeConfig* v, absl::string_view key,
                          absl::string_view value);

// "name=NAME,origin=PATH,cache=PATH[,key=value...]" (the --volume flag).
absl::StatusOr<VolumeConfig> ParseVolumeSpec(absl::string_view spec);

// Reads a JSON config file into *cfg (keys it does not set keep their
// values; its volumes are appended). Unknown keys are errors.
absl::Status LoadConfigFile(const std::string& path, NodeConfig* cfg);

// The volume served when none is configured: "default", a sparse 1 GiB
// origin file and a 256 MiB cache file under data_dir.
VolumeConfig EmbeddedDefaultVolume(const std::string& data_dir);

// Cross-field checks: names valid and unique, sizes sane, TLS files
// complete, non-local listening only with TLS or insecure.
absl::Status ValidateConfig(const NodeConfig& cfg);

// Valid volume name: [A-Za-z0-9._-]{1,64}.
bool IsValidVolumeName(absl::string_view name);

// INVALID_ARGUMENT unless IsValidVolumeName(name); the message quotes at most
// a bounded prefix of the name (QuoteBounded).
absl::Status CheckVolumeName(absl::string_view name);

// Client text for an error message: at most `max` bytes of it, C-escaped,
// in quotes, with "... (N bytes)" when cut. An error message carries the
// echo back in a gRPC trailer, which the client refuses past its metadata
// limit (8 KiB by default).
std::string QuoteBounded(absl::string_view text, size_t max = 64);

// The range checks of one volume's sizes and counts (the constants above,
// a segment size that is 0 or a power of two from 64K to 4M, 1 to 16
// cache devices, paths of at most kMaxPathLength bytes and no NUL).
absl::Status CheckVolumeLimits(const VolumeConfig& v);

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_CONFIG_H_
