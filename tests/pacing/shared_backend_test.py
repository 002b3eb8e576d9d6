#!/usr/bin/env python3
"""Three writeboostd nodes whose origins share one back end, with and without
writeboost-controller (docs/CONTROLLER.md).

The shared back end is one nbdkit serving three files as three exports, behind
nbdkit's rate filter: one bandwidth limit for all of them, so that one node's
writeback makes the others' origin I/O slower, as on a SAN or an HDD shelf.

  1. Calibration: one lone write back measures the idle origin latency; the
     group's latency target is twice its p99 (at least 50 ms, for scheduling noise).
  2. Without the controller, all three nodes take a write burst at once and
     write back as fast as they can: the group's origin p99 must go over the
     target, or a node's writers must wait on a full log. Otherwise this test
     shows nothing and fails.
  3. With the controller (capacity mode, below the back end's bandwidth), the
     same burst: the group's origin p99 stays under the target and no writer
     ever waits on a full log.
  4. The controller is killed mid-burst: within a lease period every node is
     back to local pacing and writes back to the end; restarted, its grants
     are in force again on every node.
  5. Every byte of every burst is on the origins (read straight from the
     files behind nbdkit after the nodes stopped).

Usage: shared_backend_test.py BUILD_BIN_DIR
"""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
RATE_BYTES = 24 << 20          # the back end's bandwidth, bytes/s
CAPACITY = int(RATE_BYTES * 0.5)  # what the controller may hand out
BURST = 40 << 20               # bytes written to each node per phase
ORIGIN_SIZE = 256 << 20
CACHE_SIZE = 128 << 20
LEASE_MS = 2000
NODES = ["a", "b", "c"]

procs = []


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, logfile):
    f = open(logfile, "ab")
    p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=60):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            fail(f"{p.args[0]} did not stop within {timeout} s of {sig}")


def wait_for(what, pred, timeout=60, every=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    fail(f"timed out after {timeout} s waiting for {what}")


def wbctl(*args, check=True):
    r = subprocess.run([f"{BIN}/wbctl", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        fail(f"wbctl {' '.join(args)}: {r.stderr.strip()}")
    return r


def scrape(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


SAMPLE = re.compile(r'^([a-z_]+)\{([^}]*)\} (\S+)$')


def samples(text, name):
    """[(labels dict, value)] of one metric."""
    out = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) == name:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            out.append((labels, float(m.group(3))))
    return out


def metric(text, name, **want):
    for labels, v in samples(text, name):
        if all(labels.get(k) == v2 for k, v2 in want.items()):
            return v
    return None


def write_latency_buckets(text):
    """{le: cumulative count} of origin write latencies."""
    b = {}
    for labels, v in samples(text, "writeboost_origin_io_latency_seconds_bucket"):
        if labels.get("op") == "write":
            b[labels["le"]] = b.get(labels["le"], 0) + v
    return b


class Node:
    def __init__(self, name, work, sock):
        self.name = name
        self.port = free_port()
        self.mport = free_port()
        self.data = os.path.join(work, f"node-{name}")
        os.makedirs(self.data, exist_ok=True)
        self.origin_file = os.path.join(work, "backend", f"origin-{name}")
        self.uri = f"nbd+unix:///origin-{name}?socket={sock}"
        self.proc = None
        self.log = os.path.join(work, f"node-{name}.log")

    def start(self, controller=None):
        args = [f"{BIN}/writeboostd", f"--listen=127.0.0.1:{self.port}",
                f"--metrics-listen=127.0.0.1:{self.mport}", f"--data-dir={self.data}",
                f"--node-id=node-{self.name}", "--origin-group=shared",
                f"--volume=name=vol,origin={self.uri},"
                f"cache={self.data}/cache,cache_size={CACHE_SIZE >> 20}M"]
        if controller:
            args.append(f"--controller={controller}")
        self.proc = start(args, self.log)
        wait_for(f"node {self.name} serving",
                 lambda: wbctl("--server", f"127.0.0.1:{self.port}", "status", "vol",
                               check=False).returncode == 0, timeout=30)

    def stop(self):
        stop(self.proc)

    def metrics(self):
        return scrape(self.mport)

    def write(self, offset, path):
        return subprocess.Popen([f"{BIN}/wbctl", "--server", f"127.0.0.1:{self.port}",
                                 "write", "vol", "--offset", str(offset), "--file", path],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def dirty(self):
        return metric(self.metrics(), "writeboost_dirty_bytes", volume="vol")

    def grant(self):
        return metric(self.metrics(), "writeboost_writeback_grant_bytes_per_second", volume="vol")


def group_p99(nodes, before):
    """p99 of origin write latency over all nodes since `before` (seconds:
    the upper bound of the histogram bucket holding it)."""
    after = [write_latency_buckets(n.metrics()) for n in nodes]
    les = sorted(after[0], key=lambda k: float("inf") if k == "+Inf" else float(k))
    cum = [(le, sum(a[le] for a in after) - sum(b.get(le, 0) for b in before)) for le in les]
    total = cum[-1][1]
    if total == 0:
        return None, 0
    for le, c in cum:
        if c >= 0.99 * total:
            return (float("inf") if le == "+Inf" else float(le)), int(total)
    return float("inf"), int(total)


def log_full_waits(nodes):
    return sum(metric(n.metrics(), "writeboost_log_full_waits_total", volume="vol") or 0
               for n in nodes)


def burst(nodes, phase, work, expected):
    """Writes BURST bytes of fresh random data to every node at once; records
    what each origin must hold in the end."""
    offset = phase * BURST
    writers = []
    for n in nodes:
        path = os.path.join(work, f"burst-{n.name}-{phase}")
        data = random.randbytes(BURST)
        with open(path, "wb") as f:
            f.write(data)
        expected.setdefault(n.name, []).append((offset, path))
        writers.append(n.write(offset, path))
    for w in writers:
        _, err = w.communicate(timeout=120)
        if w.returncode != 0:
            fail(f"write burst: {err.strip()}")


def measured_burst(nodes, phase, work, expected, what):
    """A burst on every node, drained; returns the group's origin write p99
    (s) and the writes that waited on a full log meanwhile."""
    before = [write_latency_buckets(n.metrics()) for n in nodes]
    waits0 = log_full_waits(nodes)
    t0 = time.time()
    burst(nodes, phase, work, expected)
    wait_drained(nodes)
    p99, writes = group_p99(nodes, before)
    waits = log_full_waits(nodes) - waits0
    log(f"{what}: group origin p99 {p99 * 1e3:.0f} ms over {writes} writes, "
        f"{waits:.0f} writes waited on a full log, drained in {time.time() - t0:.1f} s")
    return p99, waits


def wait_drained(nodes, timeout=120):
    wait_for("every node written back",
             lambda: all(n.dirty() == 0 for n in nodes), timeout=timeout, every=0.25)


def main():
    random.seed(20261128)
    work = tempfile.mkdtemp(prefix="wb-pacing-")
    backend = os.path.join(work, "backend")
    os.makedirs(backend)
    sock = os.path.join(work, "backend.sock")
    for name in NODES:
        with open(os.path.join(backend, f"origin-{name}"), "wb") as f:
            f.truncate(ORIGIN_SIZE)
    # One back end, one bandwidth for the three exports (rate= is the
    # server-wide limit), with a small bucket so that bursts queue.
    start(["nbdkit", "-f", "--exit-with-parent", "-U", sock, "--filter=rate",
           "file", f"dir={backend}", f"rate={RATE_BYTES * 8}", "burstiness=0.25"],
          os.path.join(work, "nbdkit.log"))
    wait_for("nbdkit socket", lambda: os.path.exists(sock), timeout=10)

    nodes = [Node(n, work, sock) for n in NODES]
    expected = {}
    ok = False
    try:
        # 1. Calibration: a lone node writes back 1 MiB at a time.
        a = nodes[0]
        a.start()
        before = [write_latency_buckets(a.metrics())]
        path = os.path.join(work, "calibrate")
        with open(path, "wb") as f:
            f.write(random.randbytes(1 << 20))
        for i in range(8):
            expected.setdefault("a", []).append(((200 << 20) + i * (4 << 20), path))
            w = a.write((200 << 20) + i * (4 << 20), path)
            w.communicate(timeout=60)
            wbctl("--server", f"127.0.0.1:{a.port}", "drop-caches", "vol")
        idle_p99, n_idle = group_p99([a], before)
        if n_idle == 0:
            fail("calibration: no origin write was measured")
        # The floor absorbs scheduling noise on a loaded 2-core machine; the
        # uncontrolled burst is measured in seconds.
        target = max(2 * idle_p99, 0.05)
        log(f"idle origin write p99 {idle_p99 * 1e3:.1f} ms over {n_idle} writes; "
            f"group target {target * 1e3:.0f} ms")
        a.stop()

        # 2. No controller.
        for n in nodes:
            n.start()
        free_p99, free_waits = measured_burst(nodes, 0, work, expected, "without controller")
        for n in nodes:
            n.stop()

        # 3. With the controller.
        cport, cmport = free_port(), free_port()
        ccfg = os.path.join(work, "controller.json")
        with open(ccfg, "w") as f:
            f.write('{"lease_ms": %d, "report_interval_ms": 250, "groups": {"shared": '
                    '{"capacity_bytes_per_second": %d}}}' % (LEASE_MS, CAPACITY))
        ctl_args = [f"{BIN}/writeboost-controller", f"--listen=127.0.0.1:{cport}",
                    f"--metrics-listen=127.0.0.1:{cmport}", f"--config={ccfg}"]
        ctl = start(ctl_args, os.path.join(work, "controller.log"))
        caddr = f"127.0.0.1:{cport}"
        for n in nodes:
            n.start(controller=caddr)
        wait_for("grants on every node", lambda: all((n.grant() or 0) > 0 for n in nodes),
                 timeout=15)
        paced_p99, paced_waits = measured_burst(nodes, 1, work, expected,
                                                "with controller (capacity)")
        pacing = wbctl("pacing", "--controller", caddr).stdout
        log("wbctl pacing:\n" + pacing)
        if paced_p99 > target:
            fail(f"with the controller the group's origin p99 {paced_p99 * 1e3:.0f} ms "
                 f"is over the target {target * 1e3:.0f} ms")
        if paced_waits > 0:
            fail(f"with the controller {paced_waits:.0f} writes waited on a full log")
        if free_p99 <= target and free_waits == 0:
            fail(f"without the controller the group's p99 {free_p99 * 1e3:.0f} ms was under "
                 f"the target and nobody stalled: this back end shows no difference")

        # 3b. The controller adapting the budget to the group's latency
        # (AIMD against the target) instead of a configured capacity.
        stop(ctl)
        with open(ccfg, "w") as f:
            f.write('{"lease_ms": %d, "report_interval_ms": 250, "groups": {"shared": '
                    '{"target_p99_ms": %.1f, "max_bytes_per_second": %d}}}'
                    % (LEASE_MS, target * 1e3, RATE_BYTES))
        ctl = start(ctl_args, os.path.join(work, "controller.log"))
        wait_for("AIMD grants on every node", lambda: all((n.grant() or 0) > 0 for n in nodes),
                 timeout=15)
        aimd_p99, aimd_waits = measured_burst(nodes, 3, work, expected,
                                              "with controller (aimd)")
        log("wbctl pacing:\n" + wbctl("pacing", "--controller", caddr).stdout)
        if aimd_p99 > target:
            fail(f"with the controller in aimd mode the group's origin p99 "
                 f"{aimd_p99 * 1e3:.0f} ms is over the target {target * 1e3:.0f} ms")
        if aimd_waits > 0:
            fail(f"with the controller in aimd mode {aimd_waits:.0f} writes waited on a full log")

        # 4. Kill the controller mid-burst, then bring it back.
        writers = []
        for n in nodes:
            path = os.path.join(work, f"burst-{n.name}-2")
            with open(path, "wb") as f:
                f.write(random.randbytes(BURST))
            expected.setdefault(n.name, []).append((2 * BURST, path))
            writers.append(n.write(2 * BURST, path))
        for w in writers:
            w.communicate(timeout=120)
        time.sleep(0.5)
        stop(ctl, signal.SIGKILL)
        killed = time.time()
        wait_for("every node back to local pacing",
                 lambda: all(n.grant() == 0 for n in nodes),
                 timeout=LEASE_MS / 1000 + 3)
        log(f"controller killed: local pacing on every node after "
            f"{time.time() - killed:.1f} s (lease {LEASE_MS} ms)")
        wait_drained(nodes)
        ctl = start(ctl_args, os.path.join(work, "controller.log"))
        restarted = time.time()
        wait_for("grants again on every node", lambda: all((n.grant() or 0) > 0 for n in nodes),
                 timeout=15)
        log(f"controller restarted: grants in force again after "
            f"{time.time() - restarted:.1f} s")
        for n in nodes:
            n.stop()
        stop(ctl)

        # 5. Nothing lost: every burst is on its origin.
        for n in nodes:
            with open(n.origin_file, "rb") as f:
                for offset, path in expected[n.name]:
                    with open(path, "rb") as d:
                        want = d.read()
                    f.seek(offset)
                    if f.read(len(want)) != want:
                        fail(f"origin of node {n.name}: data written at {offset} is not there")
        log(f"all {sum(len(v) for v in expected.values())} writes are on the origins")
        ok = True
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.kill()
                p.wait()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"logs kept in {work}")
            for name in os.listdir(work):
                if name.endswith(".log"):
                    log(f"--- {name} (tail)")
                    with open(os.path.join(work, name), errors="replace") as f:
                        print("".join(f.readlines()[-25:]))
    log("PASS")


if __name__ == "__main__":
    main()
