"""Columns for ``append_many``: buffers passed to C without copying, sequences converted.

A column is one of the three arrays of ``promrw_sender_append_columns`` (series refs as
``uint64``, timestamps as ``int64`` milliseconds, values as ``float64``). An object that
exports a one-dimensional, C-contiguous buffer of 8-byte items of the right kind
(``array.array('Q'|'q'|'d')``, a ``memoryview``, a numpy array of ``uint64``/``int64``/
``float64``, ...) is passed by address; anything else is converted into an ``array.array``.

While a column is in use it holds a ``memoryview`` of the caller's object, so the object
cannot be resized (``array.append`` raises ``BufferError``) while the C call runs without the
GIL. :meth:`Column.release` gives it back.
"""

from __future__ import annotations

import ctypes
import sys
from array import array
from ctypes import POINTER, c_char_p, c_int, c_ssize_t, c_void_p
from typing import Any, Optional

# Format characters (``struct`` syntax) of the integer and float item types.
_INT_FORMATS = frozenset("bBhHiIlLqQnN")
_FLOAT_FORMATS = frozenset("efd")
# Byte-order prefixes meaning native layout on this machine.
_NATIVE_PREFIXES = "@=<" if sys.byteorder == "little" else "@=>!"


class _Py_buffer(ctypes.Structure):
    """CPython's ``Py_buffer`` (part of the stable ABI since 3.11, unchanged since 3.3)."""

    _fields_ = [
        ("buf", c_void_p),
        ("obj", c_void_p),
        ("len", c_ssize_t),
        ("itemsize", c_ssize_t),
        ("readonly", c_int),
        ("ndim", c_int),
        ("format", c_char_p),
        ("shape", POINTER(c_ssize_t)),
        ("strides", POINTER(c_ssize_t)),
        ("suboffsets", POINTER(c_ssize_t)),
        ("internal", c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, POINTER(_Py_buffer), c_int]
_get_buffer.restype = c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [POINTER(_Py_buffer)]
_release_buffer.restype = None


def _buffer_address(view: memoryview) -> int:
    """The address of the first byte of a (contiguous) buffer, read-only ones included.

    ``ctypes`` can only take the address of writable buffers (``from_buffer``), so this asks
    CPython's buffer protocol directly. The address stays valid while ``view`` is not
    released: ``view`` holds the exporter's buffer.
    """
    raw = _Py_buffer()
    _get_buffer(view, ctypes.byref(raw), 0)  # PyBUF_SIMPLE; raises on failure (pythonapi)
    try:
        return raw.buf or 0
    finally:
        _release_buffer(ctypes.byref(raw))


def _native_format(fmt: str) -> str:
    """The format without a prefix meaning native layout ('' when the layout is foreign)."""
    if len(fmt) == 2 and fmt[0] in _NATIVE_PREFIXES:
        return fmt[1]
    return fmt


class Column:
    """One argument array of ``promrw_sender_append_columns``.

    Attributes:
        pointer: a ctypes object to pass for the ``const T *`` parameter (``None`` when empty).
        length: the number of items.
    """

    __slots__ = ("pointer", "length", "_view", "_keep")

    def __init__(self, pointer: Any, length: int, view: Optional[memoryview], keep: Any) -> None:
        """Wraps an address (as a ctypes object), a length and what keeps them valid."""
        self.pointer = pointer
        self.length = length
        self._view = view
        self._keep = keep

    def release(self) -> None:
        """Releases the caller's buffer (it may be resized again)."""
        view = self._view
        if view is not None:
            self._view = None
            view.release()
        self._keep = None


def column(obj: Any, name: str, typecode: str, ctype: Any) -> Column:
    """A :class:`Column` of ``ctype`` items for ``obj``.

    Args:
        obj: a buffer (passed without copying when its items are 8-byte ``typecode``-like
            numbers in one contiguous dimension) or any iterable of numbers (copied).
        name: the argument's name, for error messages.
        typecode: the ``array`` type code items convert to: ``"Q"``, ``"q"`` or ``"d"``.
        ctype: the ctypes item type (``c_uint64``, ``c_int64`` or ``c_double``).

    Raises:
        TypeError: ``obj`` is not iterable, a str, or holds items of the wrong kind.
        ValueError: ``obj`` has more than one dimension or an item is out of range.
    """
    if type(obj) is array and obj.itemsize == 8 and (
        obj.typecode == typecode or (typecode != "d" and obj.typecode in "qQlL")
    ):
        # The common case, without a trip through the buffer protocol for the address.
        locked = memoryview(obj)  # held until release(): the array cannot be resized meanwhile
        n = len(obj)
        return Column(ctype.from_address(obj.buffer_info()[0]) if n else None, n, locked, obj)
    if isinstance(obj, (str, bytes, bytearray)):
        raise TypeError(
            f"{name} must be a sequence or buffer of numbers, not {type(obj).__name__}"
        )
    view: Optional[memoryview]
    try:
        view = memoryview(obj)
    except TypeError:
        view = None
    if view is not None:
        ok = False
        try:
            if view.ndim != 1:
                raise ValueError(
                    f"{name} must be one-dimensional, got a buffer with {view.ndim} dimensions"
                )
            fmt = _native_format(view.format)
            want = _FLOAT_FORMATS if typecode == "d" else _INT_FORMATS
            if view.itemsize == 8 and view.c_contiguous and fmt in want and (
                typecode != "d" or fmt == "d"
            ):
                n = len(view)
                pointer = ctype.from_address(_buffer_address(view)) if n else None
                ok = True
                return Column(pointer, n, view, obj)
            if fmt not in _INT_FORMATS and fmt not in _FLOAT_FORMATS and fmt != "?":
                raise TypeError(
                    f"{name}: a buffer of format {view.format!r} holds no numbers "
                    f"(expected {_expected(typecode)})"
                )
            items: Any = view.tolist()
        finally:
            if not ok:
                view.release()
    else:
        items = obj
    try:
        converted = array(typecode, items)
    except OverflowError as e:
        raise ValueError(f"{name}: an item is out of range for {_expected(typecode)}: {e}") from None
    except TypeError as e:
        raise TypeError(f"{name} must hold {_expected(typecode)}: {e}") from None
    n = len(converted)
    pointer = ctype.from_address(converted.buffer_info()[0]) if n else None
    return Column(pointer, n, None, converted)


def _expected(typecode: str) -> str:
    """What a column of ``typecode`` holds, for messages."""
    return {
        "Q": "series references (unsigned 64-bit integers)",
        "q": "timestamps in milliseconds (signed 64-bit integers)",
        "d": "values (floats)",
    }[typecode]
