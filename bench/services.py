"""Servers for the network cases of bench/run.py: writeboostd and nbdkit on
unix sockets in the run's work directory.

Services is a context manager: every process started through it is stopped
when the block ends, also on an error, and each is tied to this Python
process (PR_SET_PDEATHSIG) so that none outlives a killed bench.
"""
import ctypes
import os
import re
import signal
import socket
import subprocess
import time

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def zero_file(path, mib):
    """A fully written file: random writes into a sparse one fragment it into
    one extent per block, and deleting that on this ext4 (mounted with
    discard) took minutes."""
    subprocess.run(["dd", "if=/dev/zero", "of=" + path, "bs=1M", "count=%d" % mib,
                    "oflag=direct", "status=none"], check=True)


class Server:
    def __init__(self, name, proc, sock, log):
        self.name, self.proc, self.sock, self.log = name, proc, sock, log

    def log_tail(self):
        with open(self.log) as f:
            return f.read()[-2000:]


class Services:
    def __init__(self, work, build):
        self.work = work
        self.build = build
        self.servers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for s in reversed(self.servers):
            self.stop(s)

    def _start(self, name, cmd, sock):
        log = os.path.join(self.work, name + ".log")
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        server = Server(name, proc, sock, log)
        self.servers.append(server)
        return server

    def _wait(self, server, ready, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError("%s exited with %d:\n%s" % (
                    server.name, server.proc.returncode, server.log_tail()))
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError("%s not ready after %d s:\n%s" % (
            server.name, timeout, server.log_tail()))

    def writeboostd(self, name, volume, origin, cache, cache_mib, tunables=()):
        """Starts writeboostd serving `volume`; formats `cache` (created at
        cache_mib MiB) for the existing `origin`. Call wait_serving() before
        using it, so that several can format at once."""
        sock = os.path.join(self.work, name + ".sock")
        spec = "name=%s,origin=%s,cache=%s,cache_size=%dM" % (volume, origin, cache, cache_mib)
        for t in tunables:
            spec += "," + t
        return self._start(name, [os.path.join(self.build, "bin", "writeboostd"),
                                  "--listen=unix:" + sock, "--metrics_listen=none",
                                  "--data_dir=" + self.work, "--volume=" + spec], sock)

    def wait_serving(self, server, timeout=300):
        def serving():
            with open(server.log) as f:
                return re.search(r"volume \S+: serving", f.read()) is not None
        self._wait(server, serving, timeout)

    def nbdkit(self, name, *plugin_args):
        """nbdkit in the foreground on its own socket; returns once it accepts."""
        sock = os.path.join(self.work, name + ".sock")
        server = self._start(name, ["nbdkit", "-f", "--exit-with-parent", "-U", sock,
                                    *plugin_args], sock)

        def accepts():
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(sock)
                    return True
                except OSError:
                    return False
        self._wait(server, accepts, 30)
        return server

    def stop(self, server):
        """SIGTERM (writeboostd seals and flushes), SIGKILL after 60 s."""
        if server.proc.poll() is None:
            server.proc.terminate()
            try:
                server.proc.wait(60)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()
        if server in self.servers:
            self.servers.remove(server)
