"""fork(): a sender made before a fork is refused in the child with ForkedError, without a call
into the library but ``promrw_sender_free`` (the header's contract for ``PROMRW_FORKED``); the
child exits at once instead of waiting for the sender's queue; the parent's senders go on."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import select
import signal
import time
import traceback
import warnings
import weakref
from typing import Any, Callable, List, Tuple

import promrw
from promrw import _constants as c
from promrw import _lib, _sender

from conftest import Sink, config, run_python

T0 = 1_700_000_000_000
#: How long a child may take to run its checks and exit (it waits for nothing).
CHILD_SECONDS = 5.0


class MySender(promrw.Sender):
    """A user's subclass (it has a ``__dict__``): marked in the child like a Sender."""


def address(handle: Any) -> int:
    """The address a ``promrw_sender *`` points to."""
    return ctypes.cast(handle, ctypes.c_void_p).value or 0


class OnlyFree:
    """Stands in for the CDLL in the child: records every other function looked up (and fails
    it), and the handles given to ``promrw_sender_free`` (and frees them)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.others: List[str] = []
        self.freed: List[int] = []

    def __getattr__(self, name: str) -> Any:
        if name != "promrw_sender_free":
            self.others.append(name)
            raise AssertionError(f"{name} called in the child")

        def free(handle: Any) -> None:
            self.freed.append(address(handle))
            self.real.promrw_sender_free(handle)

        return free


def refused(*_: Any) -> int:
    """Stands in for the bound append functions in the child."""
    raise AssertionError("an append function of the library was called in the child")


#: Every public method of Sender, called with valid arguments (``r`` is a series reference).
CALLS: List[Tuple[str, Callable[[promrw.Sender, int], Any]]] = [
    ("series", lambda s, r: s.series({"__name__": "py_fork_new"})),
    ("release_series", lambda s, r: s.release_series(r)),
    ("append", lambda s, r: s.append(r, 1.0, T0 + 100)),
    ("append_stale", lambda s, r: s.append_stale(r, T0 + 100)),
    ("append_many", lambda s, r: s.append_many(r, [1.0], [T0 + 100])),
    ("append_histogram", lambda s, r: s.append_histogram(r, {"count": 0}, T0 + 100)),
    ("append_stale_histogram", lambda s, r: s.append_stale_histogram(r, T0 + 100)),
    ("set_metadata", lambda s, r: s.set_metadata(r, "gauge")),
    ("flush", lambda s, r: s.flush(timeout=1.0)),
    ("sync", lambda s, r: s.sync(timeout=1.0)),
    ("close", lambda s, r: s.close(timeout=1.0)),
    ("stats", lambda s, r: s.stats()),
    ("metrics_text", lambda s, r: s.metrics_text()),
    ("last_report", lambda s, r: s.last_report()),
]


def child_checks(senders: List[promrw.Sender], refs: List[int], url: str) -> List[str]:
    """Runs in the child; returns what went wrong. Empties ``senders`` (to collect them)."""
    problems: List[str] = []
    called = set(name for name, _ in CALLS)
    public = {n for n, v in vars(promrw.Sender).items() if not n.startswith("_") and callable(v)}
    if public - called - {"from_file"}:
        problems.append(f"methods the test does not call: {sorted(public - called)}")
    real = _sender.lib
    only_free = OnlyFree(real)
    saved = (_sender._append, _sender._append_stale, _sender._append_columns,
             _sender._append_histogram, _sender._append_with_exemplar)
    _sender.lib = _lib.lib = only_free  # type: ignore[assignment]
    _sender._append = _sender._append_stale = _sender._append_columns = refused
    _sender._append_histogram = _sender._append_with_exemplar = refused
    try:
        for index, ref in enumerate(refs):
            what = f"sender {index} ({type(senders[index]).__name__})"
            if not isinstance(senders[index], promrw.Sender):
                problems.append(f"{what} is no longer a promrw.Sender")
            if repr(senders[index]) != "<promrw.Sender forked>":
                problems.append(f"{what}: repr {senders[index]!r}")
            for name, call in CALLS:
                try:
                    call(senders[index], ref)
                except promrw.ForkedError as e:
                    if e.code != c.PROMRW_FORKED or e.name != "forked":
                        problems.append(f"{what}.{name}: {e.code} {e.name!r}")
                    if not e.message.startswith(f"{name}: the sender was created in another "
                                                "process: this is a child made by fork()"):
                        problems.append(f"{what}.{name}: message {e.message!r}")
                except BaseException as e:  # noqa: BLE001 - report anything else
                    problems.append(f"{what}.{name} raised {e!r}")
                else:
                    problems.append(f"{what}.{name} returned")
            try:
                with senders[index]:
                    pass
            except promrw.ForkedError:
                pass
            except BaseException as e:  # noqa: BLE001
                problems.append(f"{what}: leaving a with block raised {e!r}")
            else:
                problems.append(f"{what}: leaving a with block did not raise ForkedError")
        if only_free.others or only_free.freed:
            problems.append(f"called into the library: {only_free.others} {only_free.freed}")
        # Collected in the child: freed with promrw_sender_free, and nothing else called.
        handles = sorted(address(s._handle) for s in senders)
        weak = [weakref.ref(s) for s in senders]
        senders.clear()
        gc.collect()
        if any(w() is not None for w in weak):
            problems.append("a sender was not collected in the child")
        if only_free.others or sorted(set(only_free.freed) & set(handles)) != handles:
            problems.append(f"collecting: {only_free.others}, freed {only_free.freed} of {handles}")
    finally:
        _sender.lib = _lib.lib = real
        (_sender._append, _sender._append_stale, _sender._append_columns,
         _sender._append_histogram, _sender._append_with_exemplar) = saved
    # Senders made after the fork work in the child.
    try:
        with promrw.Sender(config(url)) as fresh:
            fresh.append(fresh.series({"__name__": "py_fork_child"}), 1.0, T0)
            fresh.flush(timeout=10.0)
        if fresh.stats()["samples_acked"] != 1:
            problems.append(f"the child's own sender: {fresh.stats()}")
    except BaseException as e:  # noqa: BLE001
        problems.append(f"the child's own sender raised {e!r}")
    return problems


def fork_quietly() -> int:
    """``os.fork()`` without Python 3.12's warning about forking a process with threads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def test_senders_made_before_fork_refuse_in_child(sink: Sink) -> None:
    """In the child, every method of an open, a closed and a subclassed sender made before the
    fork raises ForkedError without calling into the library; collecting them only frees them;
    the child exits within seconds although the open sender has samples queued; a sender made
    in the child works; in the parent the senders work on."""
    queued = config(sink.url, batch_send_deadline="60s")
    senders: List[promrw.Sender] = [
        promrw.Sender(queued, close_timeout=60.0),
        promrw.Sender(config(sink.url)),
        MySender(config(sink.url)),
    ]
    refs = [s.series({"__name__": f"py_fork_{i}"}) for i, s in enumerate(senders)]
    for i in range(5):
        senders[0].append(refs[0], float(i), T0 + i)  # queued: the batch waits 60 s
    senders[1].close()
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = fork_quietly()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.close(read_end)
            try:
                problems = child_checks(senders, refs, sink.url)
            except BaseException:  # noqa: BLE001 - reported to the parent
                problems = ["the checks raised: " + traceback.format_exc()]
            os.write(write_end, json.dumps(problems).encode()[:60000])
            code = 1 if problems else 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        status = None
        while time.monotonic() - started < 30.0:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.01)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        elapsed = time.monotonic() - started
        ready, _, _ = select.select([read_end], [], [], 0)
        output = os.read(read_end, 65536).decode() if ready else ""
    finally:
        os.close(read_end)
    assert status is not None and os.waitstatus_to_exitcode(status) == 0, output
    assert json.loads(output) == []
    assert elapsed < CHILD_SECONDS, f"the child took {elapsed:.1f} s"

    # The parent's senders are untouched.
    assert [type(s) for s in senders] == [promrw.Sender, promrw.Sender, MySender]
    for i in range(5, 10):
        senders[0].append(refs[0], float(i), T0 + i)
    senders[0].flush(timeout=10.0)
    senders[2].append(refs[2], 1.0, T0)
    senders[0].close()
    senders[2].close()
    assert senders[1].stats()["samples_acked"] == 0
    assert senders[0].stats()["samples_acked"] == 10
    assert sink.wait_for(12) == 12  # 10 + 1 from the parent, 1 from the child's own sender
    sink.assert_clean()


def test_child_exiting_normally_does_not_wait(sink: Sink) -> None:
    """A child that leaves through normal interpreter exit (atexit, finalisers) without
    touching the sender ends at once, although the sender has samples queued and a 60 s
    close_timeout: the child sends nothing (no sample twice) and logs no warning."""
    code = f"""
import json, logging, os, signal, sys, time, warnings
import promrw
warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12: fork() with threads
logging.basicConfig(level=logging.WARNING)  # a failed close at exit would be a warning
s = promrw.Sender({{"remote_write": [{{"url": "{sink.url}",
                   "queue_config": {{"batch_send_deadline": "60s"}}}}]}}, close_timeout=60)
r = s.series({{"__name__": "py_fork_exit"}})
for i in range(5):
    s.append(r, float(i), {T0} + i)
sys.stdout.flush()
sys.stderr.flush()
started = time.monotonic()
pid = os.fork()
if pid == 0:
    sys.exit(0)
status = None
while time.monotonic() - started < 30:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.01)
else:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    status = None
child_seconds = time.monotonic() - started
for i in range(5, 10):
    s.append(r, float(i), {T0} + i)
s.close()
print(json.dumps({{"child_seconds": child_seconds,
                  "child_code": None if status is None else os.waitstatus_to_exitcode(status),
                  "sent": s.stats()["samples_acked"]}}))
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = json.loads(result.stdout)
    assert out["child_code"] == 0, out
    assert out["child_seconds"] < CHILD_SECONDS, out
    assert out["sent"] == 10
    assert sink.wait_for(10) == 10
    sink.assert_clean()
