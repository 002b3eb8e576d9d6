// wbctl attach-nbd: serves a volume over NBD on a unix socket (nbdkit with the
// writeboost plugin, docs/NBD.md) and, with --fuse-file, exposes it as a
// file through nbdfuse, ready for losetup. It stays in the foreground as
// the supervisor of both; SIGINT, SIGTERM or SIGHUP detach (unmount the
// FUSE file, stop nbdkit) and end it. If wbctl is killed outright, nbdkit
// and nbdfuse get SIGTERM from the kernel (parent-death signal) and go too.
//
// Nothing here decides a block: nbdkit and the plugin do the I/O; this file
// finds the programs, starts them, reports, and tears down.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lib/volume.h"
#include "client/wbctl/commands.h"
#include "client/wbctl/online.h"
#include "client/wbctl/output.h"

namespace wbctl {
namespace {

constexpr char kPluginFile[] = "nbdkit-writeboost-plugin.so";

struct AttachArgs {
  std::string volume;
  std::string socket;
  std::string fuse_file;
  std::string plugin;
  std::vector<std::string> plugin_args;
  bool read_only = false;
};

// A child process started by Spawn; pid 0 once reaped.
struct Child {
  std::string name;
  pid_t pid = 0;
};

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }
bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// `name` on $PATH, or "" when it is not there.
std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    std::string p = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    if (IsExecutable(p)) return p;
  }
  return "";
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// nbdkit's plugindir (nbdkit --dump-config), or "".
std::string NbdkitPluginDir(const std::string& nbdkit) {
  std::string cmd = absl::StrCat("'", nbdkit, "' --dump-config 2>/dev/null");
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::ConsumePrefix(&line, "plugindir=")) return std::string(line);
  }
  return "";
}

// The plugin: --plugin, else next to this wbctl (build/bin/wbctl ->
// build/lib/), else nbdkit's plugindir (cmake --install).
absl::StatusOr<std::string> FindPlugin(const std::string& given, const std::string& nbdkit) {
  if (!given.empty()) {
    if (IsFile(given)) return given;
    return absl::NotFoundError(absl::StrCat("no NBD plugin at ", given));
  }
  std::vector<std::string> tried;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    tried.push_back(absl::StrCat(Dirname(Dirname(self)), "/lib"));
  }
  if (std::string dir = NbdkitPluginDir(nbdkit); !dir.empty()) tried.push_back(dir);
  for (const std::string& dir : tried) {
    std::string p = absl::StrCat(dir, "/", kPluginFile);
    if (IsFile(p)) return p;
  }
  return absl::NotFoundError(absl::StrCat(
      "the NBD plugin ", kPluginFile, " is not in ", absl::StrJoin(tried, " or "),
      ": build it (cmake --build build --target nbdkit-writeboost-plugin), install it "
      "(cmake --install build) or give --plugin PATH"));
}

// fork + exec; the child gets SIGTERM when wbctl dies and an unblocked
// signal mask. `keep_fd` (or -1) stays open across exec.
pid_t Spawn(const std::vector<std::string>& argv, int keep_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Only async-signal-safe calls from here: the parent has threads.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (keep_fd >= 0) fcntl(keep_fd, F_SETFD, 0);
  execv(args[0], args.data());
  const char msg[] = "wbctl: exec failed\n";
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
  _exit(127);
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("signal ", WTERMSIG(status));
  return "unknown status";
}

// Reaps `c` if it has exited; returns true (and says how) when it has.
bool Exited(Child& c, std::string* how) {
  if (c.pid == 0) return true;
  int status;
  if (waitpid(c.pid, &status, WNOHANG) != c.pid) return false;
  c.pid = 0;
  if (how != nullptr) *how = DescribeExit(status);
  return true;
}

// SIGTERM, then SIGKILL after `grace`; reaps.
void Stop(Child& c, absl::Duration grace) {
  if (c.pid == 0) return;
  kill(c.pid, SIGTERM);
  absl::Time until = absl::Now() + grace;
  while (!Exited(c, nullptr) && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  if (c.pid != 0) {
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
    c.pid = 0;
  }
}

// Polls ready() until it holds; fails if `c` exits first or after 30 s.
absl::Status WaitReady(Child& c, const std::string& what, const std::function<bool()>& ready) {
  absl::Time until = absl::Now() + absl::Seconds(30);
  std::string how;
  while (!ready()) {
    if (Exited(c, &how)) {
      return absl::FailedPreconditionError(
          absl::StrCat(c.name, " exited (", how, ") before ", what, "; see its messages above"));
    }
    if (absl::Now() > until) {
      return absl::DeadlineExceededError(absl::StrCat(c.name, " did not ", what, " in 30 s"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::OkStatus();
}

int Run(const std::string& program, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {program};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = Spawn(argv, -1);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class Attachment {
 public:
  explicit Attachment(const AttachArgs& a) : a_(a) {}
  ~Attachment() { Teardown(/*force=*/true); }

  // Everything up to "attached"; on error, what was started is stopped.
  int Start();
  // Waits for a detach signal or a child's death; returns the exit code.
  int Supervise(const sigset_t& signals);

 private:
  // Unmounts the FUSE file (fails while it is busy unless force), stops
  // nbdkit and removes the private directory. True when done.
  bool Teardown(bool force);

  const AttachArgs a_;
  std::string dir_;  // private: the socket (unless --socket), the pid file
  std::string socket_;
  std::string fusermount_;
  Child nbdkit_{"nbdkit"};
  Child nbdfuse_{"nbdfuse"};
  bool mounted_ = false;
};

int Attachment::Start() {
  std::string nbdkit = FindProgram("nbdkit");
  if (nbdkit.empty()) {
    return Fail("nbdkit is not on PATH (Debian: apt-get install nbdkit)");
  }
  std::string nbdfuse;
  if (!a_.fuse_file.empty()) {
    nbdfuse = FindProgram("nbdfuse");
    fusermount_ = FindProgram("fusermount3");
    if (nbdfuse.empty()) {
      return Fail("nbdfuse is not on PATH (Debian: apt-get install libnbd-bin)");
    }
    if (fusermount_.empty()) {
      return Fail("fusermount3 is not on PATH (Debian: apt-get install fuse3)");
    }
  }
  absl::StatusOr<std::string> plugin = FindPlugin(a_.plugin, nbdkit);
  if (!plugin.ok()) return Fail(plugin.status());

  // The volume answers before anything starts: a wrong name or token is
  // reported here, in wbctl's words, rather than at nbdkit's first client.
  const Connection& conn = GlobalConnection();
  absl::StatusOr<wbclient::Options> options = conn.ClientOptions();
  if (!options.ok()) return Fail(options.status(), kExitUsage);
  uint64_t size;
  {
    auto vol = wbclient::Volume::Open(conn.server, a_.volume, *options);
    if (!vol.ok()) return FailRpc(vol.status());
    size = (*vol)->size();
  }

  const char* tmp = std::getenv("TMPDIR");
  dir_ = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/wbctl-attach.XXXXXX");
  if (mkdtemp(dir_.data()) == nullptr) {
    std::string err = std::strerror(errno);
    dir_.clear();
    return Fail(absl::StrCat("cannot create a private directory: ", err));
  }
  socket_ = a_.socket.empty() ? absl::StrCat(dir_, "/nbd.sock") : a_.socket;

  std::vector<std::string> argv = {nbdkit, "--foreground", "--exit-with-parent", "-U", socket_};
  if (a_.read_only) argv.push_back("-r");
  argv.push_back(*plugin);
  argv.push_back(absl::StrCat("server=", conn.server));
  argv.push_back(absl::StrCat("volume=", a_.volume));
  // The token never goes on a command line (ps shows it): a file by name,
  // else a pipe nbdkit reads at start-up.
  int token_fd = -1;
  if (!conn.token_file.empty()) {
    argv.push_back(absl::StrCat("token=+", conn.token_file));
  } else if (!options->credentials.token.empty()) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return Fail("pipe failed");
    const std::string& t = options->credentials.token;
    if (write(p[1], t.data(), t.size()) != static_cast<ssize_t>(t.size())) {
      return Fail("cannot pass the token to nbdkit");
    }
    close(p[1]);
    token_fd = p[0];
    argv.push_back(absl::StrCat("token=-", token_fd));
  }
  const wbclient::Credentials& cred = options->credentials;
  if (cred.tls) argv.push_back("tls=true");
  if (!cred.ca_file.empty()) argv.push_back("tls-ca=" + cred.ca_file);
  if (!cred.cert_file.empty()) argv.push_back("tls-cert=" + cred.cert_file);
  if (!cred.key_file.empty()) argv.push_back("tls-key=" + cred.key_file);
  if (!cred.server_name.empty()) argv.push_back("tls-server-name=" + cred.server_name);
  argv.insert(argv.end(), a_.plugin_args.begin(), a_.plugin_args.end());

  unlink(socket_.c_str());
  nbdkit_.pid = Spawn(argv, token_fd);
  if (token_fd >= 0) close(token_fd);
  if (nbdkit_.pid < 0) return Fail("cannot start nbdkit");
  absl::Status s = WaitReady(nbdkit_, "listening on " + socket_, [&] {
    struct stat st;
    return stat(socket_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
  });
  if (!s.ok()) return Fail(s);

  if (!a_.fuse_file.empty()) {
    std::string pidfile = absl::StrCat(dir_, "/nbdfuse.pid");
    std::vector<std::string> fargv = {nbdfuse, "-P", pidfile};
    if (a_.read_only) fargv.push_back("-r");
    fargv.insert(fargv.end(), {a_.fuse_file, "--unix", socket_});
    nbdfuse_.pid = Spawn(fargv, -1);
    if (nbdfuse_.pid < 0) return Fail("cannot start nbdfuse");
    s = WaitReady(nbdfuse_, "mounting " + a_.fuse_file, [&] {
      struct stat st;
      return stat(pidfile.c_str(), &st) == 0 && st.st_size > 0;
    });
    if (!s.ok()) return Fail(s);
    mounted_ = true;
  }

  std::string uri = absl::StrCat("nbd+unix:///?socket=", socket_);
  Report r;
  r.Add("attached", absl::StrCat("volume ", a_.volume, " (", FormatSize(size),
                                 a_.read_only ? ", read-only" : "", ") of ", conn.server));
  r.Add("nbd", uri);
  if (!a_.fuse_file.empty()) {
    r.Add("file", a_.fuse_file);
    r.Add("block device", absl::StrCat("losetup -f --show --direct-io=on ", a_.fuse_file));
  } else {
    r.Add("block device", absl::StrCat("nbd-client -unix ", socket_, " /dev/nbdN -b 4096 -C 4"));
    r.Add("qemu", absl::StrCat("-drive file=", uri, ",format=raw,if=virtio,cache=none"));
  }
  r.Add("processes", absl::StrCat("wbctl ", getpid(), ", nbdkit ", nbdkit_.pid,
                                  nbdfuse_.pid != 0 ? absl::StrCat(", nbdfuse ", nbdfuse_.pid)
                                                    : ""));
  r.Add("detach", absl::StrCat("detach loop/nbd devices first, then kill -TERM ", getpid(),
                               " (or Ctrl-C)"));
  r.Print(std::cout);
  std::cout.flush();
  return kExitOk;
}

int Attachment::Supervise(const sigset_t& signals) {
  while (true) {
    timespec tick{1, 0};
    siginfo_t info;
    int sig = sigtimedwait(&signals, &info, &tick);
    std::string how;
    for (Child* c : {&nbdkit_, &nbdfuse_}) {
      if (c->pid != 0 && Exited(*c, &how)) {
        Warn(absl::StrCat(c->name, " exited (", how, "); detaching"));
        Teardown(/*force=*/true);
        return kExitFailure;
      }
    }
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      if (Teardown(/*force=*/false)) {
        std::cerr << "wbctl: detached volume " << a_.volume << "\n";
        return kExitOk;
      }
    }
  }
}

bool Attachment::Teardown(bool force) {
  if (mounted_) {
    // Unmounting ends nbdfuse. While a loop device or an open file holds
    // the FUSE file it fails: say so and stay attached, rather than pull
    // the device from under a filesystem.
    std::vector<std::string> args = {"-u"};
    if (force) args.push_back("-z");
    args.push_back(Dirname(a_.fuse_file));
    if (Run(fusermount_, args) != 0 && !force) {
      Warn(absl::StrCat(Dirname(a_.fuse_file), " is busy (a loop device or an open file "
                        "uses ", a_.fuse_file, "): detach that first; still attached"));
      return false;
    }
    mounted_ = false;
  }
  Stop(nbdfuse_, absl::Seconds(10));
  Stop(nbdkit_, absl::Seconds(10));
  if (!dir_.empty()) {
    unlink(absl::StrCat(dir_, "/nbdfuse.pid").c_str());
    unlink(absl::StrCat(dir_, "/nbd.sock").c_str());
    rmdir(dir_.c_str());
    dir_.clear();
  }
  return true;
}

int RunAttach(const AttachArgs& a) {
  if (a.socket.empty() && a.fuse_file.empty()) {
    return Fail("give --socket PATH (NBD) or --fuse-file PATH (a file for losetup), or both",
                kExitUsage);
  }
  for (const std::string& kv : a.plugin_args) {
    if (kv.find('=') == std::string::npos) {
      return Fail(absl::StrCat("--plugin-arg wants KEY=VALUE, not \"", kv, "\""), kExitUsage);
    }
  }
  if (!a.fuse_file.empty()) {
    struct stat st;
    std::string dir = Dirname(a.fuse_file);
    if (a.fuse_file.back() == '/' || stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Fail(absl::StrCat("--fuse-file wants DIR/NAME with an existing, empty directory "
                               "DIR to mount on; ", dir, " is not a directory"),
                  kExitUsage);
    }
  }
  // Before any thread exists (gRPC starts some): every thread inherits the
  // mask, so these signals reach only sigtimedwait below.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Attachment attachment(a);
  if (int rc = attachment.Start(); rc != kExitOk) return rc;
  return attachment.Supervise(signals);
}

}  // namespace

void AddAttachNbdCommand(CLI::App& app) {
  auto a = std::make_shared<AttachArgs>();
  CLI::App* attach = app.add_subcommand(
      "attach-nbd",
      "Serve a volume over NBD on a unix socket (nbdkit + the writeboost plugin) and, with "
      "--fuse-file, as a file for losetup (nbdfuse); stays in the foreground, SIGTERM or "
      "Ctrl-C detaches");
  attach->add_option("volume", a->volume, "Volume name")->required();
  attach->add_option("--socket", a->socket,
                     "NBD unix socket to serve on (default with --fuse-file: a private one)");
  attach->add_option("--fuse-file", a->fuse_file,
                     "Expose the volume as this file; its directory is the FUSE mount point");
  attach->add_option("--plugin", a->plugin,
                     std::string("The nbdkit plugin (default: ../lib/") + kPluginFile +
                         " next to wbctl, else nbdkit's plugindir)");
  attach->add_option("--plugin-arg", a->plugin_args,
                     "Extra plugin parameter KEY=VALUE (docs/NBD.md), repeatable")
      ->allow_extra_args(false);
  attach->add_flag("--read-only", a->read_only, "Export read-only");
  UsesConnection(attach);
  SetAction(attach, [a] { return RunAttach(*a); });
}

}  // namespace wbctl
