// What wbctl's commands share for talking to the user: error lines, sizes
// with K/M/G suffixes, aligned "key: value" reports and terminal progress.
#ifndef WRITEBOOST_CLIENT_WBCTL_OUTPUT_H_
#define WRITEBOOST_CLIENT_WBCTL_OUTPUT_H_

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wbctl {

// Prints "wbctl: <message>" on stderr and returns `code`.
int Fail(absl::string_view message, int code = 1);
int Fail(const absl::Status& status, int code = 1);
// Prints "wbctl: warning: <message>" on stderr.
void Warn(absl::string_view message);

// Parses "4096", "512K", "512KiB", "1M", "2g", "1T" (binary units; a
// trailing "B" is optional). kInvalidArgument, naming the text, otherwise.
absl::StatusOr<uint64_t> ParseSize(absl::string_view text);
// "512 KiB", "1.5 GiB", "4096 bytes": for people, not for parsing back.
std::string FormatSize(uint64_t bytes);
// "64K", "4M": the short form ParseSize accepts, for exact power-of-two sizes.
std::string ShortSize(uint64_t bytes);
// "2025-01-31 12:00:00 UTC".
std::string FormatTime(uint64_t seconds_since_epoch);
// "0x%08x".
std::string Hex32(uint32_t v);

// Collects "key: value" lines in sections and prints them with all values
// aligned:
//   superblock:
//     version:       1
//     segment size:  512 KiB
// Rows added before any Section() are printed unindented.
class Report {
 public:
  void Section(std::string title);
  void Add(std::string key, std::string value);
  void Print(std::ostream& out) const;

 private:
  struct Row {
    bool is_section;
    std::string key;
    std::string value;
  };
  std::vector<Row> rows_;
};

// A one-line progress indicator on stderr, drawn only when stderr is a
// terminal and redrawn at most ten times a second; the line is erased when
// the object goes away. Not thread-safe: call Update from one thread.
class Progress {
 public:
  // bytes: show done/total as sizes; otherwise as plain counts of `unit`.
  Progress(std::string label, bool bytes, std::string unit = "");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Update(uint64_t done, uint64_t total);

 private:
  const std::string label_;
  const bool bytes_;
  const std::string unit_;
  const bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace wbctl

#endif  // WRITEBOOST_CLIENT_WBCTL_OUTPUT_H_
