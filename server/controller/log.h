// One-line diagnostics on stderr: "writeboost-controller: <message>". The
// controller logs lifecycle events (listening, sessions starting and
// ending, nodes forgotten) and failures, never per-report events.
#ifndef WRITEBOOST_CONTROLLER_LOG_H_
#define WRITEBOOST_CONTROLLER_LOG_H_

#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"

namespace wb::controller {

template <typename... Args>
void Log(const absl::FormatSpec<Args...>& format, const Args&... args) {
  std::string line = absl::StrFormat(format, args...);
  // One fprintf per line keeps lines from different threads whole.
  std::fprintf(stderr, "writeboost-controller: %s\n", line.c_str());
}

}  // namespace wb::controller

#endif  // WRITEBOOST_CONTROLLER_LOG_H_
