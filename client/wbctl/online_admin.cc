// wbctl message and wbctl drop-caches: dmsetup-style messages to a volume
// (tunables, clear_stat) and a full writeback with a live progress bar.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_format.h"
#include "client/lib/admin.h"
#include "client/wbctl/json_text.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/online.h"
#include "client/wbctl/output.h"

namespace wbctl {
namespace {

namespace v1 = writeboost::v1;

struct MessageArgs {
  std::string volume;
  std::string key;
  std::string value;
  bool json = false;
};

int RunMessage(const MessageArgs& a) {
  absl::StatusOr<wbclient::Options> o = GlobalConnection().ClientOptions();
  if (!o.ok()) return Fail(o.status(), kExitUsage);
  auto admin = wbclient::Admin::Connect(GlobalConnection().server, *o);
  if (!admin.ok()) return FailRpc(admin.status());
  auto resp = (*admin)->SendMessage(a.volume, a.key, a.value);
  if (!resp.ok()) return FailRpc(resp.status());
  if (a.json) {
    nlohmann::json j;
    j["volume"] = a.volume;
    j["key"] = a.key;
    if (!a.value.empty()) j["value"] = a.value;
    for (const v1::Tunable& t : resp->tunables()) j["tunables"][t.name()] = t.value();
    std::cout << JsonText(j) << "\n";
    return kExitOk;
  }
  if (a.value.empty()) {
    std::cout << a.volume << ": " << a.key << ": done\n";
  } else {
    for (const v1::Tunable& t : resp->tunables()) {
      if (t.name() == a.key) {
        bool unit = !t.unit().empty() && t.unit() != "bool" && t.unit() != "enum";
        std::cout << absl::StrFormat("%s: %s = %u%s%s\n", a.volume, t.name(), t.value(),
                                     unit ? " " : "", unit ? t.unit() : "");
      }
    }
  }
  return kExitOk;
}

// "[##########..........]  50.0%  1234 dirty blocks left" on stderr when it
// is a terminal, redrawn at most ten times a second.
class Bar {
 public:
  Bar() : enabled_(isatty(STDERR_FILENO) == 1) {}
  ~Bar() {
    if (drawn_) std::cerr << "\r\033[K" << std::flush;
  }
  void Update(uint64_t left, uint64_t initial) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && left > 0 && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    double frac = initial == 0 ? 1.0 : 1.0 - static_cast<double>(left) / initial;
    constexpr int kWidth = 30;
    int full = static_cast<int>(frac * kWidth + 0.5);
    std::cerr << absl::StrFormat("\r\033[Kwriting back [%s%s] %5.1f%%  %u dirty blocks left",
                                 std::string(full, '#'), std::string(kWidth - full, '.'),
                                 100 * frac, left)
              << std::flush;
  }

 private:
  const bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

int RunDropCaches(const std::string& volume, bool json) {
  absl::StatusOr<wbclient::Options> o = GlobalConnection().ClientOptions();
  if (!o.ok()) return Fail(o.status(), kExitUsage);
  auto admin = wbclient::Admin::Connect(GlobalConnection().server, *o);
  if (!admin.ok()) return FailRpc(admin.status());
  auto start = std::chrono::steady_clock::now();
  uint64_t initial = 0;
  absl::Status s;
  {
    Bar bar;
    s = (*admin)->DropCaches(volume, [&](const v1::DropCachesProgress& p) {
      initial = std::max(initial, p.initial_dirty_blocks());
      bar.Update(p.dirty_blocks(), initial);
    });
  }
  if (!s.ok()) return FailRpc(s);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (json) {
    nlohmann::json j;
    j["volume"] = volume;
    j["written_back_blocks"] = initial;
    j["seconds"] = secs;
    j["dirty_blocks"] = 0;
    std::cout << JsonText(j) << "\n";
  } else {
    std::cout << absl::StrFormat("%s: no dirty data left (%u blocks written back in %.1f s)\n",
                                 volume, initial, secs);
  }
  return kExitOk;
}

}  // namespace

void AddAdminCommands(CLI::App& app) {
  auto ma = std::make_shared<MessageArgs>();
  CLI::App* msg = app.add_subcommand(
      "message", "Send a message to a volume: KEY VALUE sets a tunable; "
                 "clear_stat or drop_caches alone are messages");
  msg->add_option("volume", ma->volume, "Volume name")->required();
  msg->add_option("key", ma->key, "Tunable name, or clear_stat / drop_caches")->required();
  msg->add_option("value", ma->value, "New value of the tunable");
  msg->add_flag("--json", ma->json, "Print JSON");
  UsesConnection(msg);
  SetAction(msg, [ma] { return RunMessage(*ma); });

  auto volume = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* drop = app.add_subcommand(
      "drop-caches", "Write every dirty block of a volume back to its origin, with progress");
  drop->add_option("volume", *volume, "Volume name")->required();
  drop->add_flag("--json", *json, "Print JSON");
  UsesConnection(drop);
  SetAction(drop, [volume, json] { return RunDropCaches(*volume, *json); });
}

}  // namespace wbctl
