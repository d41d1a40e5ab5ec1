"""Loading ``libpromrw.so`` and the ctypes declarations of every function in ``promrw.h``.

The library is looked for, in order:

1. the path in the ``PROMRW_LIBRARY`` environment variable, when set and not empty;
2. ``_native/libpromrw.so`` inside this package (where ``pip install`` puts it);
3. ``target/release/libpromrw.so`` of the promrw source checkout this file lives in (for
   running the package straight from the repository during development).

Before anything else the library's ``promrw_version()`` is compared with the version the
wrapper pins (:data:`promrw._version.LIBRARY_VERSION`); a mismatch raises
:class:`promrw.PromrwVersionError`.

``ctypes.CDLL`` releases the GIL for the duration of every call, so blocking calls (flush,
close, appends waiting under the ``block`` overflow policy) do not stall other Python threads.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ._errors import PromrwVersionError
from ._version import LIBRARY_VERSION

#: Environment variable naming the shared library to load instead of the bundled one.
LIBRARY_ENV = "PROMRW_LIBRARY"

#: File name of the shared library on this platform.
LIBRARY_FILE = {"darwin": "libpromrw.dylib", "win32": "promrw.dll"}.get(
    sys.platform, "libpromrw.so"
)

# --------------------------------------------------------------------------------------------
# Types of the header.


class promrw_config(Structure):
    """Opaque ``promrw_config`` (only used through pointers)."""


class promrw_sender(Structure):
    """Opaque ``promrw_sender`` (only used through pointers)."""


class promrw_error(Structure):
    """Opaque ``promrw_error`` (only used through pointers)."""


#: ``typedef uint32_t promrw_status``.
promrw_status = c_uint32
#: ``typedef uint64_t promrw_series_ref``.
promrw_series_ref = c_uint64

#: ``typedef void (*promrw_log_fn)(void *, uint32_t, const char *, size_t)``. The message is
#: declared ``POINTER(c_char)``, not ``c_char_p``, because it is not NUL-terminated.
promrw_log_fn = CFUNCTYPE(None, c_void_p, c_uint32, POINTER(c_char), c_size_t)
#: ``typedef void (*promrw_free_user_data_fn)(void *)``.
promrw_free_user_data_fn = CFUNCTYPE(None, c_void_p)


class promrw_sample(Structure):
    """``promrw_sample``: one sample for ``promrw_sender_append_batch``."""

    _fields_ = [
        ("series", promrw_series_ref),
        ("timestamp_ms", c_int64),
        ("value", c_double),
    ]


class promrw_label(Structure):
    """``promrw_label``: a name and a value as (pointer, length) UTF-8 strings."""

    _fields_ = [
        ("name", c_char_p),
        ("name_len", c_size_t),
        ("value", c_char_p),
        ("value_len", c_size_t),
    ]


class promrw_stats(Structure):
    """``promrw_stats``: a snapshot of a sender's counters. ``struct_size`` is set to its size
    before the call; the library sets it to the number of bytes it wrote."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("samples_appended", c_uint64),
        ("samples_total", c_uint64),
        ("samples_acked", c_uint64),
        ("samples_failed", c_uint64),
        ("samples_retried", c_uint64),
        ("samples_dropped_too_old", c_uint64),
        ("samples_dropped_queue_full", c_uint64),
        ("rejected_out_of_order", c_uint64),
        ("rejected_queue_full", c_uint64),
        ("rejected_unknown_series", c_uint64),
        ("rejected_closed", c_uint64),
        ("rejected_shard_dead", c_uint64),
        ("samples_pending", c_uint64),
        ("bytes_total", c_uint64),
        ("batches_acked", c_uint64),
        ("enqueue_retries", c_uint64),
        ("shards", c_uint64),
        ("shards_dead", c_uint64),
        ("series", c_uint64),
        ("endpoints", c_uint64),
        ("highest_enqueued_ms", c_int64),
        ("highest_sent_ms", c_int64),
        ("samples_too_large", c_uint64),
        ("series_cached", c_uint64),
        ("rejected_io", c_uint64),
        ("wal_bytes_on_disk", c_uint64),
        ("wal_segments", c_uint64),
        ("wal_records_written", c_uint64),
        ("wal_bytes_written", c_uint64),
        ("wal_fsyncs", c_uint64),
        ("wal_write_errors", c_uint64),
        ("wal_corrupt_records_skipped", c_uint64),
        ("samples_dropped_wal_full", c_uint64),
        ("samples_dropped_wal_too_old", c_uint64),
        ("wal_lag_bytes", c_uint64),
        ("wal_lag_samples", c_uint64),
        ("wal_samples_replayed", c_uint64),
        ("samples_dropped_relabel", c_uint64),
        ("samples_dropped_relabel_invalid", c_uint64),
        ("samples_dropped_no_tenant", c_uint64),
        ("histograms_total", c_uint64),
        ("histograms_acked", c_uint64),
        ("histograms_failed", c_uint64),
        ("histograms_retried", c_uint64),
        ("histograms_dropped", c_uint64),
        ("exemplars_total", c_uint64),
        ("exemplars_acked", c_uint64),
        ("exemplars_failed", c_uint64),
        ("exemplars_retried", c_uint64),
        ("exemplars_dropped", c_uint64),
        ("metadata_total", c_uint64),
        ("metadata_failed", c_uint64),
        ("metadata_retried", c_uint64),
        ("metadata_bytes", c_uint64),
        ("remote_write_protocol", c_uint64),
    ]


class promrw_bucket_span(Structure):
    """``promrw_bucket_span``: a run of consecutive buckets of a native histogram."""

    _fields_ = [
        ("offset", c_int32),
        ("length", c_uint32),
    ]


class promrw_exemplar(Structure):
    """``promrw_exemplar``: labels, a value and, when ``has_timestamp`` is 1, a timestamp."""

    _fields_ = [
        ("labels", POINTER(promrw_label)),
        ("labels_len", c_size_t),
        ("value", c_double),
        ("timestamp_ms", c_int64),
        ("has_timestamp", c_uint32),
    ]


class promrw_histogram(Structure):
    """``promrw_histogram``: one native histogram with its optional start timestamp and
    exemplar, arrays as (pointer, length) pairs borrowed for the call. ``struct_size`` is set
    to its size."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("schema", c_int32),
        ("kind", c_uint32),
        ("zero_threshold", c_double),
        ("sum", c_double),
        ("count_int", c_uint64),
        ("zero_count_int", c_uint64),
        ("count_float", c_double),
        ("zero_count_float", c_double),
        ("positive_spans", POINTER(promrw_bucket_span)),
        ("positive_spans_len", c_size_t),
        ("negative_spans", POINTER(promrw_bucket_span)),
        ("negative_spans_len", c_size_t),
        ("positive_deltas", POINTER(c_int64)),
        ("positive_deltas_len", c_size_t),
        ("negative_deltas", POINTER(c_int64)),
        ("negative_deltas_len", c_size_t),
        ("positive_counts", POINTER(c_double)),
        ("positive_counts_len", c_size_t),
        ("negative_counts", POINTER(c_double)),
        ("negative_counts_len", c_size_t),
        ("custom_values", POINTER(c_double)),
        ("custom_values_len", c_size_t),
        ("reset_hint", c_uint32),
        ("start_timestamp_ms", c_int64),
        ("exemplar", POINTER(promrw_exemplar)),
    ]


class promrw_report(Structure):
    """``promrw_report``: what the most recent flush or close found, for one endpoint or all
    of them (``promrw_sender_last_report``). ``struct_size`` is set to its size before the
    call."""

    _fields_ = [
        ("struct_size", c_size_t),
        ("samples_failed", c_uint64),
        ("samples_dropped_too_old", c_uint64),
        ("samples_dropped_queue_full", c_uint64),
        ("samples_pending", c_uint64),
        ("last_http_status", c_uint32),
        ("timed_out", c_uint32),
        ("last_error_unix_ms", c_int64),
        ("samples_dropped_wal", c_uint64),
    ]


_config_p = POINTER(promrw_config)
_sender_p = POINTER(promrw_sender)
_error_p = POINTER(promrw_error)

#: ``name: (restype, argtypes)`` for every function of ``promrw.h``. The tests parse the
#: header and fail when a function is missing here or declared differently.
SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "promrw_config_free": (None, [_config_p]),
    "promrw_config_from_file": (
        promrw_status,
        [c_char_p, c_size_t, POINTER(_config_p), POINTER(_error_p)],
    ),
    "promrw_config_from_yaml": (
        promrw_status,
        [c_char_p, c_size_t, POINTER(_config_p), POINTER(_error_p)],
    ),
    "promrw_config_set_log_callback": (
        promrw_status,
        [_config_p, c_uint32, promrw_log_fn, c_void_p, promrw_free_user_data_fn],
    ),
    "promrw_error_code": (promrw_status, [_error_p]),
    "promrw_error_free": (None, [_error_p]),
    "promrw_error_message": (c_char_p, [_error_p]),
    "promrw_sender_append": (
        promrw_status,
        [_sender_p, promrw_series_ref, c_int64, c_double],
    ),
    "promrw_sender_append_batch": (
        promrw_status,
        [_sender_p, POINTER(promrw_sample), c_size_t, POINTER(c_size_t)],
    ),
    "promrw_sender_append_columns": (
        promrw_status,
        [
            _sender_p,
            POINTER(promrw_series_ref),
            c_size_t,
            POINTER(c_int64),
            POINTER(c_double),
            c_size_t,
            POINTER(c_size_t),
        ],
    ),
    "promrw_sender_append_histogram": (
        promrw_status,
        [_sender_p, promrw_series_ref, c_int64, POINTER(promrw_histogram), POINTER(_error_p)],
    ),
    "promrw_sender_append_stale_histogram": (
        promrw_status,
        [_sender_p, promrw_series_ref, c_int64],
    ),
    "promrw_sender_append_with_exemplar": (
        promrw_status,
        [
            _sender_p,
            promrw_series_ref,
            c_int64,
            c_int64,
            c_double,
            POINTER(promrw_exemplar),
            POINTER(_error_p),
        ],
    ),
    "promrw_sender_append_stale": (
        promrw_status,
        [_sender_p, promrw_series_ref, c_int64],
    ),
    "promrw_sender_close": (promrw_status, [_sender_p, c_uint64]),
    "promrw_sender_flush": (promrw_status, [_sender_p, c_uint64]),
    "promrw_sender_free": (None, [_sender_p]),
    "promrw_sender_last_report": (
        promrw_status,
        [_sender_p, c_size_t, POINTER(promrw_report)],
    ),
    "promrw_sender_last_report_text": (
        promrw_status,
        [_sender_p, c_size_t, POINTER(c_char), c_size_t, POINTER(c_size_t)],
    ),
    "promrw_sender_metrics_text": (
        promrw_status,
        [_sender_p, POINTER(c_char), c_size_t, POINTER(c_size_t)],
    ),
    "promrw_sender_new": (
        promrw_status,
        [_config_p, POINTER(_sender_p), POINTER(_error_p)],
    ),
    "promrw_sender_release_series": (promrw_status, [_sender_p, promrw_series_ref]),
    "promrw_sender_set_metadata": (
        promrw_status,
        [
            _sender_p,
            promrw_series_ref,
            c_uint32,
            POINTER(c_char),
            c_size_t,
            POINTER(c_char),
            c_size_t,
            POINTER(_error_p),
        ],
    ),
    "promrw_sender_set_log_level": (promrw_status, [_sender_p, c_uint32]),
    "promrw_sender_series": (
        promrw_status,
        [
            _sender_p,
            POINTER(promrw_label),
            c_size_t,
            POINTER(promrw_series_ref),
            POINTER(_error_p),
        ],
    ),
    "promrw_sender_stats": (promrw_status, [_sender_p, POINTER(promrw_stats)]),
    "promrw_sender_sync": (promrw_status, [_sender_p, c_uint64]),
    "promrw_status_str": (c_char_p, [promrw_status]),
    "promrw_version": (c_char_p, []),
}

#: The test-only functions, declared in ``promrw.h`` only under ``PROMRW_TEST_HOOKS`` and
#: exported only by a library built with the ``test-hooks`` cargo feature (``cargo build --lib
#: --profile test-hooks --features test-hooks``, in ``target/test-hooks/``); never in the
#: library this package loads. For the binding's own tests, through :func:`load_test_hooks`.
TEST_HOOK_SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "promrw_test_force_panic": (promrw_status, []),
}

#: Environment variable naming a test-hooks build of the shared library (for the tests).
TEST_HOOKS_LIBRARY_ENV = "PROMRW_TEST_HOOKS_LIBRARY"


def load_test_hooks(path: Path) -> ctypes.CDLL:
    """Loads a test-hooks build of the library at ``path`` (a second copy, apart from
    :data:`lib`) with :data:`TEST_HOOK_SIGNATURES` declared. For tests only.

    Raises:
        ImportError: the library cannot be loaded or lacks a test hook (not a test-hooks
            build).
    """
    try:
        hooks = ctypes.CDLL(str(path))
    except OSError as e:
        raise ImportError(f"cannot load {path}: {e}") from e
    for name, (restype, argtypes) in TEST_HOOK_SIGNATURES.items():
        try:
            function = getattr(hooks, name)
        except AttributeError:
            raise ImportError(
                f"{path} does not export {name}: not a test-hooks build "
                "(cargo build --lib --profile test-hooks --features test-hooks)"
            ) from None
        function.restype = restype
        function.argtypes = argtypes
    return hooks


# --------------------------------------------------------------------------------------------
# Loading.


def _source_checkout_library() -> Optional[Path]:
    """``target/release/<lib>`` of the repository this file sits in, if there is one."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "Cargo.toml").is_file() and (parent / "include" / "promrw.h").is_file():
            candidate = parent / "target" / "release" / LIBRARY_FILE
            return candidate if candidate.is_file() else None
    return None


def find_library() -> Path:
    """The path of the shared library to load (see the module docstring for the order).

    Raises:
        ImportError: ``PROMRW_LIBRARY`` names a missing file, or no library was found.
    """
    override = os.environ.get(LIBRARY_ENV, "")
    if override:
        path = Path(override)
        if not path.is_file():
            raise ImportError(f"{LIBRARY_ENV}={override!r} does not name an existing file")
        return path
    bundled = Path(__file__).resolve().parent / "_native" / LIBRARY_FILE
    if bundled.is_file():
        return bundled
    checkout = _source_checkout_library()
    if checkout is not None:
        return checkout
    raise ImportError(
        f"promrw: {LIBRARY_FILE} was not found in {bundled.parent} (reinstall the package "
        f"with 'pip install ./bindings/python') and {LIBRARY_ENV} is not set"
    )


def check_version(found: str, expected: str = LIBRARY_VERSION, path: str = "") -> None:
    """Raises :class:`PromrwVersionError` unless ``found`` is exactly ``expected``.

    Before 1.0 the C ABI may change in any release, so only the exact version is accepted.
    """
    if found != expected:
        raise PromrwVersionError(found, expected, path)


def _declare(lib: ctypes.CDLL, path: Path) -> None:
    """Sets ``argtypes`` and ``restype`` of every function in :data:`SIGNATURES`."""
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise ImportError(
                f"{path} does not export {name}: not the promrw library this wrapper expects"
            ) from None
        function.restype = restype
        function.argtypes = argtypes


def load(path: Optional[Path] = None) -> ctypes.CDLL:
    """Loads the library, checks its version, declares its functions and returns it.

    Raises:
        ImportError: the library is missing, cannot be loaded or lacks a function.
        PromrwVersionError: the library's version is not the pinned one.
    """
    if path is None:
        path = find_library()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise ImportError(f"cannot load {path}: {e}") from e
    try:
        version_fn = lib.promrw_version
    except AttributeError:
        raise ImportError(f"{path} does not export promrw_version: not a promrw library") from None
    version_fn.restype = c_char_p
    version_fn.argtypes = []
    raw = version_fn()
    found = raw.decode("utf-8", "replace") if raw is not None else "<NULL>"
    check_version(found, LIBRARY_VERSION, str(path))
    _declare(lib, path)
    return lib


#: The loaded library (loaded when this module is imported).
LIBRARY_PATH: Path = find_library()
#: The ``ctypes.CDLL`` with every function declared.
lib: ctypes.CDLL = load(LIBRARY_PATH)


def status_name(code: int) -> str:
    """The library's short description of a status code (``promrw_status_str``)."""
    raw = lib.promrw_status_str(code)
    return raw.decode("utf-8", "replace") if raw else "unknown status"


def library_version() -> str:
    """``promrw_version()`` of the loaded library."""
    raw = lib.promrw_version()
    return raw.decode("utf-8", "replace") if raw else ""
