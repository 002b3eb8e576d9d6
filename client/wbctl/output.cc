#include "client/wbctl/output.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace wbctl {

namespace {

// Clears a progress line that may be on the terminal before a message.
const char* ClearLine() { return isatty(STDERR_FILENO) == 1 ? "\r\033[K" : ""; }

}  // namespace

int Fail(absl::string_view message, int code) {
  std::cerr << ClearLine() << "wbctl: " << message << "\n";
  return code;
}

int Fail(const absl::Status& status, int code) {
  return Fail(status.message(), code);
}

void Warn(absl::string_view message) {
  std::cerr << ClearLine() << "wbctl: warning: " << message << "\n";
}

namespace {

struct Unit {
  char suffix;
  int shift;
};
constexpr Unit kUnits[] = {
    {'K', 10}, {'M', 20}, {'G', 30}, {'T', 40}, {'P', 50}};

}  // namespace

absl::StatusOr<uint64_t> ParseSize(absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrFormat(
        "\"%s\" is not a size (use bytes or a K, M, G or T suffix, e.g. 512K)",
        text));
  };
  absl::string_view s = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < s.size() &&
         std::isdigit(static_cast<unsigned char>(s[digits]))) {
    digits++;
  }
  uint64_t value;
  if (digits == 0 || !absl::SimpleAtoi(s.substr(0, digits), &value))
    return bad();
  std::string suffix = absl::AsciiStrToUpper(s.substr(digits));
  if (suffix.empty() || suffix == "B") return value;
  int shift = -1;
  for (const Unit& u : kUnits) {
    if (suffix[0] != u.suffix) continue;
    absl::string_view rest = absl::string_view(suffix).substr(1);
    if (rest.empty() || rest == "B" || rest == "IB") shift = u.shift;
  }
  if (shift < 0) return bad();
  if (value > (UINT64_MAX >> shift)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("size \"%s\" is too large", text));
  }
  return value << shift;
}

std::string FormatSize(uint64_t bytes) {
  static const char* const kNames[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return absl::StrFormat("%u bytes", bytes);
  int i = 0;
  double v = static_cast<double>(bytes) / 1024;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    i++;
  }
  if (bytes % (uint64_t{1} << (10 * (i + 1))) == 0) {
    return absl::StrFormat("%u %s", bytes >> (10 * (i + 1)), kNames[i]);
  }
  return absl::StrFormat("%.1f %s", v, kNames[i]);
}

std::string ShortSize(uint64_t bytes) {
  for (int i = 4; i >= 0; i--) {
    uint64_t unit = uint64_t{1} << kUnits[i].shift;
    if (bytes >= unit && bytes % unit == 0) {
      return absl::StrFormat("%u%c", bytes / unit, kUnits[i].suffix);
    }
  }
  return absl::StrFormat("%u", bytes);
}

std::string FormatTime(uint64_t seconds_since_epoch) {
  std::time_t t = static_cast<std::time_t>(seconds_since_epoch);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr)
    return absl::StrFormat("%u", seconds_since_epoch);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Hex32(uint32_t v) { return absl::StrFormat("0x%08x", v); }

void Report::Section(std::string title) {
  rows_.push_back({true, std::move(title), ""});
}

void Report::Add(std::string key, std::string value) {
  rows_.push_back({false, std::move(key), std::move(value)});
}

void Report::Print(std::ostream& out) const {
  // One value column for the whole report, so that sections line up too.
  size_t width = 0;
  bool sections = false;
  for (const Row& row : rows_) {
    if (!row.is_section) width = std::max(width, row.key.size());
    sections |= row.is_section;
  }
  bool indent = false;
  for (const Row& row : rows_) {
    if (row.is_section) {
      out << row.key << ":\n";
      indent = true;
      continue;
    }
    out << (indent ? "  " : "") << row.key << ":"
        << std::string(width - row.key.size() + (indent || !sections ? 2 : 4),
                       ' ')
        << row.value << "\n";
  }
}

Progress::Progress(std::string label, bool bytes, std::string unit)
    : label_(std::move(label)),
      bytes_(bytes),
      unit_(std::move(unit)),
      enabled_(isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
  if (drawn_) std::cerr << "\r\033[K" << std::flush;
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100)) {
    return;
  }
  last_ = now;
  drawn_ = true;
  double pct = total == 0 ? 100.0
                          : 100.0 * static_cast<double>(done) /
                                static_cast<double>(total);
  std::string amount =
      bytes_ ? absl::StrFormat("%s of %s", FormatSize(done), FormatSize(total))
             : absl::StrFormat("%u of %u%s%s", done, total,
                               unit_.empty() ? "" : " ", unit_);
  std::cerr << absl::StrFormat("\r\033[K%s: %5.1f%% (%s)", label_, pct, amount)
            << std::flush;
}

}  // namespace wbctl
