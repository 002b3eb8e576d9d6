// wbctl resilver: brings the stale or replaced members of a mirrored cache
// set back in sync, offline (docs/FORMAT.md, "Cache sets"). Every member is
// opened exclusively, so it cannot run while a node has the set open.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/offline_cache.h"
#include "client/wbctl/output.h"
#include "server/core/device/cache_set.h"

namespace wbctl {
namespace {

struct ResilverArgs {
  std::vector<std::string> caches;
  bool allow_missing = false;
};

int RunResilver(const ResilverArgs& args) {
  absl::StatusOr<std::vector<std::unique_ptr<wb::Device>>> members =
      OpenMembers(args.caches);
  if (!members.ok()) return Fail(members.status());
  wb::CacheSetOpenOptions options;
  options.allow_missing = args.allow_missing;
  absl::StatusOr<std::unique_ptr<wb::CacheSet>> set =
      wb::CacheSet::Open(*std::move(members), options);
  if (!set.ok()) return Fail(set.status());
  if ((*set)->layout() != wb::kLayoutMirror) {
    return Fail(absl::StrFormat(
        "%s is a %s set; only a mirror has copies to resilver from",
        (*set)->name(), wb::LayoutName((*set)->layout())));
  }
  int done = 0;
  for (const wb::CacheMemberStatus& m : (*set)->GetStatus().members) {
    if (m.health == wb::MemberHealth::kInSync || m.name.empty()) continue;
    absl::Status s;
    {
      Progress progress("resilvering " + m.name, /*bytes=*/true);
      s = (*set)->Resilver(m.index, [&](uint64_t d, uint64_t total) {
        progress.Update(d, total);
      });
    }
    if (!s.ok()) {
      return Fail(absl::StrFormat("resilvering member %u (%s) failed: %s",
                                  m.index, m.name, s.message()));
    }
    std::cout << absl::StrFormat("member %u (%s) is in sync again\n", m.index,
                                 m.name);
    done++;
  }
  wb::CacheSetStatus st = (*set)->GetStatus();
  Report r;
  r.Add("layout", wb::LayoutName(st.layout));
  r.Add("membership generation", absl::StrFormat("%u", st.generation));
  for (const wb::CacheMemberStatus& m : st.members) {
    r.Add(absl::StrFormat("member %u", m.index),
          absl::StrFormat("%s (%s)", m.name.empty() ? "not given" : m.name,
                          wb::MemberHealthName(m.health)));
  }
  if (done == 0) std::cout << "nothing to resilver\n";
  r.Print(std::cout);
  return st.degraded ? kExitFailure : kExitOk;
}

}  // namespace

void AddResilverCommand(CLI::App& app) {
  auto a = std::make_shared<ResilverArgs>();
  CLI::App* sub = app.add_subcommand(
      "resilver",
      "Copy a mirrored cache set onto its stale or replaced members and mark "
      "them in sync (offline)");
  sub->add_option("--cache", a->caches,
                  "Every device of the set, including the ones to resilver")
      ->type_name("PATH")
      ->required();
  sub->add_flag("--allow-missing", a->allow_missing,
                "Proceed although an in-sync member is not given (it is "
                "recorded failed)");
  SetAction(sub, [a] { return RunResilver(*a); });
}

}  // namespace wbctl
