"""The library's log records reach the ``logging`` logger ``promrw`` at the mapped level."""

from __future__ import annotations

import collections
import ctypes
import http.server
import logging
import threading
import time
from typing import Any, Iterator, List

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


class Capture(logging.Handler):
    """Keeps every record it is given (thread-safe: records may come from shard threads)."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: List[logging.LogRecord] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.records.append(record)

    def matching(self, level: int, text: str) -> List[logging.LogRecord]:
        """The records at ``level`` whose message contains ``text``."""
        with self._guard:
            return [r for r in self.records
                    if r.levelno == level and text in r.getMessage()]

    def messages(self) -> List[str]:
        """Every message, for assertion output."""
        with self._guard:
            return [f"{r.levelname}: {r.getMessage()}" for r in self.records]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """A :class:`Capture` on the ``promrw`` logger; the logger's and the root's levels and
    propagation are restored afterwards (the tests change them)."""
    log = logging.getLogger("promrw")
    root = logging.getLogger()
    saved = (log.level, root.level, log.propagate)
    handler = Capture()
    log.addHandler(handler)
    log.propagate = False  # only this handler sees the records (not caplog's, not the root's)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        root.setLevel(saved[1])
        log.propagate = saved[2]


def test_lowering_the_level_after_creation_takes_effect(sink: Sink, capture: Capture) -> None:
    """A sender made while the logger is at WARNING logs INFO once the level is lowered.

    The INFO record of the start is below the level when it is produced and is dropped; the
    INFO record of the close comes after ``setLevel(DEBUG)`` and arrives. (When the library was
    asked only for WARNING and above at creation, the close record was never produced.)
    """
    log = logging.getLogger("promrw")
    log.setLevel(logging.WARNING)
    sender = promrw.Sender(config(sink.url))
    assert not capture.matching(logging.INFO, "started"), capture.messages()
    log.setLevel(logging.DEBUG)
    sender.close()
    assert capture.matching(logging.INFO, "closed (drained: true)"), capture.messages()
    assert not capture.matching(logging.INFO, "started"), capture.messages()


def test_raising_the_level_after_creation_takes_effect(sink: Sink, capture: Capture) -> None:
    """A sender made while the logger is at DEBUG stops logging INFO once the level is raised."""
    log = logging.getLogger("promrw")
    log.setLevel(logging.DEBUG)
    sender = promrw.Sender(config(sink.url))
    assert capture.matching(logging.INFO, "started 1 shards"), capture.messages()
    log.setLevel(logging.WARNING)
    sender.close()
    assert not capture.matching(logging.INFO, "closed"), capture.messages()
    # The start record only (a DEBUG record about the trust roots may come before it).
    info_and_above = [r for r in capture.records if r.levelno >= logging.INFO]
    assert len(info_and_above) == 1, capture.messages()


def test_root_level_change_reaches_the_promrw_logger(sink: Sink, capture: Capture) -> None:
    """With the ``promrw`` logger at NOTSET, its effective level is the root's: lowering the
    root's level after the sender was made lets the close record through."""
    log = logging.getLogger("promrw")
    root = logging.getLogger()
    log.setLevel(logging.NOTSET)
    root.setLevel(logging.WARNING)
    sender = promrw.Sender(config(sink.url))
    assert not capture.matching(logging.INFO, "started"), capture.messages()
    root.setLevel(logging.INFO)
    sender.close()
    assert capture.matching(logging.INFO, "closed (drained: true)"), capture.messages()


def test_handler_level_change_takes_effect(sink: Sink, capture: Capture) -> None:
    """A handler's own level filters the records it is given, as it changes."""
    log = logging.getLogger("promrw")
    log.setLevel(logging.DEBUG)
    capture.setLevel(logging.WARNING)
    sender = promrw.Sender(config(sink.url))
    assert not capture.records, capture.messages()
    capture.setLevel(logging.INFO)
    sender.close()
    assert capture.matching(logging.INFO, "closed (drained: true)"), capture.messages()
    assert not capture.matching(logging.INFO, "started"), capture.messages()


def test_records_below_the_level_are_not_read(sink: Sink, capture: Capture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A record below the logger's level costs the callback a level check, nothing more: its
    text is not copied out of the library and no LogRecord is made."""
    reads: List[int] = []
    real_string_at = ctypes.string_at

    def counting_string_at(address: Any, size: int = -1) -> bytes:
        reads.append(size)
        return real_string_at(address, size)

    monkeypatch.setattr(_sender.ctypes, "string_at", counting_string_at)
    log = logging.getLogger("promrw")
    log.setLevel(logging.ERROR)
    with promrw.Sender(config(sink.url)):
        pass
    assert reads == [] and not capture.records, capture.messages()
    log.setLevel(logging.INFO)
    with promrw.Sender(config(sink.url)):
        pass
    assert len(reads) == 2 and len(capture.records) == 2, capture.messages()  # started, closed


def test_debug_records_per_request(sink: Sink, capture: Capture) -> None:
    """With the logger at DEBUG when the sender is made, every request is logged at DEBUG
    from the shard thread."""
    logging.getLogger("promrw").setLevel(logging.DEBUG)
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_log_debug"})
        for k in range(3):
            sender.append(ref, float(k), T0 + k)
            sender.flush(10)
    found = capture.matching(logging.DEBUG, "request of 1 samples")
    assert len(found) == 3, capture.messages()
    assert all(r.threadName != threading.current_thread().name for r in found)


def test_log_level_debug_then_set_level(sink: Sink, capture: Capture) -> None:
    """log_level=DEBUG makes the library produce DEBUG records whatever the logger's level
    at creation; they reach the logger once its level allows them."""
    log = logging.getLogger("promrw")
    log.setLevel(logging.WARNING)
    with promrw.Sender(config(sink.url), log_level=logging.DEBUG) as sender:
        ref = sender.series({"__name__": "py_log_debug_later"})
        sender.append(ref, 1.0, T0)
        sender.flush(10)
        assert not capture.records, capture.messages()
        log.setLevel(logging.DEBUG)
        sender.append(ref, 2.0, T0 + 1)
        sender.flush(10)
    assert len(capture.matching(logging.DEBUG, "request of 1 samples")) == 1, capture.messages()


class _CountingLevels(dict):  # type: ignore[type-arg]
    """``_sender._LEVELS`` that counts the callback's look-ups: one per record it is given."""

    def __init__(self, levels: Any, counts: "collections.Counter[int]") -> None:
        super().__init__(levels)
        self.counts = counts

    def get(self, level: Any, default: Any = None) -> Any:  # noqa: D102
        self.counts[level] += 1
        return dict.get(self, level, default)


def test_logging_off_costs_no_callback_per_request(sink: Sink, capture: Capture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With logging off (``promrw`` at NOTSET, the root at WARNING) the library is not asked
    for the per-request DEBUG records: the callback sees the start and close records only.
    With log_level=DEBUG it sees one DEBUG record per request (all dropped by the level)."""
    counts: "collections.Counter[int]" = collections.Counter()
    monkeypatch.setattr(_sender, "_LEVELS", _CountingLevels(_sender._LEVELS, counts))
    logging.getLogger("promrw").setLevel(logging.NOTSET)
    logging.getLogger().setLevel(logging.WARNING)

    def five_requests(**kwargs: Any) -> None:
        with promrw.Sender(config(sink.url), **kwargs) as sender:
            ref = sender.series({"__name__": "py_log_off", "k": str(kwargs)})
            for k in range(5):
                sender.append(ref, float(k), T0 + k)
                sender.flush(10)
            assert sender.stats()["batches_acked"] == 5

    five_requests()
    assert counts[c.PROMRW_LOG_DEBUG] == 0, counts
    assert counts[c.PROMRW_LOG_INFO] == 2, counts  # started, closed
    counts.clear()
    five_requests(log_level=logging.DEBUG)
    assert counts[c.PROMRW_LOG_DEBUG] == 5, counts
    assert not capture.records, capture.messages()


@pytest.fixture
def debug_callbacks(monkeypatch: pytest.MonkeyPatch) -> "collections.Counter[int]":
    """Counts the records the log callback is given, by library level."""
    counts: "collections.Counter[int]" = collections.Counter()
    monkeypatch.setattr(_sender, "_LEVELS", _CountingLevels(_sender._LEVELS, counts))
    return counts


def request(sender: promrw.Sender, n: int, name: str) -> None:
    """One request of ``n`` samples (``n`` series, one sample each), acknowledged."""
    refs = [sender.series({"__name__": name, "k": str(k)}) for k in range(n)]
    sender.append_many(refs, [1.0] * n, [T0] * n)
    sender.flush(10)


def test_debug_records_follow_set_level(sink: Sink, capture: Capture,
                                        debug_callbacks: "collections.Counter[int]") -> None:
    """A sender made while the ``promrw`` logger is at WARNING logs its requests at DEBUG once
    the level is lowered to DEBUG, and stops once it is raised again: the next call into the
    binding passes the level on to the library, so no DEBUG record is produced (and no
    callback made) while the logger is above DEBUG."""
    log = logging.getLogger("promrw")
    log.setLevel(logging.WARNING)
    with promrw.Sender(config(sink.url)) as sender:
        request(sender, 1, "py_follow_before")
        assert debug_callbacks[c.PROMRW_LOG_DEBUG] == 0, debug_callbacks
        log.setLevel(logging.DEBUG)
        request(sender, 2, "py_follow_on")
        assert len(capture.matching(logging.DEBUG, "request of 2 samples")) == 1, \
            capture.messages()
        log.setLevel(logging.WARNING)
        request(sender, 3, "py_follow_off")
        assert debug_callbacks[c.PROMRW_LOG_DEBUG] == 1, debug_callbacks  # request 2's only
        assert sender.stats()["batches_acked"] == 3
    assert [r.getMessage() for r in capture.records if r.levelno == logging.DEBUG] == [
        r.getMessage() for r in capture.matching(logging.DEBUG, "request of 2 samples")
    ], capture.messages()


def test_debug_records_follow_the_root_level(sink: Sink, capture: Capture,
                                             debug_callbacks: "collections.Counter[int]") -> None:
    """With the ``promrw`` logger at NOTSET, the root logger's level alone turns the
    per-request DEBUG records on and off."""
    log = logging.getLogger("promrw")
    root = logging.getLogger()
    log.setLevel(logging.NOTSET)
    root.setLevel(logging.WARNING)
    with promrw.Sender(config(sink.url)) as sender:
        request(sender, 1, "py_follow_root_before")
        root.setLevel(logging.DEBUG)
        request(sender, 2, "py_follow_root_on")
        root.setLevel(logging.WARNING)
        request(sender, 3, "py_follow_root_off")
    debug = [r.getMessage() for r in capture.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and "request of 2 samples" in debug[0], capture.messages()
    assert debug_callbacks[c.PROMRW_LOG_DEBUG] == 1, debug_callbacks


def test_debug_records_follow_logging_disable(sink: Sink, capture: Capture,
                                             debug_callbacks: "collections.Counter[int]") -> None:
    """``logging.disable(logging.DEBUG)`` turns the per-request DEBUG records off (the library
    is no longer asked for them) and ``logging.disable(logging.NOTSET)`` back on."""
    logging.getLogger("promrw").setLevel(logging.DEBUG)
    with promrw.Sender(config(sink.url)) as sender:
        logging.disable(logging.DEBUG)
        try:
            request(sender, 1, "py_follow_disabled")
        finally:
            logging.disable(logging.NOTSET)
        request(sender, 2, "py_follow_enabled")
    assert debug_callbacks[c.PROMRW_LOG_DEBUG] == 1, debug_callbacks
    debug = [r.getMessage() for r in capture.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and "request of 2 samples" in debug[0], capture.messages()


def test_a_record_passes_the_level_on(sink: Sink, capture: Capture,
                                      debug_callbacks: "collections.Counter[int]") -> None:
    """The records themselves follow the level, between calls into the binding: a handler
    raising the level to WARNING on the first DEBUG record of five requests stops the rest
    after one discarded record (the next record's callback tells the library)."""
    log = logging.getLogger("promrw")
    log.setLevel(logging.DEBUG)

    class RaiseLevel(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno == logging.DEBUG:
                log.setLevel(logging.WARNING)

    raiser = RaiseLevel()
    log.addHandler(raiser)
    try:
        with promrw.Sender(config(sink.url, max_samples_per_send=1)) as sender:
            refs = [sender.series({"__name__": "py_follow_record", "k": str(k)})
                    for k in range(5)]
            sender.append_many(refs, [1.0] * 5, [T0] * 5)  # five requests of 1 sample
            # Waits without calling the binding (whose calls pass the level on as well).
            raw = _sender.promrw_stats()
            raw.struct_size = ctypes.sizeof(raw)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                assert _sender.lib.promrw_sender_stats(sender._handle, ctypes.byref(raw)) == 0
                if raw.batches_acked == 5:
                    break
                time.sleep(0.01)
            assert raw.batches_acked == 5, raw.batches_acked
            # The shard thread's records: the first delivered, the second discarded (its
            # callback passed WARNING on), none for the other three.
            assert debug_callbacks[c.PROMRW_LOG_DEBUG] == 2, debug_callbacks
    finally:
        log.removeHandler(raiser)
    assert len(capture.matching(logging.DEBUG, "request of 1 samples")) == 1, capture.messages()


def test_log_level_argument_pins_the_level(sink: Sink, capture: Capture) -> None:
    """With log_level=INFO the sender does not follow the logger: lowering it to DEBUG
    afterwards brings no DEBUG records (while INFO records still arrive)."""
    log = logging.getLogger("promrw")
    log.setLevel(logging.WARNING)
    with promrw.Sender(config(sink.url), log_level=logging.INFO) as sender:
        log.setLevel(logging.DEBUG)
        request(sender, 2, "py_pinned")
    assert not [r for r in capture.records if r.levelno == logging.DEBUG], capture.messages()
    assert capture.matching(logging.INFO, "closed (drained: true)"), capture.messages()


def test_level_changes_after_close_are_harmless(sink: Sink, capture: Capture) -> None:
    """After close the read-only calls still work when the logger's level changes (the
    library refuses the level with PROMRW_CLOSED, which the sender does not raise)."""
    log = logging.getLogger("promrw")
    log.setLevel(logging.WARNING)
    sender = promrw.Sender(config(sink.url))
    assert sender._log_follow and not sender._log_debug
    sender.close()
    log.setLevel(logging.DEBUG)
    assert sender.stats()["samples_appended"] == 0
    # The call passed the new level on; the library refused it (closed), so the sender
    # stopped following the logger rather than raising.
    assert not sender._log_follow and not sender._log_debug
    assert "promrw" in sender.metrics_text()
    assert sender.last_report()["samples_failed"] == 0
    log.setLevel(logging.WARNING)
    assert sender.stats()["samples_appended"] == 0


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
    """A batch the receiver refuses for good (400) is logged as ERROR, counted as failed and
    reported by flush."""
    caplog.set_level(logging.WARNING, logger="promrw")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuse400)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/write"
        with promrw.Sender(config(url)) as sender:
            sender.append(sender.series({"__name__": "py_log_error"}), 1.0, T0)
            with pytest.raises(promrw.SamplesLostError):
                sender.flush(10)
            stats = sender.stats()
            assert stats["samples_failed"] == 1 and stats["samples_acked"] == 0
        found = wait_for_record(caplog, logging.ERROR, "rejected a batch")
        assert "HTTP 400" in found[0].getMessage()
        assert "bad data from the test" in found[0].getMessage()  # the receiver's body
    finally:
        server.shutdown()
        server.server_close()


def test_log_level_argument_limits_records(dead_url: str, capture: Capture) -> None:
    """log_level asks the library for fewer records than the logger would take, for the
    sender's whole life: with log_level=WARNING and the logger at DEBUG, retry warnings arrive
    but neither INFO record (start, close) does."""
    logging.getLogger("promrw").setLevel(logging.DEBUG)
    sender = promrw.Sender(config(dead_url, batch_send_deadline="10ms"), close_timeout=0.05,
                           log_level=logging.WARNING)
    try:
        sender.append(sender.series({"__name__": "py_log_level_arg"}), 1.0, T0)
        deadline = time.monotonic() + 10
        while not capture.matching(logging.WARNING, "retrying") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert capture.matching(logging.WARNING, "retrying"), capture.messages()
    finally:
        with pytest.raises(promrw.DeadlineExceededError):
            sender.close()
    assert not [r for r in capture.records if r.levelno < logging.WARNING], capture.messages()


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
        def __init__(self) -> None:
            super().__init__()
            self.messages: List[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())
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
            # The start record reached the handler, which raised inside the callback.
            assert any("started 1 shards" in m for m in handler.messages), handler.messages
            sender.append(sender.series({"__name__": "py_broken_handler"}), 1.0, T0)
            sender.flush(10)
            assert sender.stats()["samples_acked"] == 1
        assert any("closed" in m for m in handler.messages), handler.messages
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
    sink.wait_for(1)
    assert sink.snapshot()["total_samples"] == 1
