// wbctl pacing: the writeboost-controller's view of cluster-wide writeback
// pacing: each origin group's budget, and per node and volume the latest
// report and the current grant (docs/CONTROLLER.md, docs/WBCTL.md).
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "client/lib/channel.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/json_text.h"
#include "client/wbctl/online.h"
#include "client/wbctl/output.h"
#include "writeboost/v1/controller.grpc.pb.h"

namespace wbctl {
namespace {

namespace v1 = writeboost::v1;

// writeboost-controller's default --listen.
constexpr char kDefaultController[] = "127.0.0.1:7300";

std::string Rate(double bytes_per_second) {
  return FormatSize(static_cast<uint64_t>(bytes_per_second > 0 ? bytes_per_second : 0)) + "/s";
}

std::string GrantText(const v1::Grant& g) {
  if (g.unlimited()) return "unlimited";
  std::string s = Rate(g.bytes_per_second());
  if (g.iops() > 0) s += absl::StrFormat(", %.0f IOPS", g.iops());
  return s;
}

std::string GroupLine(const v1::GroupPacing& g) {
  std::string s = absl::StrFormat("group %s (%s)", g.name(), g.mode());
  if (g.mode() != "unlimited") {
    s += ": budget " + Rate(g.budget_bytes_per_second());
    if (g.budget_iops() > 0) s += absl::StrFormat(", %.0f IOPS", g.budget_iops());
  }
  s += g.mode() == "unlimited" ? ": " : "; ";
  if (g.mode() == "aimd") s += absl::StrFormat("target p99 %.1f ms, ", g.target_p99_ms());
  s += absl::StrFormat("origin p99 %.1f ms", g.observed_p99_ms());
  return s;
}

void PrintView(const std::string& controller, const v1::GetPacingResponse& view) {
  std::cout << absl::StrFormat("controller %s: lease %u ms, %d group%s\n", controller,
                               view.lease_ms(), view.groups_size(),
                               view.groups_size() == 1 ? "" : "s");
  for (const v1::GroupPacing& g : view.groups()) {
    std::cout << "\n" << GroupLine(g) << "\n";
    if (g.nodes_size() == 0) {
      std::cout << "  (no volumes reported)\n";
      continue;
    }
    std::cout << absl::StrFormat("  %-14s %-14s %10s %10s %4s %12s %9s %12s %7s  %s\n", "NODE",
                                 "VOLUME", "DIRTY", "TO STALL", "WAIT", "WRITEBACK",
                                 "ORIG P99", "FOREGROUND", "AGE", "GRANT");
    for (const v1::NodePacing& n : g.nodes()) {
      for (const v1::VolumePacing& v : n.volumes()) {
        const v1::VolumeReport& r = v.report();
        std::cout << absl::StrFormat(
            "  %-14s %-14s %10s %10s %4u %12s %6.1f ms %12s %5.1f s  %s\n", n.node_id(),
            r.volume(), FormatSize(r.dirty_bytes()), FormatSize(r.bytes_to_stall()),
            r.writers_waiting(), Rate(r.writeback_bytes_per_second()), r.origin_p99_ms(),
            Rate(r.foreground_write_bytes_per_second()), n.last_report_age_ms() / 1000.0,
            GrantText(v.grant()));
      }
    }
  }
}

int RunPacing(const std::string& controller, bool json) {
  absl::StatusOr<wbclient::Options> o = GlobalConnection().ClientOptions();
  if (!o.ok()) return Fail(o.status(), kExitUsage);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      wbclient::MakeChannel(controller, o->credentials);
  if (!channel.ok()) return Fail(channel.status(), kExitUsage);
  std::unique_ptr<v1::ControllerService::Stub> stub = v1::ControllerService::NewStub(*channel);
  grpc::ClientContext ctx;
  wbclient::PrepareContext(&ctx, *o);
  v1::GetPacingResponse view;
  absl::Status s = wbclient::FromGrpcStatus(stub->GetPacing(&ctx, v1::GetPacingRequest(), &view));
  if (!s.ok()) return FailRpc(s);
  if (json) {
    std::cout << JsonText(ProtoToJson(view)) << "\n";
  } else {
    PrintView(controller, view);
  }
  return kExitOk;
}

}  // namespace

void AddPacingCommand(CLI::App& app) {
  auto controller = std::make_shared<std::string>();
  const char* env = std::getenv("WB_CONTROLLER");
  *controller = env != nullptr ? env : kDefaultController;
  auto json = std::make_shared<bool>(false);
  CLI::App* pacing = app.add_subcommand(
      "pacing", "Show the writeboost-controller's view: origin groups and their budgets, "
                "nodes, volumes, their latest reports and current grants");
  pacing->add_option("--controller", *controller,
                     std::string("Controller address, HOST:PORT (default $WB_CONTROLLER or ") +
                         kDefaultController + ")");
  pacing->add_flag("--json", *json, "Print JSON (the GetPacingResponse, the proto's field names)");
  UsesConnection(pacing);
  SetAction(pacing, [controller, json] { return RunPacing(*controller, *json); });
}

}  // namespace wbctl
