"""Benchmark: cost per collected sample of ``promrw.bridge.push_registry``, against the cost
of ``registry.collect()`` alone (what prometheus_client itself spends per sample), measured in
the same run.

The registry holds about ``--series`` series across types: counters (40%, one label, with
``_created``), gauges (40%), histograms (15%: children of 5 buckets, 8 series each) and
summaries (5%: 2 series each). A fresh sender (1 shard) sends to ``promrw sink`` in another
process (its CPU is not counted). After a first collection (which registers every series and
is not measured), each of ``--rounds`` rounds times, interleaved:

* ``collect``: ``list(registry.collect())``, the baseline;
* ``push``: ``push_registry(sender, registry, timestamp_ms)``, which collects too, converts
  every sample and appends it (steady state: every series is cached);

then flushes (not timed). Times are this thread's CPU (``time.thread_time``: the conversion
and the appends, not the library's shard thread, which encodes and sends) and wall time; the
median over the rounds, per collected sample. ``push - collect`` is the bridge's own cost.

Usage (from the repository root, with the package and prometheus_client installed)::

    python bindings/python/bench/bench_bridge.py [--series 10000] [--rounds 20] [--no-created]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, Tuple

REPO = Path(__file__).resolve().parents[3]


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


def build_registry(series: int) -> Tuple[Any, int]:
    """The registry of about ``series`` series; returns it and its exact series count."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

    registry = CollectorRegistry()
    n_counter = int(series * 0.40)
    n_gauge = int(series * 0.40)
    n_hist = max(1, int(series * 0.15) // 8)
    n_summary = max(1, int(series * 0.05) // 2)
    counter = Counter("bench_requests", "Requests.", ["path"], registry=registry)
    gauge = Gauge("bench_queue_length", "Queue length.", ["queue"], registry=registry)
    hist = Histogram(
        "bench_latency_seconds", "Latency.", ["route"], buckets=[0.01, 0.05, 0.1, 0.5, 1.0],
        registry=registry,
    )
    summary = Summary("bench_size_bytes", "Sizes.", ["kind"], registry=registry)
    for i in range(n_counter):
        counter.labels(f"/api/v1/item/{i}").inc(i)
    for i in range(n_gauge):
        gauge.labels(f"queue-{i}").set(i)
    for i in range(n_hist):
        hist.labels(f"route-{i}").observe(i / n_hist)
    for i in range(n_summary):
        summary.labels(f"kind-{i}").observe(i)
    total = sum(
        sum(1 for s in fam.samples if not s.name.endswith("_created"))
        for fam in registry.collect()
    )
    return registry, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-created", action="store_true",
                        help="PROMETHEUS_DISABLE_CREATED_SERIES=True: no _created samples")
    parser.add_argument("--url", help="send there instead of a promrw sink started here")
    args = parser.parse_args()
    if args.no_created:
        os.environ["PROMETHEUS_DISABLE_CREATED_SERIES"] = "True"

    import prometheus_client  # noqa: F401 - after the environment is set

    import promrw
    from promrw import bridge

    registry, n = build_registry(args.series)
    sink = None
    url = args.url
    if url is None:
        binary = Path(os.environ.get("PROMRW_BIN", REPO / "target" / "release" / "promrw"))
        sink, url = start_sink(binary)
    try:
        cfg = {"remote_write": [{"url": url, "queue_config": {
            "min_shards": 1, "max_shards": 1, "max_samples_per_send": 2000,
            "capacity": max(10_000, 2 * n)}}]}
        with promrw.Sender(cfg) as sender:
            t0 = time.time_ns() // 1_000_000
            first = bridge.push_registry(sender, registry, timestamp_ms=t0)
            assert first == n, (first, n)
            sender.flush(timeout=60.0)
            collect_cpu: List[float] = []
            collect_wall: List[float] = []
            push_cpu: List[float] = []
            push_wall: List[float] = []
            for r in range(1, args.rounds + 1):
                c0, w0 = time.thread_time(), time.perf_counter()
                list(registry.collect())
                c1, w1 = time.thread_time(), time.perf_counter()
                got = bridge.push_registry(sender, registry, timestamp_ms=t0 + 1000 * r)
                c2, w2 = time.thread_time(), time.perf_counter()
                assert got == n, (got, n)
                collect_cpu.append(c1 - c0)
                collect_wall.append(w1 - w0)
                push_cpu.append(c2 - c1)
                push_wall.append(w2 - w1)
                sender.flush(timeout=60.0)
            acked = sender.stats()["samples_acked"]
            assert acked == n * (args.rounds + 1), (acked, n)
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait()

    def us(values: List[float]) -> float:
        return statistics.median(values) / n * 1e6

    cc, cw, pc, pw = us(collect_cpu), us(collect_wall), us(push_cpu), us(push_wall)
    from importlib.metadata import version

    print(f"prometheus_client {version('prometheus_client')}, Python {sys.version.split()[0]}, "
          f"{n} series ({'no ' if args.no_created else ''}_created), {args.rounds} rounds, "
          "medians per collected sample")
    print(f"collect():       {cc:6.2f} us CPU  {cw:6.2f} us wall   (baseline)")
    print(f"push_registry(): {pc:6.2f} us CPU  {pw:6.2f} us wall   "
          f"= {pc / cc:.2f}x the baseline (CPU), {pw / cw:.2f}x (wall)")
    print(f"bridge's own:    {pc - cc:6.2f} us CPU  {pw - cw:6.2f} us wall   "
          f"= {(pc - cc) / cc:.2f}x the baseline (CPU)")


if __name__ == "__main__":
    main()
