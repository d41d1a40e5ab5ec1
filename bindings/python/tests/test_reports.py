"""Loss reporting: flush and close raise SamplesLostError with the report when a receiver
rejects samples; last_report(); stats() and metrics_text() after close; configuration files."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import promrw
from promrw import _constants as c

from conftest import Sink, config

T0 = 1_700_000_000_000
NUMERIC_KEYS = {"samples_failed", "samples_dropped_too_old", "samples_dropped_queue_full",
                "samples_pending", "last_http_status", "timed_out", "last_error_unix_ms",
                "samples_dropped_wal"}


class Receiver:
    """An in-process HTTP receiver on 127.0.0.1 answering every POST with ``status`` and
    ``body`` (both may be changed while it runs); it counts the requests it answers (before
    answering: a sender that got an answer finds the request counted)."""

    def __init__(self, status: int, body: str) -> None:
        """Starts the server thread."""
        self.status = status
        self.body = body
        self.requests = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests += 1
                payload = receiver.body.encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/write"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops serving and closes the socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def receivers() -> Iterator[List[Receiver]]:
    """Receivers a test starts (append to the list); all stopped afterwards."""
    started: List[Receiver] = []
    try:
        yield started
    finally:
        for r in started:
            r.stop()


def start(receivers: List[Receiver], status: int, body: str) -> Receiver:
    """Starts a :class:`Receiver` that the fixture stops."""
    receiver = Receiver(status, body)
    receivers.append(receiver)
    return receiver


def append_samples(sender: promrw.Sender, n: int, name: str = "py_lost") -> None:
    """Appends ``n`` samples spread over three series."""
    refs = [sender.series({"__name__": name, "i": str(i)}) for i in range(3)]
    for k in range(n):
        sender.append(refs[k % 3], float(k), T0 + k)


def assert_shape(report: Dict[str, Any], endpoints: int) -> None:
    """The report dict has the documented keys and types."""
    assert set(report) == NUMERIC_KEYS | {"message", "endpoints"}
    assert isinstance(report["timed_out"], bool) and isinstance(report["message"], str)
    assert len(report["endpoints"]) == endpoints
    for one in report["endpoints"]:
        assert set(one) == NUMERIC_KEYS | {"last_error"}
        assert isinstance(one["timed_out"], bool) and isinstance(one["last_error"], str)


@pytest.mark.parametrize(
    "status, body",
    [(404, "404 page not found"),
     (401, "unauthorized: the test wants a token"),
     (400, "bad data from the test: sample out of bounds")],
)
def test_flush_after_rejection_raises_samples_lost(receivers: List[Receiver], status: int,
                                                   body: str) -> None:
    """A receiver rejecting with 404, 401 or 400 makes flush raise SamplesLostError whose
    report counts every appended sample as failed and carries the status and the body; the
    next flush, with nothing new, succeeds."""
    rx = start(receivers, status, body)
    sender = promrw.Sender(config(rx.url))
    try:
        append_samples(sender, 10)
        before = time.time_ns() // 1_000_000
        with pytest.raises(promrw.SamplesLostError) as info:
            sender.flush(10)
        after = time.time_ns() // 1_000_000
        err = info.value
        assert err.code == c.PROMRW_SAMPLES_LOST == 303
        assert isinstance(err, promrw.PromrwError) and not isinstance(err, TimeoutError)
        assert err.name == "samples lost"
        report = err.report
        assert report is not None
        assert_shape(report, 1)
        assert report["samples_failed"] == 10
        assert report["last_http_status"] == status
        assert report["samples_pending"] == 0 and report["timed_out"] is False
        assert report["samples_dropped_too_old"] == report["samples_dropped_queue_full"] == 0
        assert before <= report["last_error_unix_ms"] <= after
        endpoint = report["endpoints"][0]
        assert endpoint["samples_failed"] == 10
        assert endpoint["last_http_status"] == status
        assert body in endpoint["last_error"], endpoint
        assert str(status) in endpoint["last_error"], endpoint
        assert report["message"].startswith("flush: 10 samples lost"), report["message"]
        assert err.message == report["message"] and body in err.message
        assert rx.requests >= 1
        assert sender.last_report() == report

        stats = sender.stats()
        assert stats["samples_appended"] == 10 and stats["samples_failed"] == 10
        assert stats["samples_acked"] == 0

        sender.flush(10)  # nothing new since the failed flush returned
        clean = sender.last_report()
        assert clean["samples_failed"] == 0 and clean["message"] == ""
        assert clean["endpoints"][0]["samples_failed"] == 0
        sender.close()  # nothing lost since that flush either
    finally:
        sender.close()
    assert sender.stats()["samples_failed"] == 10


def test_close_after_a_loss_raises_and_stats_stay_readable(receivers: List[Receiver]) -> None:
    """close sends what is queued; when the receiver rejects it, close raises
    SamplesLostError (the sender is closed anyway); stats, metrics_text and last_report then
    show the final counts; a second close does nothing."""
    rx = start(receivers, 400, "rejected by the test")
    sender = promrw.Sender(config(rx.url, batch_send_deadline="60s"))
    append_samples(sender, 7, "py_close_lost")
    with pytest.raises(promrw.SamplesLostError) as info:
        sender.close(10)
    assert sender.closed
    report = info.value.report
    assert report is not None and report["samples_failed"] == 7
    assert info.value.message == report["message"] and "7" in report["message"]
    assert report["last_http_status"] == 400
    assert "rejected by the test" in report["endpoints"][0]["last_error"]

    stats = sender.stats()
    assert stats["samples_appended"] == 7
    assert stats["samples_failed"] == 7
    assert stats["samples_acked"] == 0
    assert stats["samples_pending"] == 0
    assert stats["endpoints"] == 1
    assert "struct_size" not in stats
    assert stats["samples_total"] == 7 and stats["samples_retried"] == 0
    assert stats["bytes_total"] > 0  # a rejected batch's bytes count once, as Prometheus
    assert stats["highest_sent_ms"] == 0  # nothing acknowledged
    text = sender.metrics_text()
    assert "promrw_" in text and text.endswith("\n")
    # The stats mean what the exposition's metrics of those names say.
    lines = [line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#")]
    for key, metric in [
        ("samples_total", "prometheus_remote_storage_samples_total"),
        ("samples_failed", "prometheus_remote_storage_samples_failed_total"),
        ("samples_acked", "promrw_samples_acked_total"),
        ("bytes_total", "prometheus_remote_storage_bytes_total"),
    ]:
        found = [float(v) for k, v in lines if k.startswith(metric + "{")]
        assert found == [stats[key]], (key, found)
    assert dict(lines)['promrw_appends_rejected_total{reason="io"}'] == str(stats["rejected_io"])
    # Memory mode: the WAL figures are 0, and the exposition has no promrw_wal_* family.
    wal_keys = [k for k in stats if k.startswith("wal_") or k.startswith("samples_dropped_wal")]
    assert len(wal_keys) == 12, wal_keys
    assert all(stats[k] == 0 for k in wal_keys + ["rejected_io"]), stats
    assert "promrw_wal_" not in text
    assert sender.last_report() == report
    sender.close()  # closed: no error, no new report
    assert sender.last_report() == report
    with pytest.raises(promrw.ClosedError):
        sender.flush(1)
    # Samples refused after close are counted, each one.
    with pytest.raises(promrw.ClosedError):
        sender.append_many([1, 1, 1], [0.0, 1.0, 2.0], [T0 + 100, T0 + 101, T0 + 102])
    assert sender.stats()["rejected_closed"] == 3


def test_with_block_raises_samples_lost(receivers: List[Receiver]) -> None:
    """Leaving a with block closes the sender; a loss there raises SamplesLostError."""
    rx = start(receivers, 404, "404 page not found")
    with pytest.raises(promrw.SamplesLostError) as info:
        with promrw.Sender(config(rx.url)) as sender:
            append_samples(sender, 4, "py_with_lost")
    assert info.value.report is not None and info.value.report["samples_failed"] == 4
    assert sender.stats()["samples_failed"] == 4


def test_successful_flush_reports_nothing(sink: Sink) -> None:
    """Before the first flush and after a successful one the report is all zero and empty."""
    with promrw.Sender(config(sink.url)) as sender:
        empty = sender.last_report()
        assert_shape(empty, 1)
        assert all(empty[k] == 0 for k in NUMERIC_KEYS), empty
        assert empty["message"] == "" and empty["endpoints"][0]["last_error"] == ""
        append_samples(sender, 5, "py_ok")
        sender.flush(10)
        report = sender.last_report()
        assert report["samples_failed"] == 0 and report["message"] == ""
        assert report["last_http_status"] == 0
    assert sender.stats()["samples_acked"] == 5
    assert sink.wait_for(5) == 5


def test_one_endpoint_of_two_rejects(sink: Sink, receivers: List[Receiver]) -> None:
    """With two endpoints, the report names the one that rejected, by configuration order."""
    rx = start(receivers, 404, "no such path in the test")
    cfg = {"remote_write": [{"url": sink.url}, {"url": rx.url}]}
    sender = promrw.Sender(cfg)
    try:
        append_samples(sender, 6, "py_two")
        with pytest.raises(promrw.SamplesLostError) as info:
            sender.flush(10)
        report = info.value.report
        assert report is not None
        assert_shape(report, 2)
        good, bad = report["endpoints"]
        assert good["samples_failed"] == 0 and good["last_error"] == ""
        assert good["last_http_status"] == 0
        assert bad["samples_failed"] == 6 and bad["last_http_status"] == 404
        assert "no such path in the test" in bad["last_error"]
        assert report["samples_failed"] == 6 and report["last_http_status"] == 404
    finally:
        sender.close()
    assert sink.wait_for(6) == 6


def test_timeout_carries_the_report(dead_url: str) -> None:
    """A flush deadline passing raises DeadlineExceededError with the report: the sample is
    pending and timed_out is set; the connection failure has no HTTP status."""
    sender = promrw.Sender(config(dead_url), close_timeout=0.05)
    try:
        sender.append(sender.series({"__name__": "py_timeout_report"}), 1.0, T0)
        with pytest.raises(promrw.DeadlineExceededError) as info:
            sender.flush(0.3)
        report = info.value.report
        assert report is not None
        assert_shape(report, 1)
        assert report["timed_out"] is True and report["samples_pending"] == 1
        assert report["last_http_status"] == 0
        assert "refused" in report["endpoints"][0]["last_error"].lower(), report
        assert report["message"]
    finally:
        with pytest.raises(promrw.DeadlineExceededError) as info:
            sender.close()
    assert info.value.report is not None and info.value.report["timed_out"] is True
    assert sender.stats()["samples_failed"] == 1  # abandoned at the close deadline


# ---- configuration files ---------------------------------------------------------------------


def test_from_file_yaml_and_json(sink: Sink, tmp_path: Path) -> None:
    """A YAML or JSON file configures a sender, by classmethod or path=, as str, Path or
    bytes."""
    yaml_file = tmp_path / "promrw.yml"
    yaml_file.write_text(f"remote_write:\n  - url: {sink.url}\n    name: from-yaml\n")
    json_file = tmp_path / "promrw.json"
    json_file.write_text(json.dumps({"remote_write": [{"url": sink.url}]}))
    senders = [
        promrw.Sender.from_file(yaml_file),
        promrw.Sender(path=str(yaml_file)),
        promrw.Sender(path=bytes(json_file)),
        promrw.Sender.from_file(str(json_file), close_timeout=5.0),
    ]
    for i, sender in enumerate(senders):
        with sender:
            sender.append(sender.series({"__name__": "py_from_file", "i": str(i)}), 1.0, T0)
            sender.flush(10)
            assert sender.stats()["samples_acked"] == 1
    assert senders[3].close_timeout == 5.0
    assert sink.wait_for(4) == 4
    sink.assert_clean()


def test_from_file_bad_value_names_the_field(tmp_path: Path) -> None:
    """A file with an invalid value raises InvalidConfigError naming the field."""
    bad = tmp_path / "bad.yml"
    bad.write_text("remote_write:\n  - url: http://127.0.0.1:1/w\n"
                   "    queue_config:\n      capacity: 0\n")
    with pytest.raises(promrw.InvalidConfigError) as info:
        promrw.Sender.from_file(bad)
    assert info.value.code == c.PROMRW_INVALID_CONFIG
    assert "remote_write[0].queue_config.capacity" in info.value.message


def test_from_file_unknown_key_and_unreadable_file(tmp_path: Path) -> None:
    """An unknown key is named; a missing file is InvalidConfigError naming the path."""
    unknown = tmp_path / "unknown.yml"
    unknown.write_text("remote_write:\n  - url: http://127.0.0.1:1/w\n    bogus_key: 1\n")
    with pytest.raises(promrw.InvalidConfigError) as info:
        promrw.Sender(path=unknown)
    assert "bogus_key" in info.value.message
    missing = tmp_path / "no-such-dir" / "promrw.yml"
    with pytest.raises(promrw.InvalidConfigError) as info:
        promrw.Sender.from_file(missing)
    assert str(missing) in info.value.message


def test_config_and_path_are_exclusive(tmp_path: Path) -> None:
    """Exactly one of config and path= is taken; a path must be a path."""
    cfg = config("http://127.0.0.1:1/w")
    with pytest.raises(TypeError, match="exactly one"):
        promrw.Sender()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="exactly one"):
        promrw.Sender(cfg, path=tmp_path / "x.yml")
    with pytest.raises(TypeError, match="path must be"):
        promrw.Sender(path=42)  # type: ignore[arg-type]


def test_relabel_and_tenant_drops_are_counted_by_reason(sink: Sink) -> None:
    """Samples that write_relabel_configs and tenant routing drop are counted by reason in
    stats(), as the exposition counts them, and are no loss: flush succeeds."""
    cfg = config(sink.url, batch_send_deadline="50ms")
    endpoint = cfg["remote_write"][0]
    endpoint["name"] = "py"
    endpoint["write_relabel_configs"] = [
        {"source_labels": ["__name__"], "regex": "py_dropme", "action": "drop"},
        {"source_labels": ["__name__"], "regex": "py_invalid_me", "target_label": "__name__",
         "replacement": "1bad"},
    ]
    endpoint["tenant"] = {"label": "tenant"}
    counts = {("py_dropme", "a"): 3, ("py_invalid_me", "a"): 5, ("py_no_tenant", ""): 7,
              ("py_kept", "a"): 2}
    with promrw.Sender(cfg) as sender:
        for (name, tenant), n in counts.items():
            labels = {"__name__": name}
            if tenant:
                labels["tenant"] = tenant
            ref = sender.series(labels)
            for k in range(n):
                sender.append(ref, float(k), T0 + k)
        sender.flush(5)
        stats = sender.stats()
        text = sender.metrics_text()
    assert (stats["samples_dropped_relabel"], stats["samples_dropped_relabel_invalid"],
            stats["samples_dropped_no_tenant"], stats["samples_acked"]) == (3, 5, 7, 2), stats
    for key, reason in [("samples_dropped_relabel", "relabel"),
                        ("samples_dropped_relabel_invalid", "relabel_invalid"),
                        ("samples_dropped_no_tenant", "no_tenant")]:
        prefix = f'prometheus_remote_storage_samples_dropped_total{{reason="{reason}",'
        found = [line.split()[-1] for line in text.splitlines() if line.startswith(prefix)]
        assert found == [str(stats[key])], (key, found)
