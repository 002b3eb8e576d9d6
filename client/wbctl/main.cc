// wbctl: the writeboost command-line tool. Builds the CLI11 app, lets each
// command family register its subcommands (commands.h) and maps everything
// that can end a run onto the exit codes of docs/WBCTL.md.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "client/wbctl/commands.h"
#include "server/core/format/layout.h"

namespace {

// The subcommand the user was in when parsing failed, for the hint.
std::string HelpHint(const CLI::App& app) {
  std::vector<CLI::App*> subs = app.get_subcommands();
  if (subs.empty()) return "; see 'wbctl --help'";
  return "; see 'wbctl " + subs.front()->get_name() + " --help'";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Manage writeboost caches: log-structured write-back caches "
      "in front of a block device or file.",
      "wbctl"};
  app.set_version_flag("--version",
                       std::string("wbctl ") + WB_VERSION + " (cache format " +
                           std::to_string(wb::kFormatVersion) + ")");
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 success, 1 failure, 2 usage error. "
      "See docs/WBCTL.md.");
  app.fallthrough(false);
  wbctl::AddOfflineCommands(app);
#ifdef WBCTL_WITH_ONLINE
  wbctl::AddOnlineCommands(app);
  wbctl::AddAttachNbdCommand(app);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    // A command's non-zero exit code (commands.h: SetAction); the command
    // has already said why.
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "wbctl: " << e.what() << HelpHint(app) << "\n";
    return wbctl::kExitUsage;
  } catch (const std::exception& e) {
    // Nothing in wbctl throws on purpose; keep even a bug to one line.
    std::cerr << "wbctl: internal error: " << e.what() << "\n";
    return wbctl::kExitFailure;
  }
  return wbctl::kExitOk;
}
