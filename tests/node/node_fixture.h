// A gtest fixture around one writeboostd on a free loopback port.
#ifndef WRITEBOOST_TESTS_NODE_NODE_FIXTURE_H_
#define WRITEBOOST_TESTS_NODE_NODE_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "client/lib/admin.h"
#include "client/lib/io_stream.h"
#include "client/lib/volume.h"
#include "tests/node/node_harness.h"

namespace wbtest {

class NodeTest : public ::testing::Test {
 protected:
  // Starts writeboostd with one --volume per name (256 MiB origin, 64 MiB
  // cache) plus extra flags, and waits until every volume serves.
  void StartNode(const std::vector<std::string>& volumes = {"v"},
                 const std::vector<std::string>& extra = {},
                 const wbclient::Options& options = {}) {
    volumes_ = volumes;
    // FreePort() races with every other process picking ports: if the
    // daemon cannot bind, try another.
    for (int attempt = 0; attempt < 3; attempt++) {
      port_ = FreePort();
      endpoint_ = absl::StrCat("127.0.0.1:", port_);
      args_ = {"--listen", endpoint_};
      for (const std::string& v : volumes) {
        args_.push_back("--volume");
        args_.push_back(VolumeFlag(dir_, v));
      }
      args_.insert(args_.end(), extra.begin(), extra.end());
      daemon_.Start(args_);
      absl::Status s = absl::OkStatus();
      for (const std::string& v : volumes_) {
        s = daemon_.WaitServing(endpoint_, v, options);
        if (!s.ok()) break;
      }
      if (s.ok()) return;
      if (daemon_.running() || s.message().find("cannot listen") == std::string::npos) {
        FAIL() << s;
      }
    }
    FAIL() << "no free port";
  }

  // Starts again with the same arguments (after Kill or Term).
  void Restart(const wbclient::Options& options = {}) {
    daemon_.Start(args_);
    for (const std::string& v : volumes_) {
      absl::Status s = daemon_.WaitServing(endpoint_, v, options);
      ASSERT_TRUE(s.ok()) << s;
    }
  }

  std::unique_ptr<wbclient::Volume> Open(const std::string& name = "v",
                                         const wbclient::Options& options = {}) {
    absl::StatusOr<std::unique_ptr<wbclient::Volume>> v =
        wbclient::Volume::Open(endpoint_, name, options);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : nullptr;
  }

  std::unique_ptr<wbclient::Admin> Admin(const wbclient::Options& options = {}) {
    return *wbclient::Admin::Connect(endpoint_, options);
  }

  TempDir dir_;
  Daemon daemon_{dir_};
  int port_ = 0;
  std::string endpoint_;
  std::vector<std::string> args_;
  std::vector<std::string> volumes_;
};

// Writes `length` bytes of pattern `seed` at offset.
inline absl::Status WritePattern(wbclient::Volume& v, uint64_t offset, uint64_t length,
                                 uint64_t seed, bool fua = false) {
  std::string buf(length, '\0');
  FillPattern(buf.data(), length, offset, seed);
  return v.Write(offset, buf, fua);
}

// Reads and checks pattern `seed`.
inline ::testing::AssertionResult HasPattern(wbclient::Volume& v, uint64_t offset,
                                             uint64_t length, uint64_t seed) {
  std::string buf(length, '\0');
  absl::Status s = v.Read(offset, absl::MakeSpan(buf));
  if (!s.ok()) return ::testing::AssertionFailure() << s;
  if (!CheckPattern(buf.data(), length, offset, seed)) {
    return ::testing::AssertionFailure() << "pattern " << seed << " not found at " << offset;
  }
  return ::testing::AssertionSuccess();
}

inline bool IsZero(const std::string& s) {
  return s.find_first_not_of('\0') == std::string::npos;
}

}  // namespace wbtest

#endif  // WRITEBOOST_TESTS_NODE_NODE_FIXTURE_H_
