"""Fixtures: the repository, the ``promrw sink`` receiver on 127.0.0.1, configurations."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

HERE = Path(__file__).resolve().parent
#: The promrw repository these tests live in (tests/ -> python/ -> bindings/ -> root).
REPO = HERE.parent.parent.parent

#: A line of ``promrw sink --print-samples``: labels, timestamp, the value's bits in hex.
_SAMPLE = re.compile(r"^sample (\{.*\}) (-?\d+) ([0-9a-f]{16})$")

#: ``histogram {labels} {timestamp} {json}`` (the histogram as received, floats as bit strings).
_HISTOGRAM = re.compile(r"^histogram (\{.*?\}) (-?\d+) (\{.*\})$")
#: ``exemplar {series labels} {exemplar labels} {timestamp} {value bits}``.
_EXEMPLAR = re.compile(r"^exemplar (\{.*?\}) (\{.*\}) (-?\d+) ([0-9a-f]{16})$")
#: ``series_metadata {labels} {type} "{help}" "{unit}"`` (Remote Write 2.0).
_SERIES_METADATA = re.compile(r'^series_metadata (\{.*?\}) (\d+) (".*") (".*")$')
#: ``metadata {family} {type} "{help}" "{unit}"`` (Remote Write 1.0 metadata requests).
_FAMILY_METADATA = re.compile(r'^metadata (\S+) (\d+) (".*") (".*")$')

_SUMMARY = re.compile(
    r"^\[\s*[\d.]+s\] requests=(\d+) rejected=(\d+) samples=(\d+) bytes=(\d+) "
    r"out_of_order=(\d+) duplicates=(\d+) \| total samples=(\d+) series=(\d+)(?: \w+=\d+)*$"
)


def promrw_binary() -> Path:
    """The ``promrw`` command-line tool: ``$PROMRW_BIN`` or ``target/release/promrw``."""
    override = os.environ.get("PROMRW_BIN")
    path = Path(override) if override else REPO / "target" / "release" / "promrw"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run 'cargo build --release' in {REPO} first")
    return path


class Sink:
    """A running ``promrw sink --listen 127.0.0.1:0`` and what its summaries report.

    The sink validates every request (headers, snappy, protobuf, label rules, per-series
    order across requests) and prints a summary every ``interval`` seconds with running totals;
    invalid requests are printed as they arrive. A reader thread parses its output.
    """

    def __init__(
        self, interval: float = 0.05, print_samples: bool = False, protocol: str = "both"
    ) -> None:
        """Starts the sink and waits for its URL. With ``print_samples`` the sink prints every
        sample it stores, kept in :attr:`samples`. ``protocol`` is the sink's ``--protocol``
        (``both``, or ``1.0-415`` / ``1.0-ignore`` for a receiver speaking only 1.0)."""
        self.process = subprocess.Popen(
            [
                str(promrw_binary()),
                "sink",
                "--listen",
                "127.0.0.1:0",
                "--interval",
                str(interval),
                "--workers",
                "4",
                "--protocol",
                protocol,
            ]
            + (["--print-samples"] if print_samples else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().strip()
        match = re.match(r"^listening on (http://\S+)$", first)
        if not match:
            self.stop()
            raise RuntimeError(f"promrw sink did not start: {first!r}")
        #: The remote-write URL to send to.
        self.url: str = match.group(1)
        self._cond = threading.Condition()
        self.total_samples = 0
        self.series = 0
        self.requests = 0
        self.rejected = 0
        self.out_of_order = 0
        self.duplicates = 0
        self.summaries = 0
        #: Lines the sink printed that were not summaries (invalid requests).
        self.other_lines: List[str] = []
        #: With ``print_samples``: every sample stored, in the order received, as
        #: ``(labels text, timestamp ms, value bits)``, labels as ``{name="value",...}``.
        self.samples: List[Tuple[str, int, int]] = []
        #: With ``print_samples``: ``(labels text, timestamp ms, histogram dict)`` as printed.
        self.histograms: List[Tuple[str, int, Dict[str, Any]]] = []
        #: With ``print_samples``: ``(series labels, exemplar labels, timestamp, value bits)``.
        self.exemplars: List[Tuple[str, str, int, int]] = []
        #: With ``print_samples``: ``(series labels or family, type, help, unit)``, 2.0 series
        #: metadata and 1.0 family metadata alike.
        self.metadata: List[Tuple[str, int, str, str]] = []
        self._reader = threading.Thread(target=self._read, name="sink-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Parses the sink's output until it exits."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            match = _SUMMARY.match(line)
            sample = _SAMPLE.match(line)
            histogram = _HISTOGRAM.match(line)
            exemplar = _EXEMPLAR.match(line)
            metadata = _SERIES_METADATA.match(line) or _FAMILY_METADATA.match(line)
            with self._cond:
                if sample:
                    labels, timestamp, bits = sample.groups()
                    self.samples.append((labels, int(timestamp), int(bits, 16)))
                elif histogram:
                    labels, timestamp, body = histogram.groups()
                    self.histograms.append((labels, int(timestamp), json.loads(body)))
                elif exemplar:
                    labels, ex_labels, timestamp, bits = exemplar.groups()
                    self.exemplars.append((labels, ex_labels, int(timestamp), int(bits, 16)))
                elif metadata:
                    who, kind, help_text, unit = metadata.groups()
                    self.metadata.append((who, int(kind), json.loads(help_text), json.loads(unit)))
                elif match:
                    requests, rejected, _, _, ooo, dups, total, series = map(int, match.groups())
                    self.requests += requests
                    self.rejected += rejected
                    self.out_of_order += ooo
                    self.duplicates += dups
                    self.total_samples = total
                    self.series = series
                    self.summaries += 1
                else:
                    self.other_lines.append(line)
                self._cond.notify_all()

    def wait_for(self, samples: int, timeout: float = 20.0) -> int:
        """Waits until the sink reports at least ``samples`` in total, then one more summary
        (to see any extra); returns the total."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.total_samples < samples:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    break
                self._cond.wait(left)
            seen = self.summaries
            while self.summaries < seen + 2 and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            return self.total_samples

    def snapshot(self) -> Dict[str, Any]:
        """The current totals."""
        with self._cond:
            return {
                "total_samples": self.total_samples,
                "series": self.series,
                "requests": self.requests,
                "rejected": self.rejected,
                "out_of_order": self.out_of_order,
                "duplicates": self.duplicates,
                "other_lines": list(self.other_lines),
            }

    def assert_clean(self) -> None:
        """No request was rejected and no sample was out of order or repeated."""
        snap = self.snapshot()
        assert snap["rejected"] == 0, snap
        assert snap["out_of_order"] == 0, snap
        assert snap["duplicates"] == 0, snap
        assert snap["other_lines"] == [], snap

    def stop(self) -> None:
        """Stops the sink process (by its PID) and reaps it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self._reader.join(timeout=5)
            self.process.stdout.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A fresh sink for one test."""
    s = Sink()
    try:
        yield s
    finally:
        s.stop()


def config(url: str, **queue: Any) -> Dict[str, Any]:
    """A configuration dict for one endpoint with ``queue_config`` entries."""
    endpoint: Dict[str, Any] = {"url": url}
    if queue:
        endpoint["queue_config"] = queue
    return {"remote_write": [endpoint]}


@pytest.fixture
def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1/write"


def run_python(code: str, env: Optional[Dict[str, str]] = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter (the one running the tests)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def c_compiler() -> Optional[str]:
    """A C compiler on PATH, if any."""
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    return None
