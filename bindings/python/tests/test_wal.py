"""WAL mode (``promrw.wal``, the durable queue; docs/DURABILITY.md): stats() carries the log's
figures as the text exposition does, and every sample synced before a ``kill -9`` is delivered
by the next sender on the same directory, in order, with its exact value."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import promrw

from conftest import Sink

T0 = 1_700_000_000_000

#: stats() keys and the exposition metric each one means (per-endpoint ones with the
#: endpoint's labels; the test configurations have one endpoint).
WAL_METRICS = {
    "rejected_io": 'promrw_appends_rejected_total{reason="io"}',
    "wal_bytes_on_disk": "promrw_wal_bytes",
    "wal_segments": "promrw_wal_segments",
    "wal_records_written": "promrw_wal_records_written_total",
    "wal_bytes_written": "promrw_wal_bytes_written_total",
    "wal_fsyncs": "promrw_wal_fsyncs_total",
    "wal_write_errors": "promrw_wal_write_errors_total",
    "wal_corrupt_records_skipped": "promrw_wal_corrupt_records_skipped_total",
    "samples_dropped_wal_full": 'prometheus_remote_storage_samples_dropped_total{reason="wal_full",',
    "samples_dropped_wal_too_old":
        'prometheus_remote_storage_samples_dropped_total{reason="wal_too_old",',
    "wal_lag_bytes": "promrw_wal_cursor_lag_bytes{",
    "wal_lag_samples": "promrw_wal_cursor_lag_samples{",
    "wal_samples_replayed": "promrw_wal_samples_replayed_total{",
}


def wal_config(url: str, wal_dir: Path) -> Dict[str, Any]:
    """One endpoint at ``url`` (named, so that its cursor is found again whatever the URL)
    with the log in ``wal_dir``."""
    return {
        "remote_write": [
            {
                "url": url,
                "name": "py-wal",
                "queue_config": {"batch_send_deadline": "20ms", "min_backoff": "10ms",
                                 "max_backoff": "100ms"},
            }
        ],
        "promrw": {"wal": {"dir": str(wal_dir)}},
    }


def exposition_value(text: str, key: str) -> float:
    """The value of the one sample line of ``text`` whose name and labels start with ``key``
    (``key`` is a whole name unless it ends with ``{`` or ``,``)."""
    found = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        if name == key or (key[-1] in "{," and name.startswith(key)):
            found.append(float(value))
    assert len(found) == 1, (key, found)
    return found[0]


def assert_stats_match_exposition(sender: promrw.Sender) -> Dict[str, int]:
    """Checks every WAL figure of stats() against metrics_text() at a moment they did not
    change (the same before and after the text was read: the feeder may still be moving the
    cursor past a series record, say; retries change other counters); returns the stats."""
    deadline = time.monotonic() + 10
    while True:
        stats = sender.stats()
        text = sender.metrics_text()
        after = sender.stats()
        if all(stats[key] == after[key] for key in WAL_METRICS):
            break
        assert time.monotonic() < deadline, ("never quiet", stats, after)
        time.sleep(0.01)
    for key, metric in WAL_METRICS.items():
        assert exposition_value(text, metric) == stats[key], (key, stats)
    return stats


def wait_stats(sender: promrw.Sender, done: Any, timeout: float = 10.0) -> Dict[str, int]:
    """Polls stats() until ``done(stats)`` holds; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        stats = sender.stats()
        if done(stats):
            return stats
        assert time.monotonic() < deadline, stats
        time.sleep(0.01)


def test_wal_stats_mean_what_the_exposition_says(dead_url: str, tmp_path: Path) -> None:
    """WAL mode against a receiver that is down: the samples wait on disk and show in the lag;
    every WAL figure of stats() equals its exposition metric; the next sender on the directory
    replays them (wal_samples_replayed), delivers them and the lag drops to 0."""
    sender = promrw.Sender(wal_config(dead_url, tmp_path))
    ref = sender.series({"__name__": "py_wal_stats"})
    for i in range(500):
        sender.append(ref, float(i), T0 + i)
    sender.sync(10)
    wait_stats(sender, lambda s: s["wal_lag_samples"] == 500)
    stats = assert_stats_match_exposition(sender)
    assert stats["wal_lag_samples"] == 500, stats
    assert stats["wal_bytes_on_disk"] > 0 and stats["wal_segments"] >= 1, stats
    assert stats["wal_records_written"] >= 2, stats  # a series and a samples record at least
    assert stats["wal_fsyncs"] >= 1, stats  # sync fsyncs
    assert stats["wal_lag_bytes"] > 500 * 9, stats
    for key in ("rejected_io", "wal_write_errors", "wal_corrupt_records_skipped",
                "samples_dropped_wal_full", "samples_dropped_wal_too_old",
                "wal_samples_replayed"):
        assert stats[key] == 0, (key, stats)
    # Close leaves what it could not deliver on disk, not failed: a timeout.
    with pytest.raises(promrw.DeadlineExceededError):
        sender.close(0.2)
    assert sender.stats()["samples_failed"] == 0

    sink = Sink(print_samples=True)
    try:
        with promrw.Sender(wal_config(sink.url, tmp_path)) as again:
            again.flush(20)
            wait_stats(again, lambda s: s["wal_lag_samples"] == 0)
            stats = assert_stats_match_exposition(again)
            assert stats["wal_samples_replayed"] == 500, stats
            assert stats["samples_acked"] == 500, stats
            assert stats["wal_lag_samples"] == stats["wal_lag_bytes"] == 0, stats
        assert sink.wait_for(500) == 500
        sink.assert_clean()
    finally:
        sink.stop()


#: The kill test's series.
SERIES = ("py_wal_kill_a", "py_wal_kill_b")

#: The child of the kill test: opens a WAL-mode sender with the configuration argv[1] (JSON;
#: a receiver that is down), appends argv[2] samples to each of the series argv[3:], syncs,
#: prints "synced", then sleeps until killed. Sample i of series k has the value
#: ``value_of(k, i)``.
CHILD = r"""
import json, sys, time
import promrw
config, n, names = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
sender = promrw.Sender(config)
refs = [sender.series({"__name__": name}) for name in names]
for i in range(n):
    for k, ref in enumerate(refs):
        sender.append(ref, (i + 1) / 7.0 + k * 1000.5, %d + i)
sender.sync(30)
print("synced", flush=True)
time.sleep(600)
""" % T0


def value_of(series: int, i: int) -> float:
    """The value the child appends as sample ``i`` of series ``series``: distinct, using all
    of a double's mantissa bits (so a value changed on the way shows)."""
    return (i + 1) / 7.0 + series * 1000.5


def bits(value: float) -> int:
    """A double's IEEE-754 bits."""
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def read_line(process: subprocess.Popen, timeout: float) -> str:
    """The child's next stdout line ('' at EOF or after ``timeout`` seconds)."""
    assert process.stdout is not None
    lines: List[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()),
                              daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


def test_synced_samples_survive_sigkill_and_arrive_in_order_exactly(dead_url: str,
                                                                    tmp_path: Path) -> None:
    """A child process (this interpreter) opens a WAL-mode sender against a receiver that is
    down, appends 2 x 3000 samples, syncs and prints "synced"; the test kills it with SIGKILL,
    then a new sender on the same directory against the validating sink delivers them: every
    synced sample arrives once, per series in order, with its exact value bits."""
    n = 3000
    wal_dir = tmp_path / "wal"
    errors = tmp_path / "child-stderr.txt"
    with open(errors, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(wal_config(dead_url, wal_dir)), str(n),
             *SERIES],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        line = read_line(child, 60)
        assert line == "synced\n", (line, child.poll(), errors.read_text())
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()

    sink = Sink(print_samples=True)
    try:
        with promrw.Sender(wal_config(sink.url, wal_dir)) as sender:
            sender.flush(30)
            stats = sender.stats()
            assert stats["wal_samples_replayed"] == 2 * n, stats
            assert stats["samples_acked"] == 2 * n and stats["samples_failed"] == 0, stats
        assert sink.wait_for(2 * n) == 2 * n
        sink.assert_clean()
        received: Dict[str, List[Tuple[int, int]]] = {}
        for labels, timestamp, value_bits in sink.samples:
            received.setdefault(labels, []).append((timestamp, value_bits))
        assert sorted(received) == sorted(f'{{__name__="{name}"}}' for name in SERIES)
        for k, name in enumerate(SERIES):
            expected = [(T0 + i, bits(value_of(k, i))) for i in range(n)]
            got = received[f'{{__name__="{name}"}}']
            assert len(got) == n, name
            assert got == expected, name
    finally:
        sink.stop()
