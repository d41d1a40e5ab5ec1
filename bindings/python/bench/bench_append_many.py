"""Benchmark: CPU per sample of ``Sender.append_many`` with ``array.array`` input on workload W1.

W1 (as ``tools/src/workload.rs``): 10,000 series of 8 labels, 100 rounds 1 s apart = 1,000,000
samples. Each run uses a fresh sender (1 shard, 2,000 samples per request, default queue) and:

* not measured: building the label dicts and the input arrays (reported separately), starting
  and closing the sender;
* measured: registering the 10,000 series, then per round one ``append_many(refs, values,
  timestamps_ms)`` of 10,000 samples with ``array.array`` columns (with ``--append``: 10,000
  ``append(ref, value, timestamp_ms)`` calls instead), then ``flush()``.

CPU is user + system time of this whole process (``getrusage(RUSAGE_SELF)``: the Python thread
plus the library's shard threads and the kernel's loopback work on the sender's side). Without
``--url`` the receiver is ``promrw sink`` in a separate process, whose CPU is not counted.

Usage (from the repository root, with the package installed)::

    python bindings/python/bench/bench_append_many.py [--runs 5] [--url URL] [--append]
"""

from __future__ import annotations

import argparse
import array
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import promrw

TARGET_US = 0.5
REPO = Path(__file__).resolve().parents[3]
METHODS = ["GET", "POST", "PUT", "DELETE"]
CODES = ["200", "201", "404", "500", "503"]
REGIONS = ["eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"]


def w1_labels(i: int) -> Dict[str, str]:
    """The label set of W1 series ``i`` (as ``Workload::labels`` in tools/src/workload.rs)."""
    return {
        "__name__": f"http_server_requests_metric_{i % 100:03}_total",
        "job": f"payments-api-{i % 7}",
        "instance": f"10.{(i // 65536) % 256}.{(i // 256) % 256}.{i % 256}:9100",
        "region": REGIONS[i % len(REGIONS)],
        "pod": f"payments-api-deployment-7d9f8c6b5-{i // 5:05}",
        "container": f"payments-container-{i % 3}",
        "method": METHODS[i % len(METHODS)],
        "code": CODES[i % len(CODES)],
    }


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_sink(binary: Path) -> Tuple[subprocess.Popen, str]:
    """Starts ``promrw sink`` on a free loopback port; returns the process and its URL."""
    process = subprocess.Popen(
        [str(binary), "sink", "--listen", "127.0.0.1:0", "--quiet", "--workers", "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    match = re.match(r"^listening on (\S+)$", line)
    if not match:
        process.terminate()
        process.wait()
        sys.exit(f"promrw sink did not start: {line!r}")
    return process, match.group(1)


def one_run(url: str, series: int, rounds: int, step_ms: int, shards: int, first_ts: int,
            labels: List[Dict[str, str]], per_sample: bool = False) -> Dict[str, float]:
    """One measured run with a fresh sender; returns its figures."""
    n = series * rounds
    # Inputs (the application's cost, not measured as the binding's).
    c0, w0 = cpu_seconds(), time.perf_counter()
    timestamps = [array.array("q", [first_ts + r * step_ms]) * series for r in range(rounds)]
    values = [array.array("d", [i * 0.5 + r * 3.0 for i in range(series)]) for r in range(rounds)]
    build_cpu = cpu_seconds() - c0
    build_wall = time.perf_counter() - w0

    config = {"remote_write": [{"url": url, "queue_config": {
        "min_shards": shards, "max_samples_per_send": 2000}}]}
    sender = promrw.Sender(config)
    try:
        c1, w1 = cpu_seconds(), time.perf_counter()
        refs = array.array("Q", (sender.series(ls) for ls in labels))
        c2, w2 = cpu_seconds(), time.perf_counter()
        if per_sample:
            append = sender.append
            for r in range(rounds):
                for ref, value, ts in zip(refs, values[r], timestamps[r]):
                    append(ref, value, ts)
        else:
            for r in range(rounds):
                sender.append_many(refs, values[r], timestamps[r])
        c3, w3 = cpu_seconds(), time.perf_counter()
        sender.flush(120)
        c4, w4 = cpu_seconds(), time.perf_counter()
        stats = sender.stats()
    finally:
        sender.close(60)
    if stats["samples_acked"] != n or stats["samples_failed"] != 0:
        sys.exit(f"not every sample was sent: {stats}")
    return {
        "build_cpu_us": build_cpu / n * 1e6,
        "build_wall_s": build_wall,
        "register_cpu_s": c2 - c1,
        "register_wall_s": w2 - w1,
        "append_cpu_s": c3 - c2,
        "append_wall_s": w3 - w2,
        "flush_cpu_s": c4 - c3,
        "flush_wall_s": w4 - w3,
        "total_cpu_us": (c4 - c1) / n * 1e6,
        "append_flush_cpu_us": (c4 - c2) / n * 1e6,
        "total_wall_s": w4 - w1,
        "bytes_per_sample": stats["bytes_total"] / n,
    }


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the benchmark and prints one line per run and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="receiver URL (default: start promrw sink)")
    parser.add_argument("--sink-bin", type=Path, default=REPO / "target" / "release" / "promrw",
                        help="the promrw executable for the sink")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--step-ms", type=int, default=1_000)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--append", action="store_true",
                        help="one append() call per sample instead of append_many per round")
    args = parser.parse_args(argv)

    sink = None
    url = args.url
    if url is None:
        sink, url = start_sink(args.sink_bin)
    try:
        n = args.series * args.rounds
        print(f"promrw {promrw.__version__} ({promrw.LIBRARY_PATH}), Python "
              f"{sys.version.split()[0]}, {os.cpu_count()} CPUs")
        call = "append" if args.append else "append_many"
        api = "append per sample" if args.append else "append_many with array.array columns"
        print(f"workload W1: {args.series} series x {args.rounds} rounds {args.step_ms} ms apart "
              f"= {n} samples; {api}, {args.shards} shard(s), "
              f"max_samples_per_send 2000, {args.runs} run(s), receiver {url}")
        labels = [w1_labels(i) for i in range(args.series)]
        now_ms = time.time_ns() // 1_000_000
        span = args.rounds * args.step_ms
        results = []
        for run in range(args.runs):
            # Each run after the previous one, the last ending about now.
            first_ts = now_ms - (args.runs - run) * span
            res = one_run(url, args.series, args.rounds, args.step_ms, args.shards, first_ts,
                          labels, args.append)
            results.append(res)
            print(f"run {run + 1}: {res['total_cpu_us']:.3f} µs CPU/sample end to end "
                  f"(register {res['register_cpu_s']:.3f} s CPU, {call} "
                  f"{res['append_cpu_s']:.3f} s CPU / {res['append_wall_s']:.3f} s wall, "
                  f"flush {res['flush_cpu_s']:.3f} s CPU / {res['flush_wall_s']:.3f} s wall); "
                  f"append+flush alone {res['append_flush_cpu_us']:.3f} µs/sample; "
                  f"{n / res['total_wall_s']:.0f} samples/s; "
                  f"{res['bytes_per_sample']:.2f} wire bytes/sample; "
                  f"inputs built in {res['build_cpu_us']:.3f} µs CPU/sample (not counted)")
        totals = sorted(r["total_cpu_us"] for r in results)
        median = statistics.median(totals)
        print(f"CPU per sample end to end (register + {call} + flush): median "
              f"{median:.3f} µs, best {totals[0]:.3f} µs; target <= {TARGET_US} µs: "
              f"{'met' if median <= TARGET_US else 'NOT met'}")
        print(f"{call} + flush only: median "
              f"{statistics.median(r['append_flush_cpu_us'] for r in results):.3f} µs/sample; "
              f"building the input arrays: median "
              f"{statistics.median(r['build_cpu_us'] for r in results):.3f} µs/sample")
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
