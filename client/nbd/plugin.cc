// nbdkit-writeboost-plugin: exports a writeboost volume over NBD.
//
//   nbdkit build/lib/nbdkit-writeboost-plugin.so server=unix:/run/wb.sock volume=vol0
//
// docs/NBD.md has the options, the block contract as NBD sees it, and the
// attach recipes (wbctl attach-nbd, nbd-client, qemu, nbdfuse + losetup).
//
// Each NBD connection gets a Connection (connection.h): a gRPC connection of
// its own and one pipelined Io stream, shared by nbdkit's worker threads
// (thread model PARALLEL). gRPC starts its threads on the first connection,
// so nothing here starts a thread before nbdkit has forked.
//
// Rules for every callback: no exception crosses it (Guard), and an error is
// reported with nbdkit_error (the server's message) plus an errno that the
// NBD protocol can carry (ErrnoOf).
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/nbd/connection.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

namespace {

// Written by config callbacks (single-threaded, before any connection),
// read-only afterwards.
wbnbd::BridgeConfig g_config = [] {
  wbnbd::BridgeConfig c;
  c.options.queue_depth = 64;
  return c;
}();

// NBD carries EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW, ENOTSUP and
// ESHUTDOWN; nbdkit turns anything else into EINVAL, so only those are used.
int ErrnoOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return EINVAL;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return EPERM;
    case absl::StatusCode::kResourceExhausted:
      // A payload over the server's limit (we split, so a misconfiguration)
      // or a message over the gRPC limit: "too large", not "no memory".
      return EOVERFLOW;
    case absl::StatusCode::kUnimplemented:
      return ENOTSUP;
    default:
      // UNAVAILABLE (server gone, log full for io_timeout), DATA_LOSS,
      // FAILED_PRECONDITION (volume failed), DEADLINE_EXCEEDED, INTERNAL...
      return EIO;
  }
}

int Fail(const char* what, const absl::Status& s) {
  nbdkit_error("writeboost: %s: %s", what, s.ToString().c_str());
  nbdkit_set_error(ErrnoOf(s));
  return -1;
}

// Runs fn, turning an escaping exception into an nbdkit error.
template <typename T, typename Fn>
T Guard(const char* what, T on_error, Fn fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    nbdkit_error("writeboost: %s: out of memory", what);
    nbdkit_set_error(ENOMEM);
  } catch (const std::exception& e) {
    nbdkit_error("writeboost: %s: %s", what, e.what());
    nbdkit_set_error(EIO);
  } catch (...) {
    nbdkit_error("writeboost: %s: unknown exception", what);
    nbdkit_set_error(EIO);
  }
  return on_error;
}

wbnbd::Connection* Conn(void* handle) { return static_cast<wbnbd::Connection*>(handle); }

// ------------------------------------------------------------- config

int ParseSeconds(const char* key, const char* value, absl::Duration* out) {
  uint32_t n;
  if (nbdkit_parse_uint32_t(key, value, &n) == -1) return -1;
  *out = n == 0 ? absl::InfiniteDuration() : absl::Seconds(n);
  return 0;
}

int ParseBool(const char* key, const char* value, bool* out) {
  int b = nbdkit_parse_bool(value);
  if (b == -1) return -1;
  *out = b == 1;
  return 0;
}

int ParsePositive(const char* key, const char* value, int max, int* out) {
  int n;
  if (nbdkit_parse_int(key, value, &n) == -1) return -1;
  if (n < 1 || n > max) {
    nbdkit_error("%s must be between 1 and %d", key, max);
    return -1;
  }
  *out = n;
  return 0;
}

int ParseBytes(const char* key, const char* value, uint64_t min, uint64_t max, uint64_t* out) {
  int64_t n = nbdkit_parse_size(value);
  if (n == -1) return -1;
  if (static_cast<uint64_t>(n) < min || static_cast<uint64_t>(n) > max || n % 512 != 0) {
    nbdkit_error("%s must be a multiple of 512 between %llu and %llu", key,
                 static_cast<unsigned long long>(min), static_cast<unsigned long long>(max));
    return -1;
  }
  *out = static_cast<uint64_t>(n);
  return 0;
}

int ConfigKeyUnguarded(const char* key, const char* value) {
  wbnbd::BridgeConfig& c = g_config;
  wbclient::Credentials& cred = c.options.credentials;
  std::string k = key;
  if (k == "server") {
    c.endpoint = value;
  } else if (k == "volume") {
    c.volume = value;
  } else if (k == "token") {
    char* token = nullptr;
    if (nbdkit_read_password(value, &token) == -1) return -1;
    cred.token = token;
    free(token);
  } else if (k == "tls") {
    return ParseBool(key, value, &cred.tls);
  } else if (k == "tls-ca") {
    cred.tls = true;
    cred.ca_file = value;
  } else if (k == "tls-cert") {
    cred.tls = true;
    cred.cert_file = value;
  } else if (k == "tls-key") {
    cred.tls = true;
    cred.key_file = value;
  } else if (k == "tls-server-name") {
    cred.server_name = value;
  } else if (k == "queue-depth") {
    return ParsePositive(key, value, 4096, &c.options.queue_depth);
  } else if (k == "batch") {
    return ParsePositive(key, value, 1024, &c.options.max_batch);
  } else if (k == "timeout") {
    return ParseSeconds(key, value, &c.options.timeout);
  } else if (k == "open-wait") {
    return ParseSeconds(key, value, &c.options.open_wait);
  } else if (k == "retries") {
    return ParsePositive(key, value, 1000, &c.options.retries);
  } else if (k == "chunk") {
    return ParseBytes(key, value, 4096, 256ull << 20, &c.chunk);
  } else if (k == "max-request") {
    uint64_t n;
    if (ParseBytes(key, value, 4096, 1ull << 30, &n) == -1) return -1;
    c.max_request = static_cast<uint32_t>(n);
  } else if (k == "check-restart") {
    return ParseBool(key, value, &c.options.detect_restart);
  } else {
    nbdkit_error("unknown parameter '%s' (see nbdkit writeboost --help)", key);
    return -1;
  }
  return 0;
}

int ConfigKey(const char* key, const char* value) {
  return Guard("config", -1, [&] { return ConfigKeyUnguarded(key, value); });
}

int ConfigCompleteUnguarded() {
  const wbclient::Credentials& cred = g_config.options.credentials;
  if (cred.cert_file.empty() != cred.key_file.empty()) {
    nbdkit_error("tls-cert and tls-key must be given together");
    return -1;
  }
  if (g_config.endpoint.empty()) {
    nbdkit_error("server must not be empty");
    return -1;
  }
  return 0;
}

int ConfigComplete() {
  return Guard("config_complete", -1, [] { return ConfigCompleteUnguarded(); });
}

constexpr char kConfigHelp[] =
    "server=HOST:PORT|unix:PATH  writeboostd address (default 127.0.0.1:7200)\n"
    "volume=NAME            The volume (default: the NBD export name, else \"default\")\n"
    "token=TOKEN|+FILE|-    Bearer token (nbdkit password syntax)\n"
    "tls=BOOL               Use TLS (implied by tls-ca/tls-cert/tls-key)\n"
    "tls-ca=FILE            PEM roots that verify the server\n"
    "tls-cert=FILE tls-key=FILE  Client certificate and key (mTLS)\n"
    "tls-server-name=NAME   Name to verify the server certificate against\n"
    "queue-depth=N          I/Os in flight per connection (default 64)\n"
    "batch=N                I/Os per gRPC message at most (default 16)\n"
    "chunk=SIZE             Split reads/writes above SIZE (default: server limit)\n"
    "max-request=SIZE       Largest request advertised to clients (default 32M)\n"
    "timeout=SECS           Deadline of unary calls (default 60; 0 = none)\n"
    "open-wait=SECS         Wait for a replaying volume at connect (default 30)\n"
    "retries=N              Resends of reads/flushes after a broken stream (default 5)\n"
    "check-restart=BOOL     Fail flushes after a restart lost writes (default true)";

// ------------------------------------------------------------- connections

void* Open(int readonly) {
  return Guard("open", static_cast<void*>(nullptr), [&]() -> void* {
    std::string name = g_config.volume;
    if (name.empty()) {
      const char* e = nbdkit_export_name();
      name = e != nullptr && *e != '\0' ? e : "default";
    }
    absl::StatusOr<std::unique_ptr<wbnbd::Connection>> c =
        wbnbd::Connection::Open(g_config, name);
    if (!c.ok()) {
      Fail(absl::StrCat("opening volume ", name, " on ", g_config.endpoint).c_str(), c.status());
      return nullptr;
    }
    nbdkit_debug("writeboost: volume %s on %s: %llu bytes%s", name.c_str(),
                 g_config.endpoint.c_str(), static_cast<unsigned long long>((*c)->size()),
                 (*c)->read_only() ? ", read-only" : "");
    return c->release();
  });
}

void Close(void* handle) {
  Guard("close", 0, [&] {
    std::unique_ptr<wbnbd::Connection> c(Conn(handle));
    if (absl::Status s = c->Close(); !s.ok()) {
      nbdkit_debug("writeboost: stream closed with %s", s.ToString().c_str());
    }
    return 0;
  });
}

int64_t GetSize(void* handle) {
  return Guard("get_size", int64_t{-1}, [&] { return static_cast<int64_t>(Conn(handle)->size()); });
}

int CanWrite(void* handle) {
  return Guard("can_write", -1, [&] { return Conn(handle)->read_only() ? 0 : 1; });
}

int Yes(void*) { return 1; }
int No(void*) { return 0; }
int CanFua(void*) { return NBDKIT_FUA_NATIVE; }

// Any alignment works (read-modify-write of partial sectors, connection.h),
// so the minimum is 1: clients such as nbdfuse then pass a small write
// through instead of refusing it. 4096, a whole cache block, is what avoids
// read-modify-write both here and in the daemon.
int BlockSize(void* handle, uint32_t* minimum, uint32_t* preferred, uint32_t* maximum) {
  *minimum = 1;
  *preferred = 4096;
  *maximum = g_config.max_request;
  return 0;
}

const char* ExportDescription(void* handle) {
  return Guard("export_description", static_cast<const char*>(nullptr), [&] {
    std::string d = absl::StrCat("writeboost volume ", Conn(handle)->volume(), " on ",
                                 g_config.endpoint);
    return nbdkit_strdup_intern(d.c_str());
  });
}

// ------------------------------------------------------------- data path

int Pread(void* handle, void* buf, uint32_t count, uint64_t offset, uint32_t flags) {
  return Guard("pread", -1, [&] {
    absl::Status s = Conn(handle)->Read(offset, {static_cast<char*>(buf), count});
    return s.ok() ? 0 : Fail("read", s);
  });
}

int Pwrite(void* handle, const void* buf, uint32_t count, uint64_t offset, uint32_t flags) {
  return Guard("pwrite", -1, [&] {
    absl::Status s = Conn(handle)->Write(offset, {static_cast<const char*>(buf), count},
                                         (flags & NBDKIT_FLAG_FUA) != 0);
    return s.ok() ? 0 : Fail("write", s);
  });
}

int Flush(void* handle, uint32_t flags) {
  return Guard("flush", -1, [&] {
    absl::Status s = Conn(handle)->Flush();
    return s.ok() ? 0 : Fail("flush", s);
  });
}

int Trim(void* handle, uint32_t count, uint64_t offset, uint32_t flags) {
  return Guard("trim", -1, [&] {
    absl::Status s = Conn(handle)->Trim(offset, count, (flags & NBDKIT_FLAG_FUA) != 0);
    return s.ok() ? 0 : Fail("trim", s);
  });
}

int Zero(void* handle, uint32_t count, uint64_t offset, uint32_t flags) {
  return Guard("zero", -1, [&] {
    // Zeroes go through the log like any write: never faster than pwrite.
    if (flags & NBDKIT_FLAG_FAST_ZERO) {
      nbdkit_set_error(ENOTSUP);
      return -1;
    }
    // MAY_TRIM is ignored: a trimmed range need not read back as zeroes.
    absl::Status s = Conn(handle)->WriteZeroes(offset, count, (flags & NBDKIT_FLAG_FUA) != 0);
    return s.ok() ? 0 : Fail("zero", s);
  });
}

void DumpPlugin() {
  std::printf("writeboost_default_server=%s\n", wbclient::kDefaultEndpoint);
  std::printf("writeboost_max_request=%u\n", g_config.max_request);
}

// Field order is the struct's (C++20 designated initialisers must follow it).
struct nbdkit_plugin plugin = {
    .name = "writeboost",
    .longname = "writeboost volume (writeboostd over gRPC)",
    .version = "0.1.0",
    .description = "Exports a writeboost volume served by writeboostd.",
    .config = ConfigKey,
    .config_complete = ConfigComplete,
    .config_help = kConfigHelp,
    .open = Open,
    .close = Close,
    .get_size = GetSize,
    .can_write = CanWrite,
    .can_flush = Yes,
    .is_rotational = No,
    .can_trim = Yes,
    .errno_is_preserved = 0,
    .dump_plugin = DumpPlugin,
    .can_zero = Yes,
    .can_fua = CanFua,
    .pread = Pread,
    .pwrite = Pwrite,
    .flush = Flush,
    .trim = Trim,
    .zero = Zero,
    .magic_config_key = "volume",
    // A Flush covers every write the server acknowledged before it, on any
    // connection, and FUA/plain writes are visible to every reader at once
    // (proto/writeboost/v1/block.proto), so flush semantics are global.
    .can_multi_conn = Yes,
    .can_fast_zero = Yes,  // fast zero requests fail at once (ENOTSUP)
    .export_description = ExportDescription,
    .block_size = BlockSize,
};

}  // namespace

NBDKIT_REGISTER_PLUGIN(plugin)
