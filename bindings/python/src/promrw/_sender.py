"""``promrw.Sender``: the Python face of ``promrw_sender``."""

from __future__ import annotations

import atexit
import ctypes
import inspect
import itertools
import json
import logging
import math
import numbers
import os
import threading
import time
import weakref
from array import array
from ctypes import POINTER, byref, c_size_t, c_uint64
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _constants as c
from ._columns import column
from ._errors import PromrwError, make_error
from ._lib import (
    lib,
    promrw_config,
    promrw_bucket_span,
    promrw_error,
    promrw_exemplar,
    promrw_free_user_data_fn,
    promrw_histogram,
    promrw_label,
    promrw_log_fn,
    promrw_report,
    promrw_sender,
    promrw_stats,
    status_name,
)

__all__ = ["Sender", "Config", "Labels", "Exemplar", "METRIC_TYPES", "RESET_HINTS"]

#: A configuration: YAML or JSON text (``str`` or UTF-8 ``bytes``), or a mapping that is sent
#: as JSON (the Prometheus ``remote_write`` schema either way).
Config = Union[str, bytes, Mapping[str, Any]]
#: A label set: a mapping of names to values, or an iterable of ``(name, value)`` pairs.
Labels = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
#: A file path: ``str``, ``bytes`` or an ``os.PathLike`` such as ``pathlib.Path``.
PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: The logger the library's log records go to.
logger = logging.getLogger("promrw")
# A library adds no handler but this one (logging HOWTO): the application decides where
# records go, and none are printed by logging's last-resort handler meanwhile.
logger.addHandler(logging.NullHandler())

#: Default deadline of :meth:`Sender.close` (and of leaving a ``with`` block), in seconds.
DEFAULT_CLOSE_TIMEOUT = 30.0
#: Longest a garbage-collected, unclosed sender waits for its pending samples, in seconds.
GC_CLOSE_TIMEOUT = 5.0
# "No limit": about 31 years in milliseconds (the library adds it to the clock).
_FOREVER_MS = 1_000_000_000_000

_LEVELS = {
    c.PROMRW_LOG_DEBUG: logging.DEBUG,
    c.PROMRW_LOG_INFO: logging.INFO,
    c.PROMRW_LOG_WARN: logging.WARNING,
    c.PROMRW_LOG_ERROR: logging.ERROR,
}

# Bound once: attribute look-ups on the CDLL are not free on the hot paths.
_append = lib.promrw_sender_append
_append_stale = lib.promrw_sender_append_stale
_append_columns = lib.promrw_sender_append_columns
_append_histogram = lib.promrw_sender_append_histogram
_append_with_exemplar = lib.promrw_sender_append_with_exemplar
_time_ns = time.time_ns
# ``logger.isEnabledFor``: cached by logging until a level changes anywhere (``setLevel`` on
# any logger, ``logging.disable``), so the hot paths can ask it on every call.
_is_enabled_for = logger.isEnabledFor
_DEBUG = logging.DEBUG

# Senders that follow the logger's level, by the key given to the library as the log
# callback's user_data (weak: they do not keep senders alive). Senders made with log_level=
# are not listed and get NULL.
_following: "weakref.WeakValueDictionary[int, Sender]" = weakref.WeakValueDictionary()
_following_keys = itertools.count(1)


def _on_log(user_data: Any, level: int, message: Any, length: int) -> None:
    """The C log callback: forwards a record to the ``promrw`` logger.

    The logger's level is checked for every record (``isEnabledFor``, which follows later
    ``setLevel`` calls on the logger, its parents and the root, and ``logging.disable``);
    records below it are dropped before their text is read. Handlers' levels apply as usual.
    A record of a sender that follows the logger's level first passes the level on to the
    library when it changed (see ``Sender._follow_logger``), so after the logger leaves DEBUG
    a shard thread's discarded DEBUG records stop at the first one.

    Runs on shard threads and on appending threads, possibly concurrently; it must never
    raise into C, so every error is swallowed.
    """
    try:
        if user_data:
            sender = _following.get(user_data)
            if sender is not None and _is_enabled_for(_DEBUG) is not sender._log_debug:
                sender._follow_logger()
        py_level = _LEVELS.get(level, logging.ERROR)
        if logger.isEnabledFor(py_level):
            text = ctypes.string_at(message, length).decode("utf-8", "replace")
            logger.log(py_level, text)
    except BaseException:  # noqa: BLE001 - nothing may unwind into the library
        pass


# One callback for every sender, alive as long as the module: no sender can outlive it, and
# no user data needs releasing (user_data is a key into _following or NULL, free_user_data
# is NULL).
_LOG_CALLBACK = promrw_log_fn(_on_log)
_NO_FREE_HOOK = promrw_free_user_data_fn()  # a NULL function pointer


def _library_level(level: int) -> int:
    """The ``PROMRW_LOG_*`` level forwarding every record at ``level`` (a ``logging`` level)."""
    if level <= logging.DEBUG:
        return c.PROMRW_LOG_DEBUG
    if level <= logging.INFO:
        return c.PROMRW_LOG_INFO
    if level <= logging.WARNING:
        return c.PROMRW_LOG_WARN
    return c.PROMRW_LOG_ERROR


def _timeout_ms(timeout: Optional[float], what: str) -> int:
    """Seconds (``None`` or ``inf``: no limit) as the library's milliseconds."""
    if timeout is None:
        return _FOREVER_MS
    if not isinstance(timeout, numbers.Real):
        raise TypeError(f"{what} must be a number of seconds or None, not {timeout!r}")
    seconds = float(timeout)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a non-negative number of seconds, not {timeout!r}")
    if math.isinf(seconds):
        return _FOREVER_MS
    return min(_FOREVER_MS, math.ceil(seconds * 1000.0))


def _raise_status(code: int, context: str, accepted: Optional[int] = None) -> None:
    """Raises the exception for a non-OK status that came without an error object."""
    name = status_name(code)
    raise make_error(code, f"{context}: {name}" if context else name, name, accepted)


def _raise_error(code: int, err: Any) -> None:
    """Raises the exception for a status and its ``promrw_error`` (then freed)."""
    message = ""
    if err:
        try:
            raw = lib.promrw_error_message(err)
            message = raw.decode("utf-8", "replace") if raw else ""
            code = lib.promrw_error_code(err) or code
        finally:
            lib.promrw_error_free(err)
    name = status_name(code)
    raise make_error(code, message or name, name)


def _config_text(config: Config) -> bytes:
    """The configuration as UTF-8 text for ``promrw_config_from_yaml``."""
    if isinstance(config, str):
        return config.encode("utf-8", "surrogatepass")
    if isinstance(config, (bytes, bytearray, memoryview)):
        return bytes(config)
    if isinstance(config, Mapping):
        return json.dumps(config).encode("utf-8")
    raise TypeError(
        f"config must be YAML/JSON text or a dict, not {type(config).__name__}"
    )


def _path_bytes(path: Any) -> bytes:
    """A path as the OS's bytes for ``promrw_config_from_file`` (UTF-8 on Linux)."""
    try:
        return os.fsencode(os.fspath(path))
    except TypeError:
        raise TypeError(
            f"path must be str, bytes or os.PathLike, not {type(path).__name__}"
        ) from None


def _read_text(call: Any, what: str) -> str:
    """Text from a call following the library's buffer convention: ``call(buf, cap,
    len_out)`` with ``buf`` NULL and ``cap`` 0 asks for the size, ``PROMRW_BUFFER_TOO_SMALL``
    writes the size needed (including the NUL) to ``*len_out``."""
    needed = c_size_t(0)
    status = call(None, 0, byref(needed))
    for _ in range(8):
        if status == c.PROMRW_OK:
            return ""
        if status != c.PROMRW_BUFFER_TOO_SMALL:
            break
        capacity = needed.value + 4096
        buf = ctypes.create_string_buffer(capacity)
        status = call(buf, capacity, byref(needed))
        if status == c.PROMRW_OK:
            return buf.raw[: needed.value].decode("utf-8", "replace").rstrip("\0")
    _raise_status(status, what)
    raise AssertionError("unreachable")  # pragma: no cover


#: The numeric fields of ``promrw_report``, as the keys of :meth:`Sender.last_report`.
_REPORT_FIELDS = tuple(name for name, _ in promrw_report._fields_ if name != "struct_size")


def _report_numbers(handle: Any, endpoint: int) -> Dict[str, Any]:
    """``promrw_sender_last_report`` for one endpoint or ``PROMRW_ALL_ENDPOINTS``, as a dict."""
    out = promrw_report()
    out.struct_size = ctypes.sizeof(promrw_report)
    status = lib.promrw_sender_last_report(handle, endpoint, byref(out))
    if status != c.PROMRW_OK:
        _raise_status(status, "last_report")
    numbers_ = {name: getattr(out, name) for name in _REPORT_FIELDS}
    numbers_["timed_out"] = bool(numbers_["timed_out"])
    return numbers_


def _report_text(handle: Any, endpoint: int) -> str:
    """``promrw_sender_last_report_text`` for one endpoint or ``PROMRW_ALL_ENDPOINTS``."""
    return _read_text(
        lambda buf, cap, len_out: lib.promrw_sender_last_report_text(
            handle, endpoint, buf, cap, len_out
        ),
        "last_report",
    )


def _label_bytes(text: Any, what: str) -> bytes:
    """A label name or value as bytes (invalid UTF-8 is left for the library to report)."""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    raise TypeError(f"label {what} must be str, not {type(text).__name__}")


def _label_pair(pair: Any, index: int) -> Tuple[bytes, bytes]:
    """The slow path of one label: checks and messages, lone surrogates passed through."""
    try:
        name, value = pair
    except (TypeError, ValueError):
        raise TypeError(f"labels[{index}] is not a (name, value) pair: {pair!r}") from None
    return _label_bytes(name, "name"), _label_bytes(value, "value")


def _label_structs(labels: Any) -> Tuple[Any, Any, int]:
    """A label set as a ``promrw_label`` array: ``(keep-alive, pointer or None, count)``. The
    keep-alive object owns the memory the pointer points into; hold it for the call. The
    texts go into one byte array and the structs into an array of (pointer, length) words:
    several times cheaper than setting ctypes struct fields."""
    chunks: List[bytes] = []
    items = labels.items() if isinstance(labels, Mapping) else labels
    for pair in items:
        try:
            name, value = pair
            name_b = name.encode()  # str.encode's fast path (UTF-8, strict)
            value_b = value.encode()
        except (TypeError, ValueError, AttributeError):  # UnicodeEncodeError included
            name_b, value_b = _label_pair(pair, len(chunks) // 2)
        chunks.append(name_b)
        chunks.append(value_b)
    text = array("B", b"".join(chunks))
    address = text.buffer_info()[0]
    words: List[int] = []
    for chunk in chunks:
        size = len(chunk)
        words.append(address)
        words.append(size)
        address += size
    structs = array("Q", words)
    count = len(chunks) // 2
    pointer = promrw_label.from_address(structs.buffer_info()[0]) if count else None
    return (text, structs), pointer, count


#: ``set_metadata`` type names (the exposition formats'), as ``PROMRW_METRIC_TYPE_*``.
METRIC_TYPES: Dict[str, int] = {
    "unknown": c.PROMRW_METRIC_TYPE_UNKNOWN,
    "untyped": c.PROMRW_METRIC_TYPE_UNKNOWN,
    "counter": c.PROMRW_METRIC_TYPE_COUNTER,
    "gauge": c.PROMRW_METRIC_TYPE_GAUGE,
    "histogram": c.PROMRW_METRIC_TYPE_HISTOGRAM,
    "gaugehistogram": c.PROMRW_METRIC_TYPE_GAUGEHISTOGRAM,
    "summary": c.PROMRW_METRIC_TYPE_SUMMARY,
    "info": c.PROMRW_METRIC_TYPE_INFO,
    "stateset": c.PROMRW_METRIC_TYPE_STATESET,
}

#: Keys of a histogram dict accepted by :meth:`Sender.append_histogram`.
_HISTOGRAM_KEYS = frozenset(
    {
        "schema",
        "zero_threshold",
        "sum",
        "count",
        "zero_count",
        "positive_spans",
        "negative_spans",
        "positive_deltas",
        "negative_deltas",
        "positive_counts",
        "negative_counts",
        "reset_hint",
        "custom_values",
    }
)

#: ``reset_hint`` names, as ``PROMRW_RESET_HINT_*``.
RESET_HINTS: Dict[str, int] = {
    "unknown": c.PROMRW_RESET_HINT_UNKNOWN,
    "yes": c.PROMRW_RESET_HINT_YES,
    "no": c.PROMRW_RESET_HINT_NO,
    "gauge": c.PROMRW_RESET_HINT_GAUGE,
}


def _invalid(message: str) -> PromrwError:
    """An :class:`InvalidArgumentError` raised by the binding itself."""
    return make_error(
        c.PROMRW_INVALID_ARGUMENT, message, status_name(c.PROMRW_INVALID_ARGUMENT)
    )


class Exemplar:
    """An exemplar for :meth:`Sender.append` and :meth:`Sender.append_histogram`: labels
    (often ``trace_id``), a value and, optionally, its own timestamp (``None``: the sample's).

    The labels follow the label rules (empty values dropped, names valid and unique; an empty
    set is allowed) and may hold at most 128 UTF-8 runes together. A plain dict
    ``{"labels": {...}, "value": v, "timestamp_ms": ms or None}`` works as well (``timestamp``
    is accepted for ``timestamp_ms``).
    """

    __slots__ = ("labels", "value", "timestamp_ms")

    def __init__(self, labels: Labels, value: float, timestamp_ms: Optional[int] = None) -> None:
        """Keeps the three fields as given; they are checked when appended."""
        self.labels = labels
        self.value = value
        self.timestamp_ms = timestamp_ms

    def __repr__(self) -> str:
        """``Exemplar(labels, value, timestamp_ms)``."""
        return f"Exemplar({self.labels!r}, {self.value!r}, {self.timestamp_ms!r})"


def _exemplar_struct(exemplar: Any, what: str) -> Tuple[Any, promrw_exemplar]:
    """An exemplar (:class:`Exemplar` or dict) as ``(keep-alive, promrw_exemplar)``."""
    if isinstance(exemplar, Mapping):
        unknown = set(exemplar) - {"labels", "value", "timestamp_ms", "timestamp"}
        if unknown:
            raise _invalid(f"{what}: unknown keys {sorted(unknown)}")
        labels = exemplar.get("labels", {})
        value = exemplar.get("value", 0.0)
        timestamp = exemplar.get("timestamp_ms", exemplar.get("timestamp"))
    elif isinstance(exemplar, Exemplar):
        labels, value, timestamp = exemplar.labels, exemplar.value, exemplar.timestamp_ms
    else:
        raise TypeError(f"{what} must be a promrw.Exemplar or a dict, not {type(exemplar).__name__}")
    keep, pointer, count = _label_structs(labels)
    out = promrw_exemplar()
    if count:
        out.labels = ctypes.pointer(pointer)
    out.labels_len = count
    try:
        out.value = value
        if timestamp is not None:
            out.timestamp_ms = timestamp
            out.has_timestamp = 1
    except TypeError as e:
        raise TypeError(f"{what}: value must be a float and timestamp_ms an int ({e})") from None
    return keep, out


def _array(ctype: Any, values: Any, what: str) -> Tuple[Any, int]:
    """A sequence as a ctypes array (or None when empty) and its length."""
    if values is None:
        return None, 0
    try:
        items = list(values)
        if not items:
            return None, 0
        return (ctype * len(items))(*items), len(items)
    except TypeError as e:
        raise TypeError(f"histogram {what}: {e}") from None


def _spans(values: Any, what: str) -> Tuple[Any, int]:
    """``[(offset, length), ...]`` as a ``promrw_bucket_span`` array and its length."""
    if values is None:
        return None, 0
    spans = []
    for index, span in enumerate(values):
        try:
            offset, length = span
        except (TypeError, ValueError):
            raise TypeError(f"histogram {what}[{index}] is not an (offset, length) pair: {span!r}") from None
        if not isinstance(length, int) or length < 0:
            raise _invalid(f"histogram.{what}[{index}].length is {length!r}; it must be an int >= 0")
        spans.append((offset, length))
    if not spans:
        return None, 0
    try:
        return (promrw_bucket_span * len(spans))(*spans), len(spans)
    except TypeError as e:
        raise TypeError(f"histogram {what}: {e}") from None


def _histogram_struct(histogram: Any) -> Tuple[List[Any], promrw_histogram]:
    """A histogram dict as ``(keep-alive list, promrw_histogram)``: integer when it has
    ``positive_deltas``/``negative_deltas`` (or no buckets), float when it has
    ``positive_counts``/``negative_counts``."""
    if not isinstance(histogram, Mapping):
        raise TypeError(f"histogram must be a dict, not {type(histogram).__name__}")
    unknown = set(histogram) - _HISTOGRAM_KEYS
    if unknown:
        raise _invalid(f"histogram: unknown keys {sorted(unknown)}")
    keep: List[Any] = []
    h = promrw_histogram()
    h.struct_size = ctypes.sizeof(h)
    is_float = "positive_counts" in histogram or "negative_counts" in histogram
    h.kind = c.PROMRW_HISTOGRAM_FLOAT if is_float else c.PROMRW_HISTOGRAM_INTEGER
    count = histogram.get("count", 0)
    zero_count = histogram.get("zero_count", 0)
    try:
        h.schema = histogram.get("schema", 0)
        h.zero_threshold = histogram.get("zero_threshold", 0.0)
        h.sum = histogram.get("sum", 0.0)
        if is_float:
            h.count_float = count
            h.zero_count_float = zero_count
        else:
            for name, number in (("count", count), ("zero_count", zero_count)):
                if isinstance(number, float) and number.is_integer():
                    number = int(number)
                if not isinstance(number, int) or number < 0:
                    raise _invalid(
                        f"histogram.{name} is {number!r}; an integer histogram's must be an int >= 0"
                    )
            h.count_int = int(count)
            h.zero_count_int = int(zero_count)
    except TypeError as e:
        raise TypeError(f"histogram: {e}") from None
    hint = histogram.get("reset_hint", c.PROMRW_RESET_HINT_UNKNOWN)
    if isinstance(hint, str):
        if hint not in RESET_HINTS:
            raise _invalid(f"histogram.reset_hint is {hint!r}; it must be one of {sorted(RESET_HINTS)}")
        hint = RESET_HINTS[hint]
    if not isinstance(hint, int) or hint < 0:
        raise _invalid(f"histogram.reset_hint is {hint!r}; it must be one of PROMRW_RESET_HINT_*")
    h.reset_hint = hint
    for field in ("positive_spans", "negative_spans"):
        arr, n = _spans(histogram.get(field), field)
        if n:
            keep.append(arr)
            setattr(h, field, ctypes.cast(arr, POINTER(promrw_bucket_span)))
            setattr(h, field + "_len", n)
    for field, ctype in (
        ("positive_deltas", ctypes.c_int64),
        ("negative_deltas", ctypes.c_int64),
        ("positive_counts", ctypes.c_double),
        ("negative_counts", ctypes.c_double),
        ("custom_values", ctypes.c_double),
    ):
        arr, n = _array(ctype, histogram.get(field), field)
        if n:
            keep.append(arr)
            setattr(h, field, ctypes.cast(arr, POINTER(ctype)))
            setattr(h, field + "_len", n)
    return keep, h


# Senders still open, closed at interpreter exit (weak: they do not keep senders alive).
_live: "weakref.WeakSet[Sender]" = weakref.WeakSet()
# Every sender with a handle, open or closed: the ones a fork()ed child must not use.
_made: "weakref.WeakSet[Sender]" = weakref.WeakSet()


def _close_all_at_exit() -> None:
    """Closes every sender still open, before the interpreter starts tearing down.

    After this no shard thread runs (a close joins every shard thread before it returns, and
    interrupts a request still in flight at its deadline), so no log callback can reach a
    finalising interpreter.
    The handles themselves are freed when their objects are collected.
    """
    for sender in list(_live):
        try:
            sender._close_at_exit()
        except BaseException:  # noqa: BLE001 - keep closing the others
            pass


atexit.register(_close_all_at_exit)


def _free_handle(handle: Any, close_ms: Optional[int]) -> None:
    """Closes (when ``close_ms`` is not None) and frees a sender handle."""
    if close_ms is not None:
        lib.promrw_sender_close(handle, close_ms)
    lib.promrw_sender_free(handle)


class Sender:
    """A Prometheus Remote Write sender: register series, append samples, flush, close.

    ``config`` is the Prometheus ``remote_write`` configuration as YAML or JSON text, or as a
    dict (sent as JSON), for example::

        {"remote_write": [{"url": "http://127.0.0.1:9090/api/v1/write"}]}

    or, instead of ``config``, ``path=`` names a configuration file (YAML or JSON, the same
    schema): ``promrw.Sender(path="promrw.yml")`` or :meth:`Sender.from_file`.

    The sender starts its shard threads at once. Use it as a context manager, or call
    :meth:`close`, to send what is queued before the program goes on::

        with promrw.Sender(config) as sender:
            up = sender.series({"__name__": "up", "job": "api"})
            sender.append(up, 1.0)

    Thread safety: every method may be called from many threads at once. Calls into the
    library release the GIL, so blocking ones (:meth:`flush`, :meth:`sync`, :meth:`close`,
    appends waiting for room under the ``block`` overflow policy) let other Python threads run.

    Fork: senders start threads and do not survive ``fork()``. In a child made by ``fork()``,
    where the threads of the senders made before the fork do not run, every method of such a
    sender (:meth:`close` included) raises :class:`ForkedError` without calling into the
    library. Only ``promrw_sender_free`` may still be called on it (it frees memory without
    waiting for threads): the wrapper calls it when the object is collected, and does not
    close the sender at exit, so the child exits without waiting. Create senders after
    forking.

    Lifetime: :meth:`close` stops the sender; its memory is freed when the object is
    garbage-collected. A sender collected without :meth:`close` is closed then with a deadline
    of at most :data:`GC_CLOSE_TIMEOUT` seconds; senders still open at interpreter exit are
    closed with their ``close_timeout``.

    Logging: the library's records go to the ``logging`` logger ``"promrw"``, filtered by the
    logger's effective level at the time of each record, so later ``setLevel`` calls (on
    ``"promrw"``, a parent or the root logger) and ``logging.disable`` take effect on running
    senders. The library produces INFO, WARNING and ERROR records always, and DEBUG records
    (one per request) only while the logger is enabled for DEBUG: otherwise each request
    would cost a discarded call into Python from a shard thread. The sender checks the
    logger's level on each of its method calls that use the library and on each record it
    forwards (a cached look-up), and tells the library when it crossed DEBUG: DEBUG records
    start at the sender's next method call (or next record), and stop there or after at most
    one discarded record per shard thread. With ``log_level`` set, the sender does not follow
    the logger: the library produces records at that level and above for the sender's whole
    life, and the logger's level still filters them. Records may come from the library's own
    threads.

    Args:
        config: YAML/JSON text or a mapping.
        path: a configuration file to read instead (``str``, ``bytes`` or ``os.PathLike``);
            give exactly one of ``config`` and ``path``.
        close_timeout: seconds :meth:`close` (and leaving a ``with`` block) waits for queued
            samples by default; ``None`` or ``math.inf`` wait without limit.
        log_level: the lowest ``logging`` level the library should produce, fixed for the
            sender's life (default ``None``: DEBUG while the ``promrw`` logger is enabled for
            DEBUG, else INFO, following the logger's later changes); the logger's effective
            level then decides, record by record.

    Raises:
        InvalidConfigError: the configuration does not parse or has an invalid value (the
            message names the field), or the file cannot be read (the message names the
            path).
        IoError: a shard thread could not be started.
        TypeError: ``config`` is neither text nor a mapping, ``path`` is not a path, or not
            exactly one of them was given.
    """

    __slots__ = (
        "_handle",
        "_closed",
        "_close_timeout",
        "_log_follow",
        "_log_debug",
        "_log_lock",
        "__weakref__",
    )

    def __init__(
        self,
        config: Optional[Config] = None,
        *,
        path: Optional[PathArg] = None,
        close_timeout: Optional[float] = DEFAULT_CLOSE_TIMEOUT,
        log_level: Optional[int] = None,
    ) -> None:
        """Parses ``config`` (or reads ``path``) and starts the sender (see the class
        docstring)."""
        self._handle: Any = None
        self._closed = False
        # Whether the library's level follows the logger's (no log_level=), and whether the
        # library was last asked for DEBUG records (else INFO and above).
        self._log_follow = False
        self._log_debug = False
        self._log_lock = threading.Lock()
        if (config is None) == (path is None):
            raise TypeError("Sender() takes exactly one of config and path=")
        _timeout_ms(close_timeout, "close_timeout")  # validate early
        self._close_timeout = close_timeout
        key = None
        if log_level is None:
            # Ask for INFO and above whatever the logger's level and let the callback filter,
            # so later setLevel calls take effect at once: INFO records are lifecycle events
            # (start, close: a discarded callback or two per sender when logging is off), and
            # WARNING and ERROR ones are rare. DEBUG records come once per request, from shard
            # threads, and a discarded one still costs a GIL hand-over (measured: +35% CPU per
            # sample for append_many, +18% for append loops, i.e. 70-110 us per request), so
            # they are asked for only while DEBUG is on: _follow_logger tells the library.
            self._log_follow = True
            self._log_debug = _is_enabled_for(_DEBUG)
            log_level = logging.DEBUG if self._log_debug else logging.INFO
            key = next(_following_keys)
        elif not isinstance(log_level, int):
            raise TypeError(f"log_level must be a logging level (int), not {log_level!r}")
        cfg = POINTER(promrw_config)()
        err = POINTER(promrw_error)()
        if path is not None:
            raw_path = _path_bytes(path)
            status = lib.promrw_config_from_file(raw_path, len(raw_path), byref(cfg), byref(err))
        else:
            text = _config_text(config)
            status = lib.promrw_config_from_yaml(text, len(text), byref(cfg), byref(err))
        if status != c.PROMRW_OK:
            _raise_error(status, err)
        try:
            status = lib.promrw_config_set_log_callback(
                cfg, _library_level(log_level), _LOG_CALLBACK, key, _NO_FREE_HOOK
            )
            if status != c.PROMRW_OK:
                _raise_status(status, "setting the log callback")
            handle = POINTER(promrw_sender)()
            status = lib.promrw_sender_new(cfg, byref(handle), byref(err))
            if status != c.PROMRW_OK:
                _raise_error(status, err)
        finally:
            lib.promrw_config_free(cfg)
        self._handle = handle
        _live.add(self)
        _made.add(self)
        if key is not None:
            _following[key] = self
            # The level may have changed while the sender started.
            self._sync_log_level()

    @classmethod
    def from_file(
        cls,
        path: PathArg,
        *,
        close_timeout: Optional[float] = DEFAULT_CLOSE_TIMEOUT,
        log_level: Optional[int] = None,
    ) -> "Sender":
        """A sender configured from a file: ``Sender(path=path, ...)``.

        Reads and validates a configuration file: the same schema, the same YAML-or-JSON
        choice and the same errors as configuration text. The file is read once, when the
        sender is made (files named inside the configuration, such as ``password_file``, are
        read when used).

        Raises:
            InvalidConfigError: the file cannot be read (the message names the path and the
                system's error) or its text is invalid (the message names the field).
            TypeError: ``path`` is not ``str``, ``bytes`` or ``os.PathLike``.
        """
        return cls(path=path, close_timeout=close_timeout, log_level=log_level)

    # ---------------------------------------------------------------------------------------
    # Following the logger's level.

    def _sync_log_level(self) -> None:
        """Calls :meth:`_follow_logger` when the ``promrw`` logger's DEBUG state differs from
        what the library was last told (a cached look-up; the appends inline it)."""
        if self._log_follow and _is_enabled_for(_DEBUG) is not self._log_debug:
            self._follow_logger()

    def _follow_logger(self) -> None:
        """Asks the library for DEBUG records while the ``promrw`` logger is enabled for DEBUG,
        for INFO and above otherwise, with ``promrw_sender_set_log_level``: it changes the
        minimum level of the records the sender passes to its log callback, from the next
        record on, for all of the sender's threads (records being formatted meanwhile may
        still use the previous level).

        Thread safety: may be called from any thread, the library's included (from the log
        callback); the lock keeps the level last set and the one remembered equal. After
        :meth:`close` (``PROMRW_CLOSED``) the sender stops following.
        """
        with self._log_lock:
            debug = _is_enabled_for(_DEBUG)
            handle = self._handle
            if not self._log_follow or debug is self._log_debug or handle is None:
                return
            level = c.PROMRW_LOG_DEBUG if debug else c.PROMRW_LOG_INFO
            if lib.promrw_sender_set_log_level(handle, level) == c.PROMRW_OK:
                self._log_debug = debug
            else:  # PROMRW_CLOSED: the sender produces no more requests
                self._log_follow = False

    # ---------------------------------------------------------------------------------------
    # Series and samples.

    def series(self, labels: Labels) -> int:
        """Registers a label set and returns its series reference (an int, never 0).

        Labels are validated (Remote Write name syntax, no repeated names, at least one
        non-empty value), sorted, and the configured external labels are added. A label with
        an empty value is ignored. Equal label sets give the same reference.

        Args:
            labels: ``{"__name__": "up", "job": "api"}`` or ``[("__name__", "up"), ...]``.

        Raises:
            InvalidLabelsError: a name is invalid or repeated, a string is not valid UTF-8, or
                no label has a value.
            ClosedError: the sender was closed.
            TypeError: a name or value is not a ``str``.
        """
        self._sync_log_level()
        keep, pointer, count = _label_structs(labels)
        out = c_uint64()
        err = POINTER(promrw_error)()
        status = lib.promrw_sender_series(self._handle, pointer, count, byref(out), byref(err))
        if status != c.PROMRW_OK:
            _raise_error(status, err)
        return out.value

    def release_series(self, series: int) -> None:
        """Forgets a series so its memory can be reused; queued samples are still sent.

        Appends with the reference afterwards raise :class:`UnknownSeriesError`.

        Raises:
            UnknownSeriesError: ``series`` is unknown or already released.
            ClosedError: the sender was closed.
        """
        self._sync_log_level()
        try:
            status = lib.promrw_sender_release_series(self._handle, series)
        except ctypes.ArgumentError as e:
            raise TypeError(f"release_series: series must be an int ({e})") from None
        if status != c.PROMRW_OK:
            _raise_status(status, f"releasing series {series}")

    def append(
        self,
        series: int,
        value: float,
        timestamp_ms: Optional[int] = None,
        *,
        start_timestamp_ms: int = 0,
        exemplar: Any = None,
    ) -> None:
        """Appends one sample, optionally with a start timestamp and an exemplar.

        Args:
            series: a reference from :meth:`series`.
            value: the value (any float, NaN and infinities included).
            timestamp_ms: milliseconds since the Unix epoch; ``None`` means now. It must be
                later than the last accepted timestamp of the series.
            start_timestamp_ms: the start timestamp (``promrw_sender_append_with_exemplar``);
                0 means unset; otherwise it must not be after ``timestamp_ms``.
            exemplar: ``None``, a :class:`promrw.Exemplar` or a dict ``{"labels": {...},
                "value": v, "timestamp_ms": ms or None}``. An endpoint without
                ``send_exemplars: true`` drops the exemplar (counted in
                ``exemplars_dropped``) and still sends the sample.

        Raises:
            InvalidArgumentError: the start timestamp is after ``timestamp_ms``, or the
                exemplar is malformed (the message names the field).
            InvalidLabelsError: the exemplar's labels break the label rules or hold more than
                128 runes.
            OutOfOrderError: the timestamp is not after the series' last accepted one.
            UnknownSeriesError: ``series`` is unknown or was released.
            QueueFullError: the queue is full and the overflow policy refused the sample (it
                may be appended again).
            ShardDeadError: the shard of the series died.
            ClosedError: the sender was closed.
        """
        if self._log_follow and _is_enabled_for(_DEBUG) is not self._log_debug:
            self._follow_logger()
        if timestamp_ms is None:
            timestamp_ms = _time_ns() // 1_000_000
        if start_timestamp_ms or exemplar is not None:
            self._append_with(series, value, timestamp_ms, start_timestamp_ms, exemplar)
            return
        try:
            status = _append(self._handle, series, timestamp_ms, value)
        except ctypes.ArgumentError as e:
            raise TypeError(f"append(series: int, value: float, timestamp_ms: int): {e}") from None
        if status:
            _raise_status(status, f"appending to series {series} at {timestamp_ms} ms")

    def _append_with(
        self, series: int, value: float, timestamp_ms: int, start_timestamp_ms: int, exemplar: Any
    ) -> None:
        """:meth:`append` with a start timestamp or an exemplar."""
        keep: Any = None
        pointer: Any = None
        if exemplar is not None:
            keep, struct = _exemplar_struct(exemplar, "exemplar")
            pointer = byref(struct)
        err = POINTER(promrw_error)()
        try:
            status = _append_with_exemplar(
                self._handle, series, timestamp_ms, start_timestamp_ms, value, pointer, byref(err)
            )
        except ctypes.ArgumentError as e:
            raise TypeError(
                f"append(series: int, value: float, timestamp_ms: int, start_timestamp_ms: int): {e}"
            ) from None
        del keep
        if status:
            _raise_error(status, err)

    def append_histogram(
        self,
        series: int,
        histogram: Mapping[str, Any],
        timestamp_ms: Optional[int] = None,
        *,
        start_timestamp_ms: int = 0,
        exemplar: Any = None,
    ) -> None:
        """Appends one native histogram (``promrw_sender_append_histogram``), checked with
        Prometheus's rules first. Like a sample, its timestamp must be later than the last
        accepted one of the series (sample or histogram). An endpoint not configured for it
        drops it and counts it (``histograms_dropped``): Remote Write 1.0 endpoints send
        histograms only with ``send_native_histograms: true``, exemplars only with
        ``send_exemplars: true``.

        Args:
            series: a reference from :meth:`series`.
            histogram: a dict with the fields of ``promrw_histogram``: ``schema`` (-4 to 8, or
                -53 for custom buckets), ``zero_threshold``, ``sum``, ``count``,
                ``zero_count``, ``positive_spans`` and ``negative_spans`` (lists of
                ``(offset, length)``), then either ``positive_deltas``/``negative_deltas``
                (ints, each bucket the delta from the previous one: an integer histogram) or
                ``positive_counts``/``negative_counts`` (floats, absolute counts: a float
                histogram), ``reset_hint`` (``"unknown"``, ``"yes"``, ``"no"``, ``"gauge"`` or
                a ``PROMRW_RESET_HINT_*`` value) and ``custom_values`` (the custom buckets'
                upper bounds, schema -53 only). Missing keys are 0 or empty.
            timestamp_ms: milliseconds since the Unix epoch; ``None`` means now.
            start_timestamp_ms: the start timestamp; 0 means unset; otherwise it must not be
                after ``timestamp_ms``.
            exemplar: as for :meth:`append`.

        Raises:
            InvalidArgumentError: a field is malformed, arrays of both kinds are given, the
                start timestamp is after ``timestamp_ms``, or the histogram breaks
                Prometheus's rules (the message names the field or the rule: schema, spans
                against buckets, negative counts, the count against the buckets, custom
                bounds).
            InvalidLabelsError: the exemplar's labels break the label rules or hold more than
                128 runes.
            the other errors of :meth:`append`.
        """
        self._sync_log_level()
        if timestamp_ms is None:
            timestamp_ms = _time_ns() // 1_000_000
        keep, h = _histogram_struct(histogram)
        try:
            h.start_timestamp_ms = start_timestamp_ms
        except TypeError as e:
            raise TypeError(f"append_histogram: start_timestamp_ms must be an int ({e})") from None
        if exemplar is not None:
            ex_keep, ex = _exemplar_struct(exemplar, "exemplar")
            keep.append(ex_keep)
            keep.append(ex)
            h.exemplar = ctypes.pointer(ex)
        err = POINTER(promrw_error)()
        try:
            status = _append_histogram(self._handle, series, timestamp_ms, byref(h), byref(err))
        except ctypes.ArgumentError as e:
            raise TypeError(f"append_histogram(series: int, histogram, timestamp_ms: int): {e}") from None
        del keep
        if status:
            _raise_error(status, err)

    def append_stale_histogram(self, series: int, timestamp_ms: Optional[int] = None) -> None:
        """Appends a stale marker for a histogram series (an empty integer histogram whose
        ``sum`` is the stale NaN): the series ended at ``timestamp_ms`` (``None``: now).

        Raises:
            the same errors as :meth:`append`.
        """
        self._sync_log_level()
        if timestamp_ms is None:
            timestamp_ms = _time_ns() // 1_000_000
        try:
            status = lib.promrw_sender_append_stale_histogram(self._handle, series, timestamp_ms)
        except ctypes.ArgumentError as e:
            raise TypeError(f"append_stale_histogram(series: int, timestamp_ms: int): {e}") from None
        if status:
            _raise_status(
                status, f"appending a histogram stale marker to series {series} at {timestamp_ms} ms"
            )

    def set_metadata(self, series: int, type: Any, help: str = "", unit: str = "") -> None:
        """Sets the metadata of a series (its metric family's type, help text and unit),
        replacing what was set before (``promrw_sender_set_metadata``). Remote Write 2.0
        endpoints send it with every request carrying the series; 1.0 endpoints send it in
        metadata requests every ``metadata_config.send_interval``, by metric family.

        Args:
            series: a reference from :meth:`series`.
            type: ``"counter"``, ``"gauge"``, ``"histogram"``, ``"gaugehistogram"``,
                ``"summary"``, ``"info"``, ``"stateset"``, ``"unknown"`` (or ``"untyped"``), or
                a ``PROMRW_METRIC_TYPE_*`` value (0 to 7).
            help: the help text (may be empty).
            unit: the unit (may be empty), e.g. ``"seconds"``.

        Raises:
            InvalidArgumentError: ``type`` is not a metric type.
            UnknownSeriesError: ``series`` is unknown or was released.
            ClosedError: the sender was closed.
            IoError: writing the WAL failed (WAL mode).
        """
        self._sync_log_level()
        if isinstance(type, str):
            if type not in METRIC_TYPES:
                raise _invalid(f"metric type {type!r} is not one of {sorted(METRIC_TYPES)}")
            type = METRIC_TYPES[type]
        if isinstance(type, bool) or not isinstance(type, int) or type < 0 or type >= 1 << 32:
            raise _invalid(f"metric_type is {type!r}; it must be one of PROMRW_METRIC_TYPE_* (0 to 7)")
        help_b = _label_bytes(help, "help") if not isinstance(help, bytes) else help
        unit_b = _label_bytes(unit, "unit") if not isinstance(unit, bytes) else unit
        err = POINTER(promrw_error)()
        try:
            status = lib.promrw_sender_set_metadata(
                self._handle, series, type, help_b, len(help_b), unit_b, len(unit_b), byref(err)
            )
        except ctypes.ArgumentError as e:
            raise TypeError(f"set_metadata(series: int, type, help: str, unit: str): {e}") from None
        if status:
            _raise_error(status, err)

    def append_stale(self, series: int, timestamp_ms: Optional[int] = None) -> None:
        """Appends a stale marker: the series ended at ``timestamp_ms`` (``None``: now).

        Raises:
            the same errors as :meth:`append`.
        """
        if self._log_follow and _is_enabled_for(_DEBUG) is not self._log_debug:
            self._follow_logger()
        if timestamp_ms is None:
            timestamp_ms = _time_ns() // 1_000_000
        try:
            status = _append_stale(self._handle, series, timestamp_ms)
        except ctypes.ArgumentError as e:
            raise TypeError(f"append_stale(series: int, timestamp_ms: int): {e}") from None
        if status:
            _raise_status(status, f"appending a stale marker to series {series} at {timestamp_ms} ms")

    def append_many(self, series: Any, values: Any, timestamps_ms: Any = None) -> int:
        """Appends samples given as columns, in order, stopping at the first one refused.

        The arguments come in the order of :meth:`append` (series, value, timestamp), with the
        same names in the plural: ``append_many(refs, values, timestamps_ms)``, or by keyword.

        Buffers are passed to the library without copying when they are one-dimensional,
        C-contiguous arrays of 8-byte items: ``array.array('Q')`` (or ``'q'``) for series,
        ``array.array('d')`` for values, ``array.array('q')`` for timestamps, and equally
        ``memoryview`` objects or numpy arrays of ``uint64``/``float64``/``int64``. Other
        sequences and iterables (lists, tuples, ranges, other numpy dtypes) are converted.
        While the call runs, the buffers cannot be resized.

        Args:
            series: one reference (an ``int``) for every sample, or one reference per sample.
            values: floats, one per sample.
            timestamps_ms: milliseconds since the Unix epoch, one per sample; ``None`` means
                now, the same for every sample (so each series may appear only once).

        Returns:
            The number of samples appended (``len(values)``).

        Raises:
            ValueError: the columns' lengths differ (``series`` may also have length 1), or an
                item is out of range, or a buffer has more than one dimension.
            TypeError: a column is not a sequence or buffer of numbers.
            OutOfOrderError, UnknownSeriesError, QueueFullError, ShardDeadError: a sample was
                refused; ``err.accepted`` samples before it were appended (so sample
                ``err.accepted`` is the refused one) and the rest were not.
            ClosedError: the sender was closed (nothing appended).
        """
        if self._log_follow and _is_enabled_for(_DEBUG) is not self._log_debug:
            self._follow_logger()
        if isinstance(series, int):
            refs = None
            one = c_uint64(series)
            if one.value != series:
                raise ValueError(f"series reference {series} is out of range")
        else:
            refs = column(series, "series", "Q", c_uint64)
        ts = vs = None
        try:
            vs = column(values, "values", "d", ctypes.c_double)
            n = vs.length
            if timestamps_ms is None:
                timestamps_ms = array("q", (_time_ns() // 1_000_000,)) * n
            ts = column(timestamps_ms, "timestamps_ms", "q", ctypes.c_int64)
            if ts.length != n:
                raise ValueError(
                    f"values and timestamps_ms differ in length ({n} and {ts.length})"
                )
            if refs is None:
                series_ptr: Any = one
                series_len = 1
            else:
                series_ptr = refs.pointer
                series_len = refs.length
                if series_len != n and series_len != 1:
                    raise ValueError(
                        f"series must be one reference or one per sample: got {series_len} "
                        f"references for {n} samples"
                    )
            accepted = c_size_t(0)
            status = _append_columns(
                self._handle,
                series_ptr,
                series_len,
                ts.pointer,
                vs.pointer,
                n,
                byref(accepted),
            )
        finally:
            for col in (refs, vs, ts):
                if col is not None:
                    col.release()
        if status:
            done = accepted.value
            name = status_name(status)
            if status == c.PROMRW_CLOSED or status == c.PROMRW_INVALID_ARGUMENT:
                raise make_error(status, f"appending {n} samples: {name}", name, 0)
            raise make_error(
                status,
                f"sample {done} of {n} refused ({done} appended before it): {name}",
                name,
                done,
            )
        return n

    # ---------------------------------------------------------------------------------------
    # Lifecycle.

    def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until every sample appended before the call is acknowledged (or failed for
        good); partial batches are sent at once. Then reports what was lost: see
        :meth:`last_report`. The GIL is released while waiting.

        Returns only when every sample accepted before the call was acknowledged and nothing
        was rejected or dropped since the previous flush or close returned.

        Args:
            timeout: seconds to wait at most; ``None`` or ``math.inf`` wait without limit.

        Raises:
            SamplesLostError: some samples were rejected by a receiver (counted as failed) or
                dropped (too old, queue full) since the previous flush or close returned;
                ``.report`` says how many and why.
            DeadlineExceededError: ``timeout`` passed first (it takes precedence; the report,
                in ``.report``, says what is still pending and the last error of each
                endpoint). A :class:`TimeoutError`.
            ClosedError: the sender was closed.
        """
        self._sync_log_level()
        status = lib.promrw_sender_flush(self._handle, _timeout_ms(timeout, "timeout"))
        if status != c.PROMRW_OK:
            self._raise_reported(status, "flush")

    def sync(self, timeout: Optional[float] = None) -> None:
        """Makes every sample accepted before the call durable. With the durable queue
        (``promrw.wal``) it succeeds once every sample accepted before the call is written to
        the log files and fsync'd (whatever the fsync policy), else it fails with a timeout
        when the timeout passes first. In memory mode (no ``promrw.wal``) it succeeds at once
        and guarantees nothing: the samples live in memory only. After close it fails as
        closed. The durability contract is stated in docs/DURABILITY.md.

        Unlike :meth:`flush` it waits for no receiver and makes no report. The GIL is released
        while waiting.

        Args:
            timeout: seconds to wait at most; ``None`` or ``math.inf`` wait without limit.

        Raises:
            DeadlineExceededError: ``timeout`` passed first (``.report`` is ``None``). A
                :class:`TimeoutError`.
            ClosedError: the sender was closed.
        """
        self._sync_log_level()
        status = lib.promrw_sender_sync(self._handle, _timeout_ms(timeout, "timeout"))
        if status != c.PROMRW_OK:
            _raise_status(status, "sync")

    def close(self, timeout: Optional[float] = None) -> None:
        """Stops accepting samples, sends what is queued for up to ``timeout`` seconds, then
        stops and joins the shard threads.

        An HTTP attempt still in progress at the deadline is interrupted (its connection is
        shut down, a TCP connect is abandoned), so this returns soon after the deadline even
        when ``remote_timeout`` is longer. A DNS lookup in progress is abandoned as well: it
        runs on a helper thread of its own, which holds nothing of the sender's and ends by
        itself when the system resolver answers, possibly after this returns (a URL whose host
        is an IP address needs no lookup). When it returns, every shard thread has ended: the
        log function is not called for this sender any more.

        Returns only when everything queued was sent and nothing was rejected or dropped since
        the previous flush or close returned. The sender is closed in every case. Afterwards
        the read-only calls (:meth:`stats`, :meth:`metrics_text`, :meth:`last_report`) still
        work, so the final counts can be read; every other method but :meth:`close` raises
        :class:`ClosedError`. Closing a closed sender does nothing (like closing a closed
        file).

        Args:
            timeout: seconds to wait at most; ``None`` uses the ``close_timeout`` given to the
                constructor (30 s by default); ``math.inf`` waits without limit.

        Raises:
            SamplesLostError: some samples were rejected or dropped since the previous flush
                or close returned (``.report`` says how many and why).
            DeadlineExceededError: the deadline passed first (the samples still unsent are
                counted as failed; ``.report`` as for :meth:`flush`).
        """
        if timeout is None:
            timeout = self._close_timeout
        ms = _timeout_ms(timeout, "timeout")
        handle = self._handle
        if handle is None:
            return
        self._sync_log_level()  # the requests of the drain log at the logger's level
        self._closed = True
        status = lib.promrw_sender_close(handle, ms)
        _live.discard(self)
        if status != c.PROMRW_OK and status != c.PROMRW_CLOSED:
            self._raise_reported(status, "close")

    def _raise_reported(self, status: int, what: str) -> None:
        """Raises the error of a flush or close; ``SAMPLES_LOST`` and ``TIMEOUT`` carry the
        call's report, whose text (it starts with ``what``) is the message."""
        report: Optional[Dict[str, Any]] = None
        if status == c.PROMRW_SAMPLES_LOST or status == c.PROMRW_TIMEOUT:
            try:
                report = self.last_report()
            except PromrwError:  # pragma: no cover - the report is readable after both
                report = None
        name = status_name(status)
        message = report["message"] if report and report["message"] else f"{what}: {name}"
        raise make_error(status, message, name, None, report)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def close_timeout(self) -> Optional[float]:
        """The default deadline of :meth:`close`, in seconds (``None``: no limit)."""
        return self._close_timeout

    def __enter__(self) -> "Sender":
        """Returns the sender itself."""
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Closes the sender with its ``close_timeout``.

        When the block raised, an error from closing (such as the deadline passing) is logged
        instead of raised, so the block's own exception is the one that propagates.
        """
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except PromrwError as e:
            logger.warning("closing a promrw sender after an exception: %s", e)

    def _close_at_exit(self) -> None:
        """Closes the sender at interpreter exit (errors are logged, not raised)."""
        if self._closed or self._handle is None:
            return
        try:
            self.close()
        except PromrwError as e:
            logger.warning("closing a promrw sender at exit: %s", e)

    def __del__(self) -> None:
        """Backstop for senders dropped without :meth:`close`: closes briefly, then frees."""
        handle = getattr(self, "_handle", None)
        if handle is None:
            return
        self._handle = None
        try:
            close_ms = None
            if not self._closed:
                close_ms = min(
                    _timeout_ms(self._close_timeout, "close_timeout"),
                    int(GC_CLOSE_TIMEOUT * 1000),
                )
            if isinstance(threading.current_thread(), threading._DummyThread):
                # Collected inside a library callback, on a thread the library started:
                # closing here could join the very thread we run on. A Python thread does it
                # (not a daemon: interpreter exit waits for it, at most GC_CLOSE_TIMEOUT).
                threading.Thread(
                    target=_free_handle, args=(handle, close_ms), name="promrw-free"
                ).start()
                return
            _free_handle(handle, close_ms)
        except Exception:  # noqa: BLE001 - a finaliser must not raise (e.g. at teardown)
            pass

    # ---------------------------------------------------------------------------------------
    # Introspection.

    def stats(self) -> Dict[str, int]:
        """A snapshot of the sender's counters (the fields of ``promrw_stats`` but
        ``struct_size``), summed over the endpoints. Each means what the metric of
        :meth:`metrics_text` named here means; counters count samples unless named otherwise:

        - ``samples_appended``: accepted by append (``promrw_samples_appended_total``);
        - ``samples_total``: in send attempts, a retried batch counting again at every attempt
          (``prometheus_remote_storage_samples_total``);
        - ``samples_acked``: acknowledged with a 2xx, each once (``promrw_samples_acked_total``);
        - ``samples_failed``: lost to a non-recoverable response (every sample of the refused
          batch), a close deadline or a dead shard (``..._samples_failed_total``);
        - ``samples_retried``: in attempts that failed recoverably (5xx, 429, network errors)
          and were retried, at every retry (``..._samples_retried_total``);
        - ``samples_dropped_too_old``, ``samples_dropped_queue_full``:
          ``..._samples_dropped_total{reason}``;
        - ``rejected_out_of_order``, ``rejected_queue_full``, ``rejected_unknown_series``,
          ``rejected_closed``, ``rejected_shard_dead``: samples refused by append, per sample
          (``promrw_appends_rejected_total{reason}``);
        - ``samples_pending`` (gauge): queued or in flight (``..._samples_pending``);
        - ``bytes_total``: compressed bytes of each batch once, when its sending ended,
          acknowledged or rejected for good (``..._bytes_total``);
        - ``batches_acked``: requests acknowledged with a 2xx (``promrw_batches_acked_total``);
        - ``enqueue_retries``: appends that waited for room under ``block``
          (``..._enqueue_retries_total``);
        - ``shards``, ``shards_dead``, ``series`` (gauges), ``endpoints``;
        - ``highest_enqueued_ms``: highest timestamp queued on any endpoint
          (``..._queue_highest_timestamp_seconds``, in ms);
        - ``highest_sent_ms``: highest timestamp acknowledged on every endpoint
          (``..._queue_highest_sent_timestamp_seconds``, in ms); a rejected or abandoned
          batch does not advance it;
        - ``samples_too_large``: samples that alone, with their series' labels, exceed
          ``promrw.max_request_bytes``: never sent, also counted in ``samples_failed``
          (``promrw_samples_too_large_total``);
        - ``series_cached`` (gauge): series held in the shards' caches: a released series
          stays until its queued samples are sent (``promrw_shard_cached_series``);
        - ``rejected_io``: samples refused with :class:`IoError` because writing the WAL
          failed (WAL mode), per sample (``promrw_appends_rejected_total{reason="io"}``).

        WAL-mode figures (``promrw.wal`` set), 0 in memory mode:

        - ``wal_bytes_on_disk`` (gauge): bytes of the log's segments on disk
          (``promrw_wal_bytes``);
        - ``wal_segments`` (gauge): segments on disk (``promrw_wal_segments``);
        - ``wal_records_written``: records written, series and samples records
          (``promrw_wal_records_written_total``);
        - ``wal_bytes_written``: bytes written to segments (``promrw_wal_bytes_written_total``);
        - ``wal_fsyncs``: successful fsyncs of segments (``promrw_wal_fsyncs_total``);
        - ``wal_write_errors``: write and fsync errors met, each retried
          (``promrw_wal_write_errors_total``);
        - ``wal_corrupt_records_skipped``: damaged stretches skipped, when the log was opened
          and by the feeders since, and torn tails cut at open
          (``promrw_wal_corrupt_records_skipped_total``);
        - ``samples_dropped_wal_full``: samples deleted unsent with the oldest segments at
          ``promrw.wal.max_bytes`` (``full: drop_oldest``)
          (``..._samples_dropped_total{reason="wal_full"}``);
        - ``samples_dropped_wal_too_old``: samples deleted unsent with segments older than
          ``promrw.wal.max_age`` (``..._samples_dropped_total{reason="wal_too_old"}``);
        - ``wal_lag_bytes`` (gauge): log bytes from an endpoint's cursor to the end of the log,
          not yet done for that endpoint (``promrw_wal_cursor_lag_bytes``);
        - ``wal_lag_samples`` (gauge): samples from an endpoint's cursor to the end of the log
          (``promrw_wal_cursor_lag_samples``);
        - ``wal_samples_replayed``: samples the log held at or after an endpoint's cursor when
          the sender opened it, sent first (``promrw_wal_samples_replayed_total``).

        Drops that the configuration asks for, not losses:

        - ``samples_dropped_relabel``: samples of series an endpoint's
          ``write_relabel_configs`` drop, as configured
          (``..._samples_dropped_total{reason="relabel"}``);
        - ``samples_dropped_relabel_invalid``: samples of series whose relabeled labels Remote
          Write cannot carry: no labels left, an invalid label or metric name
          (``reason="relabel_invalid"``);
        - ``samples_dropped_no_tenant``: samples of series an endpoint's ``tenant`` routing
          cannot route: no tenant label and no ``default``, or a tenant that cannot be sent in
          a header (``reason="no_tenant"``).

        Native histograms, exemplars and metadata (the fifth version of ``promrw_stats``):

        - ``histograms_total``, ``histograms_acked``, ``histograms_failed``,
          ``histograms_retried``: as the ``samples_*`` ones, for native histograms
          (``prometheus_remote_storage_histograms_{total,failed_total,retried_total}``,
          ``promrw_histograms_acked_total``); failed also counts those a Remote Write 2.0
          receiver reported not written;
        - ``histograms_dropped``: dropped for every reason together, including an endpoint not
          configured to send them and custom buckets on Remote Write 1.0
          (``..._histograms_dropped_total``);
        - ``exemplars_total``, ``exemplars_acked``, ``exemplars_failed``,
          ``exemplars_retried``, ``exemplars_dropped``: the same for exemplars (dropped
          includes an endpoint without ``send_exemplars: true``);
        - ``metadata_total``, ``metadata_failed``, ``metadata_retried``, ``metadata_bytes``:
          Remote Write 1.0 metadata entries acknowledged, lost, retried, and the compressed
          bytes of acknowledged metadata requests (``..._metadata_*``);
        - ``remote_write_protocol`` (gauge): 1 or 2, the lowest protocol over the endpoints (a
          2.0 endpoint whose receiver speaks only 1.0 falls back to 1); 0 with no endpoint
          (``promrw_remote_write_protocol``).

        Works after :meth:`close` too, so the final counts can be read.
        """
        self._sync_log_level()
        out = promrw_stats()
        out.struct_size = ctypes.sizeof(out)
        status = lib.promrw_sender_stats(self._handle, byref(out))
        if status != c.PROMRW_OK:
            _raise_status(status, "stats")
        return {
            field[0]: getattr(out, field[0])
            for field in promrw_stats._fields_
            if field[0] != "struct_size"
        }

    def metrics_text(self) -> str:
        """The sender's self-metrics in the Prometheus text exposition format (0.0.4).

        Works after :meth:`close` too.
        """
        self._sync_log_level()
        handle = self._handle
        return _read_text(
            lambda buf, cap, len_out: lib.promrw_sender_metrics_text(handle, buf, cap, len_out),
            "metrics_text",
        )

    def last_report(self) -> Dict[str, Any]:
        """The report of the most recent flush or close that returned (all zero before the
        first), whatever it returned. Works after :meth:`close`. A flush or close returning
        meanwhile (on another thread) replaces the report.

        Counts cover the window since the flush or close before it returned. Keys, for all
        endpoints together:

        - ``samples_failed``: samples a receiver rejected (non-retryable status) or abandoned
          at a close deadline;
        - ``samples_dropped_too_old``: samples dropped as older than ``sample_age_limit``;
        - ``samples_dropped_queue_full``: samples dropped because a queue was full under the
          ``drop_newest`` policy;
        - ``samples_pending``: samples still pending when the call returned (non-zero after a
          timeout);
        - ``last_http_status``: HTTP status of the most recent failed attempt over all
          endpoints (rejected or retried); 0 when there was none or it failed without a
          response (connection refused, timeout);
        - ``timed_out``: ``True`` when the flush or close hit its deadline;
        - ``last_error_unix_ms``: when that most recent failed attempt ended, milliseconds
          since the Unix epoch; 0 when there was none;
        - ``samples_dropped_wal``: WAL mode, samples dropped unsent with the oldest segments
          (``promrw.wal.max_bytes`` reached with ``full: drop_oldest``, or older than
          ``promrw.wal.max_age``); 0 in memory mode;
        - ``message``: the whole message the flush or close carried (what was lost and what is
          pending per endpoint, with each one's last error; empty when it succeeded);
        - ``endpoints``: one dict per endpoint, in configuration order, with the same numeric
          keys for that endpoint and ``last_error``: that endpoint's most recent failed
          attempt, e.g. ``"server returned HTTP status 404: 404 page not found"`` or
          ``"request failed: ..."`` (empty when there was none).
        """
        self._sync_log_level()
        handle = self._handle
        report = _report_numbers(handle, c.PROMRW_ALL_ENDPOINTS)
        report["message"] = _report_text(handle, c.PROMRW_ALL_ENDPOINTS)
        endpoints = []
        for index in range(self.stats()["endpoints"]):
            one = _report_numbers(handle, index)
            one["last_error"] = _report_text(handle, index)
            endpoints.append(one)
        report["endpoints"] = endpoints
        return report

    def __repr__(self) -> str:
        """``<promrw.Sender open|closed>``."""
        return f"<promrw.Sender {'closed' if self._closed else 'open'}>"


def _check(status: int, context: str = "") -> None:
    """Raises the mapped exception for a non-OK status (for tests and internal use)."""
    if status != c.PROMRW_OK:
        _raise_status(status, context)


# ---------------------------------------------------------------------------------------------
# fork(): in the child, senders made before the fork have no threads. At the fork, every one of
# them becomes an instance of a subclass whose methods raise ForkedError and whose finaliser
# only frees the handle: nothing calls into the library but promrw_sender_free, nothing waits,
# and the parent's fast paths carry no check.

_FORKED_MESSAGE = (
    "the sender was created in another process: this is a child made by fork(), where the "
    "sender's threads do not run; create senders after forking"
)
# Asked for now, in the parent: in a child nothing but promrw_sender_free is called.
_FORKED_NAME = status_name(c.PROMRW_FORKED)


def _forked(what: str) -> PromrwError:
    """The :class:`ForkedError` of calling ``what`` in a child."""
    return make_error(c.PROMRW_FORKED, f"{what}: {_FORKED_MESSAGE}", _FORKED_NAME)


def _forked_method(name: str) -> Any:
    """A method raising :class:`ForkedError`, standing in for ``Sender.<name>``."""

    def method(self: Sender, *args: Any, **kwargs: Any) -> Any:
        raise _forked(name)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Raises ForkedError: ``{name}`` was called in a child made by fork()."
    return method


def _forked_del(self: Sender) -> None:
    """Frees the handle with ``promrw_sender_free``, which does not wait for threads."""
    handle = getattr(self, "_handle", None)
    if handle is None:
        return
    self._handle = None
    try:
        lib.promrw_sender_free(handle)
    except Exception:  # noqa: BLE001 - a finaliser must not raise (e.g. at teardown)
        pass


def _forked_close_at_exit(self: Sender) -> None:
    """Nothing to close at exit in a child: the sender's threads do not run there."""


def _forked_repr(self: Sender) -> str:
    """``<promrw.Sender forked>``."""
    return "<promrw.Sender forked>"


# The subclass used in a child for each class of sender (Sender or a user's subclass of it).
_FORKED_CLASSES: Dict[type, type] = {}


def _forked_class(cls: type) -> type:
    """``cls`` with every public method of :class:`Sender` raising :class:`ForkedError`; it
    adds no slots, so an instance of ``cls`` can take it as its ``__class__``."""
    forked = _FORKED_CLASSES.get(cls)
    if forked is None:
        namespace: Dict[str, Any] = {
            name: _forked_method(name)
            for name, value in vars(Sender).items()
            if not name.startswith("_") and inspect.isfunction(value)
        }
        namespace.update(
            __slots__=(),
            __module__=cls.__module__,
            __doc__=f"A {cls.__name__} made before fork(), in the child (see ForkedError).",
            __del__=_forked_del,
            _close_at_exit=_forked_close_at_exit,
            __repr__=_forked_repr,
            _promrw_forked=True,
        )
        forked = type(f"Forked{cls.__name__}", (cls,), namespace)
        forked.__qualname__ = f"Forked{cls.__qualname__}"
        _FORKED_CLASSES[cls] = forked
    return forked


def _after_fork_in_child() -> None:
    """Marks every sender made before the fork as forked (``os.register_at_fork``)."""
    _live.clear()  # none is open in the child: nothing to close at exit
    for sender in list(_made):
        try:
            cls = type(sender)
            if not getattr(cls, "_promrw_forked", False):
                sender.__class__ = _forked_class(cls)
        except BaseException:  # noqa: BLE001 - mark the others; the library refuses anyway
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)
