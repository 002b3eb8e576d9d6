// NbdDevice: connecting and probing the export, the worker threads, and NBD
// URI normalisation.
#include "server/core/device/nbd_device.h"

#include <libnbd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace wb {
namespace {

constexpr uint16_t kDefaultNbdPort = 10809;
// Longest read or write sent as one NBD request when the server states no
// maximum: libnbd refuses requests above 64 MiB, and 32 MiB is the size
// servers commonly accept.
constexpr uint64_t kMaxRequest = 32u << 20;
// Longest trim sent as one request: NBD lengths are 32-bit.
constexpr uint64_t kMaxTrim = 1u << 30;

constexpr absl::string_view kSchemes[] = {
    "nbd", "nbds", "nbd+unix", "nbds+unix", "nbd+vsock", "nbds+vsock"};

// The scheme of name if it is one of kSchemes, lower-cased; empty otherwise.
std::string NbdScheme(absl::string_view name) {
  const size_t colon = name.find("://");
  if (colon == absl::string_view::npos) return "";
  const std::string scheme = absl::AsciiStrToLower(name.substr(0, colon));
  for (absl::string_view s : kSchemes) {
    if (scheme == s) return scheme;
  }
  return "";
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// s with %XX decoded and then every byte outside RFC 3986's unreserved and
// path characters encoded again as upper-case %XX: one spelling for every
// way of writing the same bytes.
std::string CanonicalPercentEncoding(absl::string_view s) {
  std::string raw;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
        HexValue(s[i + 2]) >= 0) {
      raw.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      raw.push_back(s[i]);
    }
  }
  std::string out;
  for (char c : raw) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || std::strchr("-._~/:@!$'()*+,;=", c) != nullptr) {
      out.push_back(c);
    } else {
      out += absl::StrFormat("%%%02X", u);
    }
  }
  return out;
}

// What the last failed libnbd call on this thread said, kept before any
// other libnbd call overwrites it.
struct NbdError {
  int err;
  std::string message;
};
NbdError LastError() {
  const char* msg = nbd_get_error();
  return {nbd_get_errno(), msg != nullptr ? msg : "unknown libnbd error"};
}

absl::Status ConnectError(const std::string& uri, const NbdError& e) {
  const std::string msg = absl::StrFormat("%s: cannot connect: %s", uri, e.message);
  // EINVAL is libnbd refusing the URI itself (a parse error, a missing or
  // unknown parameter); everything else is the server or the way to it
  // (including a server that wants TLS from a plain nbd:// URI).
  if (e.err == EINVAL) return absl::InvalidArgumentError(msg);
  return absl::UnavailableError(msg);
}

}  // namespace

bool IsNbdUri(absl::string_view name) { return !NbdScheme(name).empty(); }

std::string NormalizeNbdUri(absl::string_view uri) {
  std::string scheme = NbdScheme(uri);
  if (absl::StartsWith(scheme, "nbds")) scheme.erase(3, 1);  // TLS or not.
  absl::string_view rest = uri.substr(uri.find("://") + 3);
  rest = rest.substr(0, rest.find('#'));
  absl::string_view query;
  if (const size_t q = rest.find('?'); q != absl::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path =
      slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash);

  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority = authority.substr(at + 1);  // A TLS PSK user name.
  }
  // The port follows the last ':' unless that is inside an IPv6 literal.
  absl::string_view host = authority;
  absl::string_view port;
  const size_t colon = authority.rfind(':');
  if (colon != absl::string_view::npos &&
      authority.find(']', colon) == absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  std::string out = absl::StrCat(scheme, "://", absl::AsciiStrToLower(host));
  if (!port.empty() && port != absl::StrCat(kDefaultNbdPort)) {
    absl::StrAppend(&out, ":", port);
  }
  // "" and "/" both name the default export.
  if (absl::StartsWith(path, "/")) path.remove_prefix(1);
  absl::StrAppend(&out, "/", CanonicalPercentEncoding(path));
  for (absl::string_view param : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    if (absl::StartsWith(param, "socket=")) {
      absl::StrAppend(&out, "?socket=", CanonicalPercentEncoding(param.substr(7)));
    }
  }
  return out;
}

void NbdDevice::HandleCloser::operator()(nbd_handle* h) const {
  // A polite NBD_CMD_DISC; on a dead connection it fails, which is fine.
  if (!nbd_aio_is_dead(h) && !nbd_aio_is_closed(h)) nbd_shutdown(h, 0);
  nbd_close(h);
}

absl::StatusOr<NbdDevice::Handle> NbdDevice::Connect(const std::string& uri) {
  nbd_handle* raw = nbd_create();
  if (raw == nullptr) {
    return absl::UnavailableError(
        absl::StrFormat("%s: nbd_create: %s", uri, LastError().message));
  }
  Handle h(raw);
  if (absl::StartsWith(NbdScheme(uri), "nbds") && nbd_supports_tls(raw) != 1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: this libnbd was built without TLS support, so nbds:// cannot be "
        "used",
        uri));
  }
  // The URI comes from the node's operator, so its tls-psk-file and
  // tls-certificates parameters may name local files.
  if (nbd_set_uri_allow_local_file(raw, true) != 0 ||
      nbd_connect_uri(raw, uri.c_str()) != 0) {
    return ConnectError(uri, LastError());
  }
  return h;
}

absl::StatusOr<NbdDevice::Handle> NbdDevice::Reconnect() {
  absl::StatusOr<Handle> connected = Connect(uri_);
  if (!connected.ok()) return connected.status();
  Handle h = *std::move(connected);
  const int64_t size = nbd_get_size(h.get());
  if (size < 0) {
    return absl::UnavailableError(
        absl::StrFormat("%s: %s", uri_, LastError().message));
  }
  if (static_cast<uint64_t>(size) != size_) {
    return absl::UnavailableError(absl::StrFormat(
        "%s: the export is now %d bytes, not %d as when opened", uri_, size, size_));
  }
  if (nbd_is_read_only(h.get()) == 1) {
    return absl::UnavailableError(
        absl::StrFormat("%s: the export has become read-only", uri_));
  }
  return h;
}

absl::StatusOr<std::unique_ptr<NbdDevice>> NbdDevice::Open(
    const std::string& uri, const NbdDeviceOptions& options) {
  if (!IsNbdUri(uri)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is not an NBD URI (nbd://host[:port]/export, "
        "nbd+unix:///export?socket=PATH, or nbds:// for TLS)",
        uri));
  }
  if (options.connections < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d connections; at least 1 is needed", uri, options.connections));
  }
  absl::StatusOr<Handle> connected = Connect(uri);
  if (!connected.ok()) return connected.status();
  Handle first = *std::move(connected);
  nbd_handle* raw = first.get();

  // Each query fails only on a broken connection.
  auto query_error = [&uri](const char* what) {
    return absl::UnavailableError(
        absl::StrFormat("%s: %s: %s", uri, what, LastError().message));
  };
  const int read_only = nbd_is_read_only(raw);
  if (read_only < 0) return query_error("nbd_is_read_only");
  if (read_only == 1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: the export is read-only; an origin must be writable", uri));
  }
  const int64_t size = nbd_get_size(raw);
  if (size < 0) return query_error("nbd_get_size");
  const int64_t min_block = nbd_get_block_size(raw, LIBNBD_SIZE_MINIMUM);
  const int64_t max_block = nbd_get_block_size(raw, LIBNBD_SIZE_MAXIMUM);
  const int can_trim = nbd_can_trim(raw);
  const int can_flush = nbd_can_flush(raw);
  const int multi_conn = nbd_can_multi_conn(raw);
  if (min_block < 0 || max_block < 0 || can_trim < 0 || can_flush < 0 ||
      multi_conn < 0) {
    return query_error("reading the export's flags");
  }

  Geometry geo;
  geo.size = static_cast<uint64_t>(size);
  if (min_block > 4096) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the server's minimum block size %d is above 4096, the largest "
        "logical block size writeboost supports",
        uri, min_block));
  }
  geo.lbs = min_block > 512 ? 4096 : 512;
  if (geo.size % geo.lbs != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: export size %d is not a multiple of %d", uri, geo.size, geo.lbs));
  }
  geo.max_io = kMaxRequest;
  if (max_block > 0) {
    // Whole logical blocks; a server maximum below one block is nonsense
    // (the spec requires at least 1 MiB when a maximum is given at all).
    geo.max_io = std::max<uint64_t>(
        std::min<uint64_t>(geo.max_io, static_cast<uint64_t>(max_block)) /
            geo.lbs * geo.lbs,
        geo.lbs);
  }
  geo.can_trim = can_trim == 1;
  geo.can_flush = can_flush == 1;

  std::unique_ptr<NbdDevice> dev(new NbdDevice(uri, geo));
  // More than one connection only when a flush on one covers writes
  // completed on the others (see nbd_device.h).
  const int n = multi_conn == 1 ? options.connections : 1;
  std::vector<Handle> handles;
  handles.push_back(std::move(first));
  while (static_cast<int>(handles.size()) < n) {
    absl::StatusOr<Handle> h = dev->Reconnect();
    if (!h.ok()) return h.status();
    handles.push_back(*std::move(h));
  }
  for (Handle& h : handles) {
    auto conn = std::make_unique<Conn>();
    conn->h = std::move(h);
    dev->conns_.push_back(std::move(conn));
  }
  for (auto& conn : dev->conns_) {
    Conn* c = conn.get();
    c->worker = std::thread([d = dev.get(), c] { d->Worker(c); });
  }
  return dev;
}

NbdDevice::NbdDevice(std::string uri, const Geometry& geo)
    : uri_(std::move(uri)),
      size_(geo.size),
      lbs_(geo.lbs),
      max_io_(geo.max_io),
      can_trim_(geo.can_trim),
      can_flush_(geo.can_flush) {}

NbdDevice::~NbdDevice() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  // Workers leave only once the queue is empty.
  for (auto& conn : conns_) {
    if (conn->worker.joinable()) conn->worker.join();
  }
}

void NbdDevice::Submit(const IoRequest& req, IoCallback done) {
  absl::Status s = ValidateRequest(*this, req);
  const bool empty = req.op != IoOp::kFlush && req.length == 0;
  const bool noop_discard = req.op == IoOp::kDiscard && !can_trim_;
  if (!s.ok() || empty || noop_discard) {
    std::move(done)(std::move(s));
    return;
  }
  absl::MutexLock l(&mu_);
  queue_.push_back(Op{req, std::move(done)});
}

void NbdDevice::Worker(Conn* conn) {
  for (;;) {
    Op op;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(this, &NbdDevice::WorkOrStopLocked));
      if (queue_.empty()) return;  // Stopping, and nothing is left.
      op = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status s = Run(conn, op.req);
    // Outside the lock: the callback may submit more I/O.
    std::move(op.done)(std::move(s));
  }
}

absl::Status NbdDevice::EnsureConnected(Conn* conn, const IoRequest& req) {
  if (conn->h != nullptr && !nbd_aio_is_dead(conn->h.get()) &&
      !nbd_aio_is_closed(conn->h.get())) {
    return absl::OkStatus();
  }
  conn->h.reset();
  absl::StatusOr<Handle> h = Reconnect();
  if (!h.ok()) {
    return absl::UnavailableError(absl::StrFormat(
        "%s: %s failed: connection lost, and reconnecting failed: %s", uri_,
        IoOpName(req.op), h.status().message()));
  }
  conn->h = *std::move(h);
  reconnects_.fetch_add(1);
  flush_poisoned_.store(true);
  std::fprintf(stderr, "writeboost: %s: connection lost; reconnected\n",
               uri_.c_str());
  return absl::OkStatus();
}

absl::Status NbdDevice::Run(Conn* conn, const IoRequest& req) {
  if (absl::Status s = EnsureConnected(conn, req); !s.ok()) return s;
  if (req.op == IoOp::kFlush && flush_poisoned_.exchange(false)) {
    return absl::UnavailableError(absl::StrFormat(
        "%s: flush refused: a connection to the server was lost since the "
        "last flush, so writes acknowledged before it may not have reached "
        "stable storage; write them again and flush",
        uri_));
  }
  absl::Status s = Transfer(conn->h.get(), req);
  // A connection that died under a read, write or trim: once more on a new
  // one (all three may be repeated). Not a flush: what it was to cover may
  // be gone with the old connection, and the reconnect fails the next one.
  if (!s.ok() && req.op != IoOp::kFlush && nbd_aio_is_dead(conn->h.get())) {
    if (absl::Status r = EnsureConnected(conn, req); !r.ok()) return r;
    s = Transfer(conn->h.get(), req);
  }
  return s;
}

absl::Status NbdDevice::Transfer(nbd_handle* h, const IoRequest& req) {
  switch (req.op) {
    case IoOp::kFlush:
      // A server that does not advertise flush says it has no volatile
      // cache to flush, and the NBD spec forbids sending it NBD_CMD_FLUSH.
      if (!can_flush_) return absl::OkStatus();
      if (nbd_flush(h, 0) != 0) return IoError(req, LastError().message);
      return absl::OkStatus();
    case IoOp::kDiscard:
      for (uint64_t done = 0; done < req.length;) {
        const uint64_t n = std::min(req.length - done, kMaxTrim);
        if (nbd_trim(h, n, req.offset + done, 0) != 0) {
          const NbdError e = LastError();
          // Trim is advisory: a server that turns it down keeps the old
          // data, which the trim contract allows.
          if (e.err == EOPNOTSUPP || e.err == ENOTSUP) return absl::OkStatus();
          return IoError(req, e.message);
        }
        done += n;
      }
      return absl::OkStatus();
    case IoOp::kRead:
    case IoOp::kWrite:
      break;
  }
  char* buf = static_cast<char*>(req.buf);
  for (uint64_t done = 0; done < req.length;) {
    const uint64_t n = std::min(req.length - done, max_io_);
    const int rc = req.op == IoOp::kRead
                       ? nbd_pread(h, buf + done, n, req.offset + done, 0)
                       : nbd_pwrite(h, buf + done, n, req.offset + done, 0);
    if (rc != 0) return IoError(req, LastError().message);
    done += n;
  }
  return absl::OkStatus();
}

absl::Status NbdDevice::IoError(const IoRequest& req,
                                const std::string& what) const {
  if (req.op == IoOp::kFlush) {
    return absl::UnavailableError(
        absl::StrFormat("%s: flush failed: %s", uri_, what));
  }
  return absl::UnavailableError(
      absl::StrFormat("%s: %s at offset %d length %d failed: %s", uri_,
                      IoOpName(req.op), req.offset, req.length, what));
}

}  // namespace wb
