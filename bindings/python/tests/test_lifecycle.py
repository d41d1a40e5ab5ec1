"""Context manager, close, garbage collection and interpreter exit."""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
import weakref
from typing import Any, List

import pytest

import promrw
from promrw import _constants as c

from conftest import Sink, config, run_python

T0 = 1_700_000_000_000


def test_with_block_closes_and_delivers(sink: Sink) -> None:
    """Leaving a with block closes the sender after sending what is queued."""
    with promrw.Sender(config(sink.url, batch_send_deadline="60s")) as sender:
        ref = sender.series({"__name__": "py_with"})
        for i in range(10):
            sender.append(ref, float(i), T0 + i)
        assert not sender.closed
        # no flush: the partial batch would wait 60 s; close sends it
    assert sender.closed
    assert sink.wait_for(10) == 10
    stats = sender.stats()  # still readable after close: the final counts
    assert stats["samples_acked"] == 10 and stats["samples_pending"] == 0
    sink.assert_clean()


def test_with_block_exception_propagates(sink: Sink) -> None:
    """An exception in the block propagates; the sender is closed and its samples sent."""
    with pytest.raises(KeyError):
        with promrw.Sender(config(sink.url)) as sender:
            ref = sender.series({"__name__": "py_with_exc"})
            sender.append(ref, 1.0, T0)
            raise KeyError("boom")
    assert sender.closed
    assert sink.wait_for(1) == 1


def test_with_block_exception_wins_over_close_timeout(dead_url: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """When the block raised, a close deadline passing is logged, not raised over it."""
    with pytest.raises(KeyError):
        with promrw.Sender(config(dead_url), close_timeout=0.05) as sender:
            ref = sender.series({"__name__": "py_with_exc2"})
            sender.append(ref, 1.0, T0)
            raise KeyError("boom")
    assert sender.closed
    assert any("after an exception" in r.getMessage() for r in caplog.records)


def test_with_block_close_timeout_raises(dead_url: str) -> None:
    """Without an exception in the block, a passed close deadline raises on exit."""
    with pytest.raises(promrw.DeadlineExceededError):
        with promrw.Sender(config(dead_url), close_timeout=0.05) as sender:
            sender.append(sender.series({"__name__": "py_with_to"}), 1.0, T0)
    assert sender.closed


def test_close_timeouts(sink: Sink) -> None:
    """close() takes seconds, None (the constructor's close_timeout) or inf (no limit)."""
    for i, timeout in enumerate((None, 5.0, 0, math.inf)):
        sender = promrw.Sender(config(sink.url), close_timeout=2.5)
        assert sender.close_timeout == 2.5
        sender.append(sender.series({"__name__": "py_close", "i": str(i)}), 1.0, T0)
        sender.flush()
        try:
            sender.close(timeout)
        except promrw.DeadlineExceededError:
            # With a zero deadline the library may report a timeout even with nothing
            # left to send (the deadline has passed when it checks).
            assert timeout == 0
        assert sender.closed
    sender = promrw.Sender(config(sink.url), close_timeout=None)
    sender.close()
    assert sink.wait_for(4) == 4
    sink.assert_clean()


def test_sync_in_memory_mode_returns_at_once(dead_url: str) -> None:
    """Without promrw.wal, sync returns at once and guarantees nothing: nothing queued can
    reach the dead endpoint, yet sync (unlike flush) does not wait for it."""
    sender = promrw.Sender(config(dead_url, min_backoff="10ms", max_backoff="50ms"),
                           close_timeout=0.1)
    try:
        ref = sender.series({"__name__": "py_sync_memory"})
        for i in range(10):
            sender.append(ref, float(i), T0 + i)
        started = time.monotonic()
        assert sender.sync(timeout=30.0) is None
        assert sender.sync() is None  # no limit
        assert sender.sync(0) is None
        took = time.monotonic() - started
        assert took < 5.0, f"sync in memory mode waited {took:.3f} s"
        stats = sender.stats()
        assert stats["samples_appended"] == 10
        assert stats["samples_acked"] == 0, "sync delivers nothing"
        assert stats["samples_pending"] > 0, "sync guarantees nothing"
    finally:
        with pytest.raises(promrw.DeadlineExceededError):
            sender.close()
    with pytest.raises(promrw.ClosedError) as info:
        sender.sync(timeout=1.0)
    assert info.value.code == c.PROMRW_CLOSED


def test_sync_docstring_points_to_the_durability_contract() -> None:
    """Sender.sync's docstring points to docs/DURABILITY.md, the one place stating it."""
    doc = " ".join((promrw.Sender.sync.__doc__ or "").split())
    assert "docs/DURABILITY.md" in doc
    assert "In memory mode (no ``promrw.wal``) it succeeds at once and guarantees nothing" in doc


def test_garbage_collected_sender_delivers(sink: Sink) -> None:
    """A sender dropped without close is closed (sending its samples) and freed."""
    sender = promrw.Sender(config(sink.url, batch_send_deadline="60s"))
    ref = sender.series({"__name__": "py_gc"})
    for i in range(25):
        sender.append(ref, float(i), T0 + i)
    alive = weakref.ref(sender)
    del sender
    gc.collect()
    assert alive() is None
    assert sink.wait_for(25) == 25
    sink.assert_clean()


def test_sender_in_reference_cycle_is_collected(sink: Sink) -> None:
    """A sender kept only by a reference cycle is closed and freed by the cycle collector."""

    class Holder:
        pass

    holder = Holder()
    holder.me = holder  # type: ignore[attr-defined]
    holder.sender = promrw.Sender(config(sink.url))  # type: ignore[attr-defined]
    ref = holder.sender.series({"__name__": "py_cycle"})  # type: ignore[attr-defined]
    holder.sender.append(ref, 1.0, T0)  # type: ignore[attr-defined]
    alive = weakref.ref(holder.sender)  # type: ignore[attr-defined]
    del holder
    gc.collect()
    assert alive() is None
    assert sink.wait_for(1) == 1


def test_closed_then_collected(sink: Sink) -> None:
    """Closing and then dropping frees the handle without a second close."""
    sender = promrw.Sender(config(sink.url))
    sender.close()
    del sender
    gc.collect()


def test_failed_constructor_leaves_nothing_behind() -> None:
    """A constructor that raises leaves an object whose finaliser does nothing."""
    for _ in range(50):
        with pytest.raises(promrw.InvalidConfigError):
            promrw.Sender("remote_write: [")
    gc.collect()


def test_dropped_inside_a_library_callback(dead_url: str) -> None:
    """A sender whose last reference is dropped in a log callback running on its own shard
    thread is closed and freed from another thread (closing on the shard thread would join
    the very thread it runs on)."""
    holder: List[Any] = []
    dropped = threading.Event()

    class DropOnShardThread(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if holder and isinstance(threading.current_thread(), threading._DummyThread):
                holder.clear()  # the last reference: __del__ runs right here
                dropped.set()

    log = logging.getLogger("promrw")
    handler = DropOnShardThread(level=logging.WARNING)
    log.addHandler(handler)
    try:
        # The endpoint refuses connections: the shard logs a warning about each retry.
        sender = promrw.Sender(config(dead_url, batch_send_deadline="10ms"), close_timeout=0.2)
        sender.append(sender.series({"__name__": "py_drop_in_cb"}), 1.0, T0)
        alive = weakref.ref(sender)
        holder.append(sender)
        del sender
        assert dropped.wait(10), "no record came from a shard thread"
        deadline = time.monotonic() + 10
        while alive() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert alive() is None
        # the helper thread closes (0.2 s deadline) and frees the handle
        deadline = time.monotonic() + 10
        while any(t.name == "promrw-free" for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the handle was not freed"
            time.sleep(0.01)
    finally:
        log.removeHandler(handler)


def test_interpreter_exit_with_open_sender(sink: Sink) -> None:
    """Exiting with a sender still open closes it at exit (samples sent), without a crash,
    also with debug logging running through the callback until the end."""
    code = f"""
import logging, sys, promrw
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
s = promrw.Sender({{"remote_write": [{{"url": "{sink.url}",
                   "queue_config": {{"batch_send_deadline": "60s"}}}}]}})
r = s.series({{"__name__": "py_exit"}})
for i in range(40):
    s.append(r, float(i), {T0} + i)
print("appended")
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "appended" in result.stdout
    assert "closed" in result.stdout  # the library's info record from the close at exit
    assert sink.wait_for(40) == 40


def test_interpreter_exit_with_appending_daemon_thread(sink: Sink) -> None:
    """A daemon thread still appending when the interpreter exits does not crash it."""
    code = f"""
import threading, time, promrw
s = promrw.Sender({{"remote_write": [{{"url": "{sink.url}"}}]}})
r = s.series({{"__name__": "py_exit_daemon"}})
going = threading.Event()
def run():
    t = {T0}
    while True:
        t += 1
        try:
            s.append(r, 1.0, t)
        except promrw.ClosedError:
            return
        if t == {T0} + 100:
            going.set()
threading.Thread(target=run, daemon=True).start()
# Exit while the thread is appending: once it has appended 100 samples.
assert going.wait(30), "the daemon thread did not get going"
print("appending")
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "appending" in result.stdout
    assert sink.wait_for(100) >= 100


def test_interpreter_exit_with_unreachable_endpoint(dead_url: str) -> None:
    """At exit an open sender waits at most its close_timeout."""
    code = f"""
import promrw
s = promrw.Sender({{"remote_write": [{{"url": "{dead_url}"}}]}}, close_timeout=0.3)
s.append(s.series({{"__name__": "py_exit_dead"}}), 1.0, {T0})
"""
    started = time.monotonic()
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
