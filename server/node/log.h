// One-line diagnostics on stderr: "writeboostd: <message>". The node logs
// lifecycle events (listening, volume opened, shutdown) and failures, never
// per-I/O events.
#ifndef WRITEBOOST_NODE_LOG_H_
#define WRITEBOOST_NODE_LOG_H_

#include <cstdio>

#include "absl/strings/str_format.h"

namespace wb::node {

template <typename... Args>
void Log(const absl::FormatSpec<Args...>& format, const Args&... args) {
  std::string line = absl::StrFormat(format, args...);
  // One fprintf per line keeps lines from different threads whole.
  std::fprintf(stderr, "writeboostd: %s\n", line.c_str());
}

}  // namespace wb::node

#endif  // WRITEBOOST_NODE_LOG_H_
