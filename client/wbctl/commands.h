// wbctl's command families. main.cc builds one CLI11 app and hands it to
// each family's registration function; a family adds its subcommands and
// their actions. See docs/WBCTL.md for the user-facing reference.
//
// Conventions every command keeps:
// - Exit codes: kExitOk, kExitFailure (the operation failed or found a
//   problem), kExitUsage (bad command line, detected by CLI11 or by the
//   command before it touches any device).
// - Errors: one line on stderr, "wbctl: <message>" (output.h: Fail), never
//   an exception or a stack trace past main().
// - Results go to stdout; progress and warnings go to stderr.
#ifndef WRITEBOOST_CLIENT_WBCTL_COMMANDS_H_
#define WRITEBOOST_CLIENT_WBCTL_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <functional>

namespace wbctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Makes `action` the body of subcommand `sub`. CLI11 runs it after the whole
// command line parsed and validated; its return value becomes the exit code
// (a non-zero code travels to main() as CLI::RuntimeError, which main() turns
// back into the exit code without printing anything).
inline void SetAction(CLI::App* sub, std::function<int()> action) {
  sub->callback([action = std::move(action)] {
    int code = action();
    if (code != kExitOk) throw CLI::RuntimeError(code);
  });
}

// format, check, dump, drain: work on the devices directly, with no server
// running (offline_commands.cc, inspect_commands.cc).
void AddOfflineCommands(CLI::App& app);

// check and dump; called by AddOfflineCommands (inspect_commands.cc).
void AddInspectCommands(CLI::App& app);

// resilver: a mirrored cache set's stale members back in sync; called by
// AddOfflineCommands (offline_resilver.cc).
void AddResilverCommand(CLI::App& app);

#ifdef WBCTL_WITH_ONLINE
// Commands that talk to a running node over gRPC (online_*.cc), compiled in
// when the client library is built.
void AddOnlineCommands(CLI::App& app);

// attach-nbd: nbdkit + the NBD plugin (+ nbdfuse) for a volume
// (online_attach_nbd.cc).
void AddAttachNbdCommand(CLI::App& app);
#endif

}  // namespace wbctl

#endif  // WRITEBOOST_CLIENT_WBCTL_COMMANDS_H_
