"""The library's log records reach the ``logging`` logger ``promrw`` at the mapped level."""

from __future__ import annotations

import http.server
import logging
import threading
import time

import pytest

import promrw
from promrw import _constants as c
from promrw import _sender

from conftest import Sink, config

T0 = 1_700_000_000_000


def records(caplog: pytest.LogCaptureFixture, level: int, text: str):  # type: ignore[no-untyped-def]
    """The captured promrw records at ``level`` containing ``text``."""
    return [r for r in caplog.records
            if r.name == "promrw" and r.levelno == level and text in r.getMessage()]


def wait_for_record(caplog: pytest.LogCaptureFixture, level: int, text: str,
                    timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """Waits until a matching record was captured (records may come from library threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = records(caplog, level, text)
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"no {logging.getLevelName(level)} record with {text!r}: "
                         f"{[r.getMessage() for r in caplog.records]}")


def test_info_records_from_the_calling_thread(sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    """With the logger at INFO, lifecycle records (start, close) arrive as INFO."""
    caplog.set_level(logging.INFO, logger="promrw")
    with promrw.Sender(config(sink.url)):
        pass
    started = wait_for_record(caplog, logging.INFO, "started 1 shards")
    assert started[0].threadName == threading.current_thread().name
    wait_for_record(caplog, logging.INFO, "closed")


def test_warning_records_from_shard_threads(dead_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Retries are logged as WARNING from the library's shard threads."""
    caplog.set_level(logging.WARNING, logger="promrw")
    sender = promrw.Sender(config(dead_url, batch_send_deadline="10ms"), close_timeout=0.05)
    try:
        sender.append(sender.series({"__name__": "py_log_warn"}), 1.0, T0)
        found = wait_for_record(caplog, logging.WARNING, "retrying")
        assert found[0].threadName != threading.current_thread().name
        assert "Connection refused" in found[0].getMessage()
        assert not records(caplog, logging.INFO, "started")  # below the level: not produced
    finally:
        with pytest.raises(promrw.DeadlineExceededError):
            sender.close()


class _Refuse400(http.server.BaseHTTPRequestHandler):
    """Answers every POST with 400, which a Remote Write sender must not retry."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"bad data from the test"
        self.send_response(400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


def test_error_records_for_rejected_batches(caplog: pytest.LogCaptureFixture) -> None:
    """A batch the receiver refuses for good (400) is logged as ERROR and counted as failed."""
    caplog.set_level(logging.WARNING, logger="promrw")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuse400)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/write"
        with promrw.Sender(config(url)) as sender:
            sender.append(sender.series({"__name__": "py_log_error"}), 1.0, T0)
            sender.flush(10)
            stats = sender.stats()
            assert stats["samples_failed"] == 1 and stats["samples_sent"] == 0
        found = wait_for_record(caplog, logging.ERROR, "non-recoverable")
        assert "400" in found[0].getMessage()
    finally:
        server.shutdown()
        server.server_close()


def test_log_level_argument_limits_records(sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    """log_level asks the library for fewer records than the logger would take."""
    caplog.set_level(logging.DEBUG, logger="promrw")
    with promrw.Sender(config(sink.url), log_level=logging.ERROR):
        pass
    time.sleep(0.05)
    assert not [r for r in caplog.records if r.name == "promrw"]


def test_level_mapping() -> None:
    """logging levels map to the library's levels (the lowest that forwards them)."""
    assert _sender._library_level(logging.NOTSET) == c.PROMRW_LOG_DEBUG
    assert _sender._library_level(logging.DEBUG) == c.PROMRW_LOG_DEBUG
    assert _sender._library_level(logging.INFO) == c.PROMRW_LOG_INFO
    assert _sender._library_level(logging.WARNING) == c.PROMRW_LOG_WARN
    assert _sender._library_level(logging.ERROR) == c.PROMRW_LOG_ERROR
    assert _sender._library_level(logging.CRITICAL) == c.PROMRW_LOG_ERROR
    assert _sender._LEVELS == {
        c.PROMRW_LOG_DEBUG: logging.DEBUG,
        c.PROMRW_LOG_INFO: logging.INFO,
        c.PROMRW_LOG_WARN: logging.WARNING,
        c.PROMRW_LOG_ERROR: logging.ERROR,
    }


def test_callback_never_raises_into_the_library(sink: Sink) -> None:
    """A failing handler does not disturb the sender (the callback swallows everything)."""

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise RuntimeError("handler failure")

        def handleError(self, record: logging.LogRecord) -> None:
            raise RuntimeError("handleError failure")

    log = logging.getLogger("promrw")
    handler = Broken()
    old = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with promrw.Sender(config(sink.url)) as sender:
            sender.append(sender.series({"__name__": "py_broken_handler"}), 1.0, T0)
            sender.flush(10)
            assert sender.stats()["samples_sent"] == 1
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
