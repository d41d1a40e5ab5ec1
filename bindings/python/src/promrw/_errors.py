"""Exceptions: one class per ``promrw_status`` code, all subclasses of :class:`PromrwError`."""

from __future__ import annotations

import builtins
from typing import Any, Dict, Optional, Type

from . import _constants as c

__all__ = [
    "PromrwError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidLabelsError",
    "UnknownSeriesError",
    "BufferTooSmallError",
    "OutOfOrderError",
    "QueueFullError",
    "ClosedError",
    "DeadlineExceededError",
    "ShardDeadError",
    "IoError",
    "SamplesLostError",
    "ForkedError",
    "PanicError",
    "PromrwVersionError",
    "error_class",
    "make_error",
]


class PromrwError(Exception):
    """An error reported by the promrw library.

    Attributes:
        code: the ``promrw_status`` code (for example 201 for ``PROMRW_QUEUE_FULL``).
        name: the library's short name of the code (``promrw_status_str``), e.g. ``"queue full"``.
        message: the library's message (or the name when the library gave no message).
        accepted: for :meth:`promrw.Sender.append_many`, how many samples of the call were
            accepted before the refused one (so ``samples[accepted]`` was refused); ``None``
            for other calls.
        report: for :meth:`promrw.Sender.flush` and :meth:`promrw.Sender.close` raising
            :class:`SamplesLostError` or :class:`DeadlineExceededError`, the call's report
            (:meth:`promrw.Sender.last_report`); ``None`` otherwise.
    """

    #: The status code this class stands for (``None`` for the base class).
    status: Optional[int] = None

    def __init__(
        self,
        code: int,
        message: str,
        name: str = "",
        accepted: Optional[int] = None,
        report: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Creates the error; normally done by the wrapper, not by users."""
        Exception.__init__(self, code, message)
        self.code = int(code)
        self.message = message
        self.name = name
        self.accepted = accepted
        self.report = report

    def __str__(self) -> str:
        """``"<message> (promrw status <code>: <name>)"`` (the name only when not in the message)."""
        name = f": {self.name}" if self.name and self.name not in self.message else ""
        return f"{self.message} (promrw status {self.code}{name})"

    def __repr__(self) -> str:
        """The class name with code and message."""
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        """Pickles through the constructor (subclasses of OSError need this)."""
        return (type(self), (self.code, self.message, self.name, self.accepted, self.report))


class InvalidArgumentError(PromrwError, ValueError):
    """``PROMRW_INVALID_ARGUMENT``: an argument was malformed or out of range."""

    status = c.PROMRW_INVALID_ARGUMENT


class InvalidConfigError(PromrwError, ValueError):
    """``PROMRW_INVALID_CONFIG``: the configuration is invalid; the message names the field."""

    status = c.PROMRW_INVALID_CONFIG


class InvalidLabelsError(PromrwError, ValueError):
    """``PROMRW_INVALID_LABELS``: a label set broke the Remote Write label rules."""

    status = c.PROMRW_INVALID_LABELS


class UnknownSeriesError(PromrwError, LookupError):
    """``PROMRW_UNKNOWN_SERIES``: the series reference is unknown or was released."""

    status = c.PROMRW_UNKNOWN_SERIES


class BufferTooSmallError(PromrwError):
    """``PROMRW_BUFFER_TOO_SMALL``: a buffer was too small (the wrapper retries; not raised)."""

    status = c.PROMRW_BUFFER_TOO_SMALL


class OutOfOrderError(PromrwError):
    """``PROMRW_OUT_OF_ORDER``: the timestamp is not after the series' last accepted one."""

    status = c.PROMRW_OUT_OF_ORDER


class QueueFullError(PromrwError):
    """``PROMRW_QUEUE_FULL``: the queue is full and the overflow policy refused the sample.

    The sample was not accepted and may be appended again.
    """

    status = c.PROMRW_QUEUE_FULL


class ClosedError(PromrwError):
    """``PROMRW_CLOSED``: the sender was closed."""

    status = c.PROMRW_CLOSED


class DeadlineExceededError(PromrwError, builtins.TimeoutError):
    """``PROMRW_TIMEOUT``: a deadline passed first (also a built-in :class:`TimeoutError`).

    Raised by :meth:`promrw.Sender.flush` and :meth:`promrw.Sender.close`, it carries their
    report in ``.report`` (``samples_pending > 0`` and ``timed_out`` true). Raised by
    :meth:`promrw.Sender.sync`, which makes no report, ``.report`` is ``None``.
    """

    status = c.PROMRW_TIMEOUT


class ShardDeadError(PromrwError):
    """``PROMRW_SHARD_DEAD``: a shard thread died; its samples can no longer be sent."""

    status = c.PROMRW_SHARD_DEAD


class IoError(PromrwError):
    """``PROMRW_IO``: an I/O or system call failed (e.g. a thread could not be started)."""

    status = c.PROMRW_IO


class SamplesLostError(PromrwError):
    """``PROMRW_SAMPLES_LOST``: some samples accepted before a flush or close were rejected by a
    receiver or dropped since the previous flush or close returned.

    Raised by :meth:`promrw.Sender.flush` and :meth:`promrw.Sender.close`; ``.report`` (the
    dict of :meth:`promrw.Sender.last_report`) says how many and why, and the message is the
    report's text.
    """

    status = c.PROMRW_SAMPLES_LOST


class ForkedError(PromrwError):
    """``PROMRW_FORKED``: the sender was created in another process: this is a child made by
    ``fork()``, where the sender's threads do not run. Only ``promrw_sender_free`` may still be
    called on it (it frees memory without waiting for threads); create senders after forking.

    In the child every method of a :class:`promrw.Sender` made before the fork raises this
    error without calling into the library (:meth:`promrw.Sender.close` too), and the
    sender's memory is freed with ``promrw_sender_free`` when the object is garbage-collected.
    """

    status = c.PROMRW_FORKED


class PanicError(PromrwError):
    """``PROMRW_PANIC``: a panic inside the library was caught. This is a bug in promrw."""

    status = c.PROMRW_PANIC


class PromrwVersionError(ImportError):
    """The loaded ``libpromrw`` is not the version this wrapper was written for.

    Attributes:
        found: the version the library reports (``promrw_version()``).
        expected: the version the wrapper pins.
        path: the library file that was loaded.
    """

    def __init__(self, found: str, expected: str, path: str = "") -> None:
        """Creates the error with both versions."""
        where = f" ({path})" if path else ""
        super().__init__(
            f"libpromrw{where} is version {found}, but this promrw Python package "
            f"was written for version {expected}; install the matching package or point "
            "PROMRW_LIBRARY at the matching library"
        )
        self.found = found
        self.expected = expected
        self.path = path


_CLASSES: Dict[int, Type[PromrwError]] = {
    cls.status: cls
    for cls in (
        InvalidArgumentError,
        InvalidConfigError,
        InvalidLabelsError,
        UnknownSeriesError,
        BufferTooSmallError,
        OutOfOrderError,
        QueueFullError,
        ClosedError,
        DeadlineExceededError,
        ShardDeadError,
        IoError,
        SamplesLostError,
        ForkedError,
        PanicError,
    )
    if cls.status is not None
}


def error_class(code: int) -> Type[PromrwError]:
    """The exception class for a status code (:class:`PromrwError` for unknown codes)."""
    return _CLASSES.get(code, PromrwError)


def make_error(
    code: int,
    message: str,
    name: str = "",
    accepted: Optional[int] = None,
    report: Optional[Dict[str, Any]] = None,
) -> PromrwError:
    """An exception instance of the class for ``code``."""
    return error_class(code)(code, message, name, accepted, report)
