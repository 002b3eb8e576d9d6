#!/usr/bin/env python3
"""make bench: side-by-side figures, each a ratio measured in one run.

Writes bench/results/latest.json, prints a table, and plots throughput and
latency over time with gnuplot (bench/results/timeline.png). BENCH=full runs
longer and repeats more. Every key of the benchmark issue is present; a case
whose feature is not built yet is null with the reason.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")
RESULTS = os.path.join(ROOT, "bench", "results")
FULL = os.environ.get("BENCH") == "full"
REPS = 5 if FULL else 3
RAMBUF_MIB = 64
SEGMENT = "512k"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


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


def hdd():
    writes = "3000" if FULL else "1000"
    r = core_bench("hdd", "/nonexistent", "--hdd_writes=" + writes, "--hdd_region_mib=256")
    model = "7200 rpm model: 8.33 ms rotation, 8.5 ms avg seek, 15 ms full stroke, 200 MB/s"
    return (ratio_entry(r["sorted_mib_per_s"] / r["fifo_mib_per_s"], r["sorted_mib_per_s"],
                        "MiB/s (core writeback, sorted+merged)", r["fifo_mib_per_s"],
                        "MiB/s (the same writes in log order)", goal=">= 3.0",
                        note="%s writes of 4 KiB in a 256 MiB region; %s" % (writes, model)),
            ratio_entry(r["saturated_mib_per_s"] / r["origin_mib_per_s"],
                        r["saturated_mib_per_s"], "MiB/s (clients through a 4 MiB cache)",
                        r["origin_mib_per_s"], "MiB/s (straight to the origin model)",
                        goal=">= 1.0", note=model))


def index_bytes():
    out = run([os.path.join(BIN, "core_tests"), "--gtest_filter=IndexMemoryTest.*"])
    m = re.search(r"index memory: ([\d.]+) bytes/block at 50%, ([\d.]+) at 97%", out)
    return {"value": float(m.group(2)), "unit": "bytes/block", "at_50_percent": float(m.group(1)),
            "goal": "<= 16", "method": "RSS growth, cache of ~1M blocks (IndexMemoryTest)"}


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
        results["grpc_vs_nbd_null"] = not_yet("bench client for libwbclient (issue 6 follow-up)")
        results["grpc_vs_nbd_null_unbatched"] = not_yet("bench client for libwbclient")
        results["grpc_unary_write_iops"] = not_yet("bench client for libwbclient")
        results["nbd_bridge_vs_nbdkit_file"] = not_yet("NBD bridge benchmark (issue 5/6)")
        results["writeback_sorted_vs_fifo"], results["saturated_vs_origin"] = hdd()
        results["restart_s_per_gib"] = restart(work)
        results["index_bytes_per_block"] = index_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = {"machine": {"cores": os.cpu_count(), "kernel": platform.release(),
                       "cache_dir_fs": "/var/tmp"},
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
