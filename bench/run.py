#!/usr/bin/env python3
"""make bench: side-by-side figures, each a ratio measured in one run.

Writes bench/results/latest.json, prints a table, and plots throughput and
latency over time with gnuplot (bench/results/timeline.png). BENCH=full runs
longer and repeats more. Every key of the benchmark issue is present; a case
whose feature is not built yet is null with the reason.

The network cases start writeboostd and nbdkit servers (services.py) and
drive them with grpc_bench (libwbclient) and fio's nbd engine; everything
they start is stopped, and the work directory under /var/tmp removed, even
on an error.
"""
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from services import Services, zero_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")
RESULTS = os.path.join(ROOT, "bench", "results")
FULL = os.environ.get("BENCH") == "full"
REPS = 5 if FULL else 3
RAMBUF_MIB = 64
SEGMENT = "512k"


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout
    except subprocess.CalledProcessError as e:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], e.returncode, e.stderr[-2000:]))


def core_bench(mode, work, *flags):
    for f in ("cache", "origin"):
        path = os.path.join(work, f)
        if os.path.exists(path):
            os.unlink(path)
    if not os.path.isdir(work):
        work = tempfile.gettempdir()
    out = run([os.path.join(BIN, "core_bench"), "--mode=" + mode,
               "--cache=" + os.path.join(work, "cache"),
               "--origin=" + os.path.join(work, "origin"),
               "--rambuf_mib=%d" % RAMBUF_MIB, *flags])
    return json.loads(out.strip().splitlines()[-1])


def fio(work, *args):
    out = run(["fio", "--name=bench", "--filename=" + os.path.join(work, "cache"),
               "--direct=1", "--output-format=json", *args])
    job = json.loads(out)["jobs"][0]["write"]
    return {"mib_per_s": job["bw_bytes"] / 2**20, "iops": job["iops"]}


def ratio_entry(value, num, num_unit, den, den_unit, goal=None, spread=None, note=None):
    e = {"value": round(value, 4) if value is not None else None,
         "numerator": num, "numerator_unit": num_unit,
         "denominator": den, "denominator_unit": den_unit}
    if goal is not None:
        e["goal"] = goal
    if spread is not None:
        e["spread"] = spread
    if note:
        e["note"] = note
    return e


def ingest_ratio(work):
    """Core random 4K ingest vs fio sequential writes of the same file,
    alternating sides REPS times; the median ratio and its spread."""
    ratios, cores, fios = [], [], []
    multiple = 10
    size_mib = RAMBUF_MIB * multiple
    for rep in range(REPS):
        timeline = os.path.join(RESULTS, "ingest_timeline.dat") if rep == 0 else ""
        c = core_bench("ingest", work, "--multiple=%d" % multiple, "--cache_mib=2048",
                       "--timeline=" + timeline)
        # The same file, segment-sized I/O at the core's depth (its RAM
        # buffers, capped by the device queue of 128).
        f = fio(work, "--rw=write", "--bs=" + SEGMENT, "--ioengine=io_uring",
                "--iodepth=128", "--size=%dm" % size_mib)
        cores.append(c["mib_per_s"])
        fios.append(f["mib_per_s"])
        ratios.append(c["mib_per_s"] / f["mib_per_s"])
    return ratio_entry(statistics.median(ratios), statistics.median(cores), "MiB/s",
                       statistics.median(fios), "MiB/s", goal=">= 0.99",
                       spread=[round(min(ratios), 4), round(max(ratios), 4)])


def ack_latency(work):
    secs = "10" if FULL else "4"
    r = core_bench("ack_latency", work, "--cache_mib=1024", "--seconds=" + secs,
                   "--timeline=" + os.path.join(RESULTS, "ack_timeline.dat"))
    return ({"value": r["p50_us"], "unit": "us", "goal": "<= 5", "writes": r["writes"]},
            {"value": r["p99_us"], "unit": "us", "goal": "<= 20", "writes": r["writes"]})


def fua(work):
    secs = "10" if FULL else "4"
    qd1 = core_bench("fua", work, "--qd=1", "--cache_mib=1024", "--seconds=" + secs)
    qd32 = core_bench("fua", work, "--qd=32", "--cache_mib=1024", "--seconds=" + secs)
    f = fio(work, "--rw=randwrite", "--bs=4k", "--ioengine=psync", "--fdatasync=1",
            "--size=256m", "--runtime=" + secs, "--time_based")
    return (ratio_entry(qd1["iops"] / f["iops"], qd1["iops"], "IOPS (core FUA, qd1)",
                        f["iops"], "IOPS (fio 4k fdatasync=1)", goal=">= 1.0"),
            ratio_entry(qd32["iops"] / qd1["iops"], qd32["iops"], "IOPS (core FUA, qd32)",
                        qd1["iops"], "IOPS (core FUA, qd1)",
                        note="group commits at qd32: %d" % qd32["group_commits"]))


def restart(work):
    r = core_bench("restart", work, "--cache_mib=%d" % (4096 if FULL else 1024))
    return {"value": round(r["s_per_gib"], 4), "unit": "s/GiB", "cache_gib": r["cache_gib"],
            "dirty_blocks": r["replayed_blocks"], "segments": r["segments"],
            "segments_data_checked": r["segments_data_checked"]}


HDD_MODEL = "7200 rpm model: 8.33 ms rotation, 8.5 ms avg seek, 15 ms full stroke, 200 MB/s"


def hdd(rotation="positional"):
    """Writeback of random writes on the HDD model, and clients through a
    small cache, each against the same writes straight to the model. With
    rotation="random" the model charges a random fraction of a turn to every
    non-contiguous request (docs/TESTING.md, "The HDD model")."""
    writes = "3000" if FULL else "1000"
    r = core_bench("hdd", "/nonexistent", "--hdd_writes=" + writes, "--hdd_region_mib=256",
                   "--hdd_rotation=" + rotation)
    model = "%s, %s rotation" % (HDD_MODEL, rotation)
    return (ratio_entry(r["sorted_mib_per_s"] / r["fifo_mib_per_s"], r["sorted_mib_per_s"],
                        "MiB/s (core writeback, sorted+merged)", r["fifo_mib_per_s"],
                        "MiB/s (the same writes in log order)", goal=">= 3.0",
                        note="%s writes of 4 KiB in a 256 MiB region; %s" % (writes, model)),
            ratio_entry(r["saturated_mib_per_s"] / r["origin_mib_per_s"],
                        r["saturated_mib_per_s"], "MiB/s (clients through a 4 MiB cache)",
                        r["origin_mib_per_s"], "MiB/s (straight to the origin model)",
                        goal=">= 1.0", note=model))


def hdd_flush_heavy():
    """The writeback case again with a Flush after every 1 and every 64
    writes. Ordered writeback applies each Flush epoch on its own and flushes
    the origin between them (docs/CORE.md, Writeback), so sorting can only
    merge within an epoch: with a Flush after every write it is log order.
    That is the price of an origin that a power cut of a real disk could
    leave; the goal is never to do worse than log order."""
    writes = "3000" if FULL else "500"
    out = {}
    for every in (1, 64):
        r = core_bench("hdd", "/nonexistent", "--hdd_writes=" + writes,
                       "--hdd_region_mib=256", "--hdd_flush_every=%d" % every)
        out["writeback_sorted_vs_fifo_flush_every_%d" % every] = ratio_entry(
            r["sorted_mib_per_s"] / r["fifo_mib_per_s"], r["sorted_mib_per_s"],
            "MiB/s (core writeback, sorted+merged)", r["fifo_mib_per_s"],
            "MiB/s (the same writes in log order, flushed alike)", goal=">= 1.0",
            note="%s writes of 4 KiB in a 256 MiB region, a Flush every %d" % (writes, every))
    return out


def read_cache():
    """Hot-set reads on the HDD model: the second pass of the same random
    reads, read caching on (threshold 8) vs off."""
    reads = "2000" if FULL else "500"
    r = core_bench("read_cache", "/nonexistent", "--hot_reads=" + reads, "--hot_set_mib=16")
    return ratio_entry(r["cached_mib_per_s"] / r["uncached_mib_per_s"], r["cached_mib_per_s"],
                       "MiB/s (second pass, read_cache_threshold=8)", r["uncached_mib_per_s"],
                       "MiB/s (second pass, read caching off)",
                       note="%s random 4 KiB reads of a 16 MiB hot set on the HDD model" % reads)


def index_bytes():
    out = run([os.path.join(BIN, "core_tests"), "--gtest_filter=IndexMemoryTest.*"])
    m = re.search(r"index memory: ([\d.]+) bytes/block at 50%, ([\d.]+) at 97%", out)
    return {"value": float(m.group(2)), "unit": "bytes/block", "at_50_percent": float(m.group(1)),
            "goal": "<= 16", "method": "RSS growth, cache of ~1M blocks (IndexMemoryTest)"}

# Network cases: 4 KiB random writes over the first 1 GiB at queue depth 32,
# every server on a unix socket under /var/tmp. Writeback is held off
# (writeback_threshold=0) so that it does not share the 2 cores with the
# writes measured; room() drains the log outside the timed windows before it
# nears the 75% at which writeback turns urgent.
NET_SECS = 10 if FULL else 4
NET_GIB = 1
WB_TUNABLES = ("writeback_threshold=0",)


def grpc_bench(sock, *flags):
    out = run([os.path.join(BIN, "grpc_bench"), "--server=unix:" + sock, "--volume=bench",
               "--qd=32", "--seconds=%d" % NET_SECS, *flags], timeout=NET_SECS + 120)
    return json.loads(out.strip().splitlines()[-1])


def fio_nbd(sock):
    """fio's nbd engine (libnbd, one connection) at queue depth 32."""
    out = run(["fio", "--name=bench", "--ioengine=nbd", "--uri=nbd+unix:///?socket=" + sock,
               "--rw=randwrite", "--bs=4k", "--iodepth=32", "--size=%dg" % NET_GIB,
               "--time_based", "--ramp_time=1", "--runtime=%d" % NET_SECS,
               "--output-format=json"], timeout=NET_SECS + 120)
    return json.loads(out[out.index("{"):])["jobs"][0]["write"]["iops"]


def ring_used(server):
    out = run([os.path.join(BIN, "wbctl"), "--server", "unix:" + server.sock, "status", "bench"])
    f = {k: int(v) for k, v in re.findall(r"^\s*(\w+):\s+(\d+)\s*$", out, re.M)}
    return (f["current_id"] - f["last_writeback_id"]) / f["nr_segments"]


class Room:
    """Drains the volume before a round whose writes (as many as the largest
    round so far, plus half) could take the log past 70%."""
    def __init__(self, server):
        self.server, self.largest, self.drains = server, 0.0, 0
        self.before = ring_used(server)

    def __call__(self):
        now = ring_used(self.server)
        self.largest = max(self.largest, now - self.before)
        if now + 1.5 * self.largest > 0.70:
            run([os.path.join(BIN, "wbctl"), "--server", "unix:" + self.server.sock,
                 "drop-caches", "bench"], stdin=subprocess.DEVNULL, timeout=600)
            self.drains += 1
            now = ring_used(self.server)
        self.before = now

    def note(self):
        return "log drained (drop-caches) %d times between rounds" % self.drains


def median_ratio(nums, dens):
    ratios = [n / d for n, d in zip(nums, dens)]
    return (statistics.median(ratios), statistics.median(nums), statistics.median(dens),
            [round(min(ratios), 4), round(max(ratios), 4)])


def grpc_vs_nbd_null(svc, wb):
    """libwbclient to writeboostd vs fio to nbdkit null, sides alternating."""
    null = svc.nbdkit("nbd-null", "null", "size=%dG" % NET_GIB)
    room = Room(wb)
    batched, unbatched, unary, nulls = [], [], [], []
    max_batch = None
    for _ in range(REPS):
        room()
        b = grpc_bench(wb.sock)
        max_batch = b["max_batch"]
        batched.append(b["iops"])
        unbatched.append(grpc_bench(wb.sock, "--max_batch=1")["iops"])
        unary.append(grpc_bench(wb.sock, "--mode=unary")["iops"])
        nulls.append(fio_nbd(null.sock))
    svc.stop(null)
    null_unit = "IOPS (fio nbd engine, qd32, nbdkit null, NBD over a unix socket)"
    note = ("4 KiB random writes over %d GiB for %d s a side, %d rounds; gRPC over a unix "
            "socket; writeboostd cache on ext4 under /var/tmp, writeback_threshold=0; %s"
            % (NET_GIB, NET_SECS, REPS, room.note()))
    r, n, d, spread = median_ratio(batched, nulls)
    pipelined = ratio_entry(r, n, "IOPS (libwbclient IoStream, qd32, up to %d writes a "
                            "message)" % max_batch, d, null_unit, goal=">= 4.0",
                            spread=spread, note=note)
    r, n, d, spread = median_ratio(unbatched, nulls)
    single = ratio_entry(r, n, "IOPS (libwbclient IoStream, qd32, one write a message)",
                         d, null_unit, goal=">= 1.0", spread=spread, note=note)
    r, n, d, spread = median_ratio(unary, nulls)
    rpc = {"value": round(statistics.median(unary), 1), "unit": "IOPS",
           "method": "32 threads calling Volume::Write (one unary RPC a write) on one Volume",
           "spread": [round(min(unary), 1), round(max(unary), 1)],
           "vs_nbd_null": round(r, 4), "nbd_null_iops": round(d, 1), "note": note}
    return pipelined, single, rpc


def bridge_vs_file(svc, wb, file_path):
    """fio over the NBD bridge vs fio over nbdkit file on a file of the
    bridge's cache size on the same filesystem."""
    bridge = svc.nbdkit("nbd-bridge", os.path.join(BUILD, "lib", "nbdkit-writeboost-plugin.so"),
                        "server=unix:" + wb.sock, "volume=bench")
    plain = svc.nbdkit("nbd-file", "file", "file=" + file_path)
    room = Room(wb)
    bridged, files = [], []
    for _ in range(REPS):
        room()
        bridged.append(fio_nbd(bridge.sock))
        files.append(fio_nbd(plain.sock))
    svc.stop(bridge)
    svc.stop(plain)
    r, n, d, spread = median_ratio(bridged, files)
    return ratio_entry(
        r, n, "IOPS (fio nbd engine, qd32, nbdkit + writeboost plugin -> writeboostd)",
        d, "IOPS (fio nbd engine, qd32, nbdkit file, page cache, no flushes)",
        spread=spread,
        note="4 KiB random writes over %d GiB for %d s a side, %d rounds; NBD and gRPC over "
             "unix sockets; plugin defaults (queue-depth 64, batch 16); the file is the size "
             "of the bridge's cache, on the same ext4; writeback_threshold=0; %s"
             % (NET_GIB, NET_SECS, REPS, room.note()))


def network_cases(work):
    missing = [p for p in (os.path.join(BIN, "grpc_bench"), os.path.join(BIN, "writeboostd"),
                           os.path.join(BUILD, "lib", "nbdkit-writeboost-plugin.so"))
               if not os.path.exists(p)] + [t for t in ("nbdkit", "fio") if not shutil.which(t)]
    if missing:
        reason = not_yet("missing " + ", ".join(missing))
        return reason, reason, reason, reason
    grpc_cache_mib = 4096 if not FULL else 12288
    bridge_cache_mib = 2048 if not FULL else 6144
    for f in ("grpc.origin", "bridge.origin"):
        zero_file(os.path.join(work, f), NET_GIB * 1024)
    file_path = os.path.join(work, "nbdkit-file")
    zero_file(file_path, bridge_cache_mib)
    with Services(work, BUILD) as svc:
        # Both daemons format their caches at once.
        wb_grpc = svc.writeboostd("wb-grpc", "bench", os.path.join(work, "grpc.origin"),
                                  os.path.join(work, "grpc.cache"), grpc_cache_mib, WB_TUNABLES)
        wb_bridge = svc.writeboostd("wb-bridge", "bench", os.path.join(work, "bridge.origin"),
                                    os.path.join(work, "bridge.cache"), bridge_cache_mib,
                                    WB_TUNABLES)
        svc.wait_serving(wb_grpc)
        svc.wait_serving(wb_bridge)
        grpc = grpc_vs_nbd_null(svc, wb_grpc)
        svc.stop(wb_grpc)
        bridge = bridge_vs_file(svc, wb_bridge, file_path)
    return grpc + (bridge,)


def not_yet(reason):
    return {"value": None, "note": "not built yet: " + reason}


def plot():
    if not shutil.which("gnuplot"):
        return None
    png = os.path.join(RESULTS, "timeline.png")
    script = f"""
set terminal png size 1000,700
set output '{png}'
set multiplot layout 2,1
set title 'core ingest: random 4 KiB writes into the log (MiB/s)'
set xlabel 'seconds'
plot '{RESULTS}/ingest_timeline.dat' using 1:2 with lines title 'MiB/s'
set title 'core write acknowledgement latency (us, per 100 ms window)'
set logscale y
plot '{RESULTS}/ack_timeline.dat' using 1:2 with lines title 'p50', \\
     '{RESULTS}/ack_timeline.dat' using 1:3 with lines title 'p99'
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return png


def main():
    os.makedirs(RESULTS, exist_ok=True)
    work = tempfile.mkdtemp(prefix="wb-bench-", dir="/var/tmp")
    started = time.time()
    try:
        results = {}
        results["ingest_ratio"] = ingest_ratio(work)
        results["write_ack_p50_us"], results["write_ack_p99_us"] = ack_latency(work)
        results["fua_qd1_iops_ratio"], results["fua_group_commit_gain_qd32"] = fua(work)
        (results["grpc_vs_nbd_null"], results["grpc_vs_nbd_null_unbatched"],
         results["grpc_unary_write_iops"], results["nbd_bridge_vs_nbdkit_file"]) = \
            network_cases(work)
        results["writeback_sorted_vs_fifo"], results["saturated_vs_origin"] = hdd()
        (results["writeback_sorted_vs_fifo_random_rotation"],
         results["saturated_vs_origin_random_rotation"]) = hdd("random")
        results.update(hdd_flush_heavy())
        results["read_cache_hot_set_vs_uncached"] = read_cache()
        results["restart_s_per_gib"] = restart(work)
        results["index_bytes_per_block"] = index_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = {"cores": os.cpu_count(), "kernel": platform.release(), "cache_dir_fs": "/var/tmp"}
    for e in results.values():
        e["machine"] = machine
    doc = {"machine": machine,
           "mode": "full" if FULL else "quick",
           "seconds": round(time.time() - started, 1),
           "results": results}
    png = plot()
    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(doc, f, indent=2)
    print("%-28s %12s   %s" % ("case", "value", "sides / goal"))
    for key, e in results.items():
        v = e.get("value")
        if v is None:
            print("%-28s %12s   %s" % (key, "null", e.get("note", "")))
            continue
        sides = ""
        if "numerator" in e:
            sides = "%.1f %s / %.1f %s" % (e["numerator"], e["numerator_unit"],
                                           e["denominator"], e["denominator_unit"])
        elif "unit" in e:
            sides = e["unit"]
        if "spread" in e:
            sides += "  spread %s" % e["spread"]
        if "goal" in e:
            sides += "  goal %s" % e["goal"]
        print("%-28s %12.4g   %s" % (key, v, sides))
    print("\nwrote %s%s" % (os.path.join(RESULTS, "latest.json"),
                            (" and " + png) if png else ""))


if __name__ == "__main__":
    sys.exit(main())
