#include "server/node/metrics_process.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <prometheus/metric_family.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/core/format/layout.h"
#include "server/node/metrics_families.h"

namespace wb::node {
namespace {

using prometheus::MetricType;

constexpr MetricDef kBuildInfo = {
    "writeboost_build_info", MetricType::Gauge,
    "Always 1; labels: the build's version and the cache format version it reads and writes."};
constexpr MetricDef kCpu = {"process_cpu_seconds_total", MetricType::Counter,
                            "User and system CPU time of the process."};
constexpr MetricDef kRss = {"process_resident_memory_bytes", MetricType::Gauge,
                            "Resident memory of the process."};
constexpr MetricDef kVsize = {"process_virtual_memory_bytes", MetricType::Gauge,
                              "Virtual memory of the process."};
constexpr MetricDef kStart = {"process_start_time_seconds", MetricType::Gauge,
                              "When the process started, in seconds since the Unix epoch."};
constexpr MetricDef kOpenFds = {"process_open_fds", MetricType::Gauge,
                                "Open file descriptors of the process."};
constexpr MetricDef kMaxFds = {"process_max_fds", MetricType::Gauge,
                               "The process's limit on open file descriptors."};
constexpr MetricDef kThreads = {"writeboost_threads", MetricType::Gauge,
                                "Threads of the process."};

std::string ReadProcFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Fields of /proc/self/stat after the command name (which may hold spaces
// and parentheses, so the split starts after the last ')'). fields[0] is
// field 3 of proc(5), "state".
std::vector<std::string> StatFields() {
  std::string stat = ReadProcFile("/proc/self/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return {};
  return absl::StrSplit(stat.substr(paren + 1), ' ', absl::SkipEmpty());
}

// Field n of proc(5) (1-based), or -1.
double StatField(const std::vector<std::string>& fields, size_t n) {
  double v;
  if (n < 3 || n - 3 >= fields.size() || !absl::SimpleAtod(fields[n - 3], &v)) return -1;
  return v;
}

// The system's boot time ("btime" of /proc/stat), or -1.
double BootTime() {
  std::istringstream in(ReadProcFile("/proc/stat"));
  std::string line;
  while (std::getline(in, line)) {
    double v;
    if (line.rfind("btime ", 0) == 0 && absl::SimpleAtod(line.substr(6), &v)) return v;
  }
  return -1;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  FamilySet out;
  out.Add(kBuildInfo, {{"version", version_}, {"cache_format", absl::StrCat(kFormatVersion)}},
          1);

  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::vector<std::string> f = StatFields();
  double utime = StatField(f, 14), stime = StatField(f, 15), threads = StatField(f, 20),
         start = StatField(f, 22), vsize = StatField(f, 23), rss = StatField(f, 24);
  if (utime >= 0 && stime >= 0) out.Add(kCpu, {}, (utime + stime) / ticks);
  if (rss >= 0) out.Add(kRss, {}, rss * page);
  if (vsize >= 0) out.Add(kVsize, {}, vsize);
  if (double boot = BootTime(); start >= 0 && boot >= 0) {
    out.Add(kStart, {}, boot + start / ticks);
  }
  if (threads >= 0) out.Add(kThreads, {}, threads);

  std::error_code ec;
  double fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    fds++;
  }
  if (!ec) out.Add(kOpenFds, {}, fds);
  rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    out.Add(kMaxFds, {}, static_cast<double>(lim.rlim_cur));
  }
  return out.Take();
}

}  // namespace wb::node
