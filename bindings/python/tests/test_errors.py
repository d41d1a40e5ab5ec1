"""Every error path: each status raises its PromrwError subclass with code and message."""

from __future__ import annotations

import ctypes
import math
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import promrw
from promrw import _constants as c
from promrw import _errors, _lib, _sender

from conftest import REPO, Sink, config

T0 = 1_700_000_000_000


# ---- the mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, cls, builtin",
    [
        (c.PROMRW_INVALID_ARGUMENT, promrw.InvalidArgumentError, ValueError),
        (c.PROMRW_INVALID_CONFIG, promrw.InvalidConfigError, ValueError),
        (c.PROMRW_INVALID_LABELS, promrw.InvalidLabelsError, ValueError),
        (c.PROMRW_UNKNOWN_SERIES, promrw.UnknownSeriesError, LookupError),
        (c.PROMRW_BUFFER_TOO_SMALL, promrw.BufferTooSmallError, None),
        (c.PROMRW_OUT_OF_ORDER, promrw.OutOfOrderError, None),
        (c.PROMRW_QUEUE_FULL, promrw.QueueFullError, None),
        (c.PROMRW_CLOSED, promrw.ClosedError, None),
        (c.PROMRW_TIMEOUT, promrw.DeadlineExceededError, TimeoutError),
        (c.PROMRW_SHARD_DEAD, promrw.ShardDeadError, None),
        (c.PROMRW_IO, promrw.IoError, None),
        (c.PROMRW_SAMPLES_LOST, promrw.SamplesLostError, None),
        (c.PROMRW_FORKED, promrw.ForkedError, None),
        (c.PROMRW_PANIC, promrw.PanicError, None),
    ],
)
def test_status_mapping(code: int, cls: type, builtin: Any) -> None:
    """Each status maps to its class, which carries code, name and message and pickles."""
    with pytest.raises(cls) as info:
        _sender._check(code, "doing it")
    err = info.value
    assert type(err) is cls and isinstance(err, promrw.PromrwError)
    if builtin is not None:
        assert isinstance(err, builtin)
    assert err.code == code
    assert err.name == _lib.status_name(code)
    assert err.message == f"doing it: {err.name}"
    assert str(err) == f"doing it: {err.name} (promrw status {code})"
    assert err.accepted is None and err.report is None
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is cls and (clone.code, clone.message) == (err.code, err.message)


def test_report_survives_pickling() -> None:
    """An error's report (a dict) travels with it through pickle."""
    report = {"samples_failed": 3, "message": "lost", "endpoints": []}
    err = _errors.make_error(c.PROMRW_SAMPLES_LOST, "flush: lost", "samples lost", None, report)
    assert type(err) is promrw.SamplesLostError and err.report == report
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is promrw.SamplesLostError and clone.report == report


def test_unknown_status_is_the_base_class() -> None:
    """A code this wrapper does not know still raises PromrwError with the code."""
    err = _errors.make_error(777, "x", _lib.status_name(777))
    assert type(err) is promrw.PromrwError
    assert err.code == 777 and err.name == "unknown status"


def hooks_library_path() -> Path:
    """The test-hooks build of the library: ``PROMRW_TEST_HOOKS_LIBRARY`` (which must exist
    when set; .ci/python.sh sets it), else the checkout's ``target/test-hooks/``. Skips when
    neither is there."""
    override = os.environ.get(_lib.TEST_HOOKS_LIBRARY_ENV, "")
    if override:
        path = Path(override)
        assert path.is_file(), f"{_lib.TEST_HOOKS_LIBRARY_ENV}={override} does not exist"
        return path
    path = REPO / "target" / "test-hooks" / _lib.LIBRARY_FILE
    if not path.is_file():
        pytest.skip(
            f"no test-hooks library at {path}: cargo build --lib --profile test-hooks "
            f"--features test-hooks, or set {_lib.TEST_HOOKS_LIBRARY_ENV}"
        )
    return path


def test_panic_is_caught_and_raised() -> None:
    """A panic inside the library surfaces as PROMRW_PANIC, raised as PanicError (through the
    test hook of a test-hooks build), and the library keeps working."""
    hooks = _lib.load_test_hooks(hooks_library_path())
    for _ in range(2):
        status = hooks.promrw_test_force_panic()
        assert status == c.PROMRW_PANIC
        with pytest.raises(promrw.PanicError):
            _sender._check(status, "forced panic")
    hooks.promrw_version.restype = ctypes.c_char_p
    assert hooks.promrw_version() == _lib.lib.promrw_version()


def test_the_loaded_library_has_no_test_hooks() -> None:
    """The library the package loads (a release build) lacks the test-only exports."""
    for name in _lib.TEST_HOOK_SIGNATURES:
        assert not hasattr(_lib.lib, name), f"{_lib.LIBRARY_PATH} exports {name}"


def test_null_handles_are_invalid_arguments() -> None:
    """The library reports NULL handles as InvalidArgumentError."""
    with pytest.raises(promrw.InvalidArgumentError):
        _sender._check(_lib.lib.promrw_sender_flush(None, 0))
    with pytest.raises(promrw.InvalidArgumentError):
        _sender._check(_lib.lib.promrw_sender_sync(None, 0))
    with pytest.raises(promrw.InvalidArgumentError):
        _sender._check(_lib.lib.promrw_sender_stats(None, None))


# ---- configuration ---------------------------------------------------------------------------


def test_invalid_config_names_the_field() -> None:
    """A bad value raises InvalidConfigError whose message names the field."""
    with pytest.raises(promrw.InvalidConfigError) as info:
        promrw.Sender({"remote_write": [{"url": "http://127.0.0.1:1/w",
                                         "queue_config": {"capacity": 0}}]})
    assert info.value.code == c.PROMRW_INVALID_CONFIG
    assert "remote_write[0].queue_config.capacity" in info.value.message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "text",
    ["remote_write: [", "{}", "remote_write:\n  - url: http://127.0.0.1:1/w\n    bogus: 1\n",
     b"\xff\xfe", "remote_write: []"],
)
def test_invalid_config_texts(text: Any) -> None:
    """Unparsable text, missing or unknown keys and invalid UTF-8 are refused."""
    with pytest.raises(promrw.InvalidConfigError) as info:
        promrw.Sender(text)
    assert info.value.message


def test_config_of_wrong_type() -> None:
    """A config that is neither text nor a mapping is a TypeError."""
    with pytest.raises(TypeError, match="config must be"):
        promrw.Sender(42)  # type: ignore[arg-type]


def test_bad_constructor_arguments() -> None:
    """close_timeout and log_level are checked."""
    cfg = config("http://127.0.0.1:1/w")
    with pytest.raises(ValueError):
        promrw.Sender(cfg, close_timeout=-1)
    with pytest.raises(ValueError):
        promrw.Sender(cfg, close_timeout=math.nan)
    with pytest.raises(TypeError):
        promrw.Sender(cfg, close_timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        promrw.Sender(cfg, log_level="DEBUG")  # type: ignore[arg-type]


# ---- series ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels, text",
    [
        ({"1bad": "x"}, ""),
        ({"": "x"}, ""),
        ({"__name__": ""}, ""),
        ({}, ""),
        ([("job", "a"), ("job", "b")], ""),
        ({"job": "\udcff"}, "UTF-8"),
    ],
)
def test_invalid_labels(sink: Sink, labels: Any, text: str) -> None:
    """Invalid names, empty sets, repeated names and non-UTF-8 text raise InvalidLabelsError
    with the library's message."""
    with promrw.Sender(config(sink.url)) as sender:
        with pytest.raises(promrw.InvalidLabelsError) as info:
            sender.series(labels)
        assert info.value.code == c.PROMRW_INVALID_LABELS
        assert text in info.value.message
        assert info.value.message != info.value.name


def test_labels_of_wrong_type(sink: Sink) -> None:
    """Names and values must be str; pairs must be pairs."""
    with promrw.Sender(config(sink.url)) as sender:
        with pytest.raises(TypeError, match="label value must be str"):
            sender.series({"job": 1})  # type: ignore[dict-item]
        with pytest.raises(TypeError, match="label name must be str"):
            sender.series({b"job": "x"})  # type: ignore[dict-item]
        with pytest.raises(TypeError, match="pair"):
            sender.series([("job", "x", "y")])  # type: ignore[list-item]


# ---- appends ---------------------------------------------------------------------------------


def test_unknown_series(sink: Sink) -> None:
    """Appending to a reference that was never registered or was released fails."""
    with promrw.Sender(config(sink.url)) as sender:
        for call in (lambda: sender.append(424242, 1.0, T0),
                     lambda: sender.append_stale(424242, T0),
                     lambda: sender.release_series(424242)):
            with pytest.raises(promrw.UnknownSeriesError) as info:
                call()
            assert info.value.code == c.PROMRW_UNKNOWN_SERIES
        assert sender.stats()["rejected_unknown_series"] == 2


def test_out_of_order(sink: Sink) -> None:
    """A timestamp not after the series' last one raises OutOfOrderError."""
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_ooo"})
        sender.append(ref, 1.0, T0)
        with pytest.raises(promrw.OutOfOrderError):
            sender.append(ref, 2.0, T0)
        with pytest.raises(promrw.OutOfOrderError):
            sender.append_stale(ref, T0 - 1)
        sender.append(ref, 3.0, T0 + 1)
        assert sender.stats()["rejected_out_of_order"] == 2


def test_queue_full_fail_policy(dead_url: str) -> None:
    """Under overflow: fail, a full queue raises QueueFullError at once."""
    cfg = config(dead_url, capacity=5, max_samples_per_send=5, overflow="fail")
    sender = promrw.Sender(cfg)
    ref = sender.series({"__name__": "py_full"})
    appended = 0
    with pytest.raises(promrw.QueueFullError) as info:
        for i in range(1000):
            sender.append(ref, 1.0, T0 + i)
            appended += 1
    assert info.value.code == c.PROMRW_QUEUE_FULL
    assert sender.stats()["rejected_queue_full"] == 1
    with pytest.raises(promrw.QueueFullError) as info:
        sender.append_many(ref, [1.0] * 100, range(T0 + 5000, T0 + 5100))
    accepted = info.value.accepted
    assert accepted is not None and 0 <= accepted < 100
    assert f"sample {accepted} of 100 refused" in info.value.message
    assert sender.stats()["samples_appended"] == appended + accepted
    # nothing can be sent: the close deadline passes and the queued samples fail
    with pytest.raises(promrw.DeadlineExceededError):
        sender.close(0.1)


def test_queue_full_block_policy_releases_the_gil(dead_url: str) -> None:
    """Under overflow: block, an append waits block_timeout without holding the GIL, then
    raises QueueFullError."""
    cfg = config(dead_url, capacity=2, max_samples_per_send=2, overflow="block",
                 block_timeout="400ms")
    sender = promrw.Sender(cfg, close_timeout=0.1)
    try:
        ref = sender.series({"__name__": "py_block"})
        ticks = 0
        stop = threading.Event()

        def spin() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                time.sleep(0.001)

        spinner = threading.Thread(target=spin)
        spinner.start()
        started = time.monotonic()
        try:
            with pytest.raises(promrw.QueueFullError):
                for i in range(1000):
                    sender.append(ref, 1.0, T0 + i)
        finally:
            stop.set()
            spinner.join()
        waited = time.monotonic() - started
        assert waited >= 0.35
        assert ticks >= 50, f"the other thread ran only {ticks} times while append blocked"
        assert sender.stats()["enqueue_retries"] >= 1
    finally:
        with pytest.raises(promrw.DeadlineExceededError):
            sender.close()


def test_timeouts(dead_url: str) -> None:
    """flush and close with a deadline that passes raise DeadlineExceededError, a
    TimeoutError; the sender is closed anyway."""
    sender = promrw.Sender(config(dead_url), close_timeout=0.1)
    ref = sender.series({"__name__": "py_timeout"})
    sender.append(ref, 1.0, T0)
    with pytest.raises(promrw.DeadlineExceededError) as info:
        sender.flush(timeout=0.05)
    assert isinstance(info.value, TimeoutError)
    assert info.value.code == c.PROMRW_TIMEOUT
    assert info.value.report is not None and info.value.report["timed_out"] is True
    assert info.value.report["samples_pending"] == 1
    with pytest.raises(TimeoutError):
        sender.close()  # close_timeout 0.1 s
    assert sender.closed
    with pytest.raises(promrw.ClosedError):
        sender.append(ref, 2.0, T0 + 1)
    sender.close()  # a second close is a no-op


@pytest.mark.parametrize("timeout", [-0.001, math.nan, "1"])
def test_bad_timeouts(sink: Sink, timeout: Any) -> None:
    """Negative or NaN timeouts are ValueError, non-numbers TypeError."""
    with promrw.Sender(config(sink.url)) as sender:
        with pytest.raises((ValueError, TypeError)):
            sender.flush(timeout)
        with pytest.raises((ValueError, TypeError)):
            sender.sync(timeout)
        with pytest.raises((ValueError, TypeError)):
            sender.close(timeout)
        assert not sender.closed


def test_closed_sender_refuses_everything(sink: Sink) -> None:
    """After close every call raises ClosedError but close and the read-only ones (stats,
    metrics_text, last_report), which keep working."""
    sender = promrw.Sender(config(sink.url))
    ref = sender.series({"__name__": "py_closed"})
    sender.close()
    calls = {
        "series": lambda: sender.series({"__name__": "py_closed_2"}),
        "append": lambda: sender.append(ref, 1.0, T0),
        "append_stale": lambda: sender.append_stale(ref, T0),
        "append_many": lambda: sender.append_many(ref, [1.0], [T0]),
        "append_many empty": lambda: sender.append_many(ref, [], []),
        "release_series": lambda: sender.release_series(ref),
        "flush": lambda: sender.flush(1),
        "sync": lambda: sender.sync(1),
        "sync without limit": lambda: sender.sync(),
    }
    for name, call in calls.items():
        with pytest.raises(promrw.ClosedError) as info:
            call()
        assert info.value.code == c.PROMRW_CLOSED, name
    with pytest.raises(promrw.ClosedError) as info:
        sender.append_many(ref, [1.0], [T0])
    assert info.value.accepted == 0
    assert sender.stats()["endpoints"] == 1
    assert "promrw_" in sender.metrics_text()
    assert sender.last_report()["samples_failed"] == 0
    sender.close()
    sender.close(0)
    assert sender.closed


def test_append_argument_types(sink: Sink) -> None:
    """Wrong argument types to the scalar calls are TypeErrors (not ctypes errors)."""
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_types"})
        with pytest.raises(TypeError, match="append"):
            sender.append(1.5, 1.0, T0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="append"):
            sender.append(ref, "1.0", T0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="append"):
            sender.append(ref, 1.0, "now")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="append_stale"):
            sender.append_stale(ref, 1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="release_series"):
            sender.release_series("x")  # type: ignore[arg-type]
        assert sender.stats()["samples_appended"] == 0
