// A finding: the core disagreed with the reference reading of FORMAT.md,
// or broke the block contract. Each has a short id, so that a finding
// already reported can be set aside (WB_FUZZ_TOLERATE=id,...) while the
// fuzzer explores further. The ids:
//
//   head        ReadCacheHead accepted/refused or read other fields than
//               rules 1-2 say
//   replay      ReplayLog's chain or bounds differ from rules 3-4
//   check       the logic of `wbctl check` differs from the reference
//   check_json  `wbctl check --json` could not print its verdict
//   open        Volume::Open accepted/refused against rule 1-2
//   read        a read returned other data (or error) than rule 5 says
//   write       a write, Flush or Close failed on a cache with room
//   progress    the progress record written at open and close breaks rule 6
//               or moves the log's start
//   durability  after close and reopen a block differs from what was read
//               and acknowledged before
//   drain       with writeback on, drop_caches failed without a corrupt copy
//               to refuse, or left the origin other than the volume read
// and, for findings reported but not yet fixed, narrower ids in their place:
//   ring_overlap   (for replay) the log wraps into its own first segment
//   no_data_entry  (for read) a segment holds an entry of a kind without data
#ifndef WRITEBOOST_TESTS_FUZZ_FINDING_H_
#define WRITEBOOST_TESTS_FUZZ_FINDING_H_

#include <optional>
#include <string>

#include "absl/strings/str_format.h"

namespace wb::fuzz {

struct Finding {
  std::string id;
  std::string message;
};

// Every check returns nullopt or the first finding.
using Outcome = std::optional<Finding>;

#define FUZZ_EXPECT(cond, id, ...)                              \
  do {                                                          \
    if (!(cond)) {                                              \
      return ::wb::fuzz::Finding{id, absl::StrFormat(__VA_ARGS__)}; \
    }                                                           \
  } while (0)

#define FUZZ_RETURN_IF_FINDING(expr)        \
  do {                                      \
    ::wb::fuzz::Outcome fuzz_outcome_ = (expr); \
    if (fuzz_outcome_) return fuzz_outcome_;    \
  } while (0)

}  // namespace wb::fuzz

#endif  // WRITEBOOST_TESTS_FUZZ_FINDING_H_
