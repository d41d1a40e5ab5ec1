"""append_many: buffers without copying, sequences converted, shapes checked, partial
acceptance reported."""

from __future__ import annotations

import array
import ctypes
import inspect
import time
from typing import Any, Iterator

import pytest

import promrw
from promrw import _columns

from conftest import Sink, config, run_python

T0 = 1_700_000_000_000


@pytest.fixture
def sender(sink: Sink) -> Iterator[promrw.Sender]:
    """An open sender to the test's sink."""
    with promrw.Sender(config(sink.url)) as s:
        yield s


def address_of(obj: Any) -> int:
    """The address of a writable buffer's first byte."""
    return ctypes.addressof(ctypes.c_char.from_buffer(obj))


# ---- columns: zero copy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typecode, ctype, column_code",
    [("Q", ctypes.c_uint64, "Q"), ("q", ctypes.c_uint64, "Q"), ("q", ctypes.c_int64, "q"),
     ("d", ctypes.c_double, "d")],
)
def test_array_array_is_passed_by_address(typecode: str, ctype: Any, column_code: str) -> None:
    """An array.array of 8-byte items is passed by its own address, not copied."""
    data = array.array(typecode, [1, 2, 3])
    col = _columns.column(data, "x", column_code, ctype)
    try:
        assert col.length == 3
        assert ctypes.addressof(col.pointer) == data.buffer_info()[0]
        with pytest.raises(BufferError):
            data.append(4)  # locked while the column is in use
    finally:
        col.release()
    data.append(4)  # released afterwards


def test_read_only_buffer_is_passed_by_address() -> None:
    """A read-only memoryview is passed by address too."""
    backing = bytearray(array.array("d", [1.5, 2.5, 3.5]).tobytes())
    view = memoryview(backing).cast("d").toreadonly()
    col = _columns.column(view, "values", "d", ctypes.c_double)
    try:
        assert ctypes.addressof(col.pointer) == address_of(backing)
        assert [col.pointer.__class__.from_address(ctypes.addressof(col.pointer) + 8 * i).value
                for i in range(3)] == [1.5, 2.5, 3.5]
    finally:
        col.release()


def test_bytes_backed_memoryview_is_passed_by_address() -> None:
    """A memoryview over immutable bytes (cast to 'q') needs no copy either."""
    raw = array.array("q", [T0, T0 + 1]).tobytes()
    view = memoryview(raw).cast("q")
    col = _columns.column(view, "timestamps", "q", ctypes.c_int64)
    try:
        assert col.length == 2
        assert col.pointer.value == T0
        assert col._keep is view  # the caller's object, not a converted copy
    finally:
        col.release()


def test_sequences_are_converted() -> None:
    """Lists, tuples, ranges and generators become arrays of the column's type."""
    for data in ([1, 2, 3], (1, 2, 3), range(1, 4), (x for x in (1, 2, 3))):
        col = _columns.column(data, "timestamps", "q", ctypes.c_int64)
        try:
            assert col.length == 3
            assert isinstance(col._keep, array.array) and list(col._keep) == [1, 2, 3]
        finally:
            col.release()


def test_other_item_types_are_converted() -> None:
    """Buffers of other numeric types, or non-contiguous ones, are converted by value."""
    cases = [
        (array.array("i", [1, 2, 3]), "q", [1, 2, 3]),
        (array.array("f", [0.5, 1.5]), "d", [0.5, 1.5]),
        (array.array("q", [1, 2]), "d", [1.0, 2.0]),
        (memoryview(array.array("q", [1, 2, 3, 4, 5])).cast("B").cast("q")[::2], "q", [1, 3, 5]),
    ]
    for data, code, expected in cases:
        ctype = ctypes.c_double if code == "d" else ctypes.c_int64
        col = _columns.column(data, "x", code, ctype)
        try:
            assert list(col._keep) == expected
        finally:
            col.release()


# ---- append_many against a sink --------------------------------------------------------------


def test_one_series_many_samples(sink: Sink) -> None:
    """An int series applies to every sample; array.array inputs deliver."""
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_many"})
        ts = array.array("q", range(T0, T0 + 3000, 1))
        vs = array.array("d", [float(i) for i in range(3000)])
        assert sender.append_many(ref, vs, ts) == 3000
        sender.flush(10)
        assert sender.stats()["samples_acked"] == 3000
    assert sink.wait_for(3000) == 3000
    sink.assert_clean()


def test_series_per_sample_and_mixed_inputs(sink: Sink) -> None:
    """A reference per sample, as array.array('Q'), list, memoryview or a 1-item sequence."""
    with promrw.Sender(config(sink.url)) as sender:
        refs = [sender.series({"__name__": "py_cols", "i": str(i)}) for i in range(10)]
        # round 1: array.array everywhere
        sender.append_many(array.array("Q", refs), array.array("d", range(10)),
                           array.array("q", [T0] * 10))
        # round 2: lists
        sender.append_many(refs, list(range(10)), [T0 + 1000] * 10)
        # round 3: memoryviews (read-only)
        sender.append_many(
            memoryview(array.array("Q", refs)).toreadonly(),
            memoryview(array.array("d", range(10))).toreadonly(),
            memoryview(array.array("q", [T0 + 2000] * 10)).toreadonly(),
        )
        # round 4: one series given as a 1-item sequence, several samples
        sender.append_many([refs[0]], [1.0, 2.0], [T0 + 3000, T0 + 4000])
        sender.flush(10)
        assert sender.stats()["samples_acked"] == 32
    assert sink.wait_for(32) == 32
    assert sink.series == 10
    sink.assert_clean()


def test_append_methods_share_order_and_names() -> None:
    """append, append_stale and append_many take (series, value(s), timestamp(s)) under the
    same names, the timestamp last and optional."""
    def params(method: Any) -> list:
        return [(p.name, p.default) for p in inspect.signature(method).parameters.values()
                if p.kind is not inspect.Parameter.KEYWORD_ONLY][1:]

    empty = inspect.Parameter.empty
    assert params(promrw.Sender.append) == [
        ("series", empty), ("value", empty), ("timestamp_ms", None)]
    # append's keyword-only extras (start timestamp, exemplar) are shared with
    # append_histogram, which takes (series, histogram, timestamp_ms) like append.
    keyword_only = [(p.name, p.default) for p in
                    inspect.signature(promrw.Sender.append).parameters.values()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keyword_only == [("start_timestamp_ms", 0), ("exemplar", None)]
    assert params(promrw.Sender.append_histogram) == [
        ("series", empty), ("histogram", empty), ("timestamp_ms", None)]
    assert params(promrw.Sender.append_stale) == [("series", empty), ("timestamp_ms", None)]
    assert params(promrw.Sender.append_many) == [
        ("series", empty), ("values", empty), ("timestamps_ms", None)]


def test_keyword_arguments(sink: Sink) -> None:
    """Every append method takes its arguments by keyword, in any order."""
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_keywords"})
        sender.append(timestamp_ms=T0, value=1.0, series=ref)
        assert sender.append_many(timestamps_ms=[T0 + 1, T0 + 2], values=[2.0, 3.0],
                                  series=ref) == 2
        sender.append_stale(timestamp_ms=T0 + 3, series=ref)
        sender.flush(10)
        stats = sender.stats()
        assert stats["samples_acked"] == 4 and stats["highest_sent_ms"] == T0 + 3
    assert sink.wait_for(4) == 4
    sink.assert_clean()


def test_values_then_timestamps(sender: promrw.Sender) -> None:
    """The second column is the values, the third the timestamps: float timestamps (as the
    old (series, timestamps, values) order would give) are refused before anything is sent."""
    ref = sender.series({"__name__": "py_order"})
    assert sender.append_many(ref, [0.5, 1.5], [T0, T0 + 1]) == 2
    stats = sender.stats()
    assert stats["highest_enqueued_ms"] == T0 + 1
    with pytest.raises(TypeError, match="timestamps_ms must hold"):
        sender.append_many(ref, [T0 + 2, T0 + 3], [0.5, 1.5])
    with pytest.raises(TypeError, match="timestamps_ms must hold"):
        sender.append_many(ref, array.array("q", [T0 + 2, T0 + 3]), array.array("d", [0.5, 1.5]))
    assert sender.stats()["samples_appended"] == 2


def test_timestamps_default_to_now(sender: promrw.Sender) -> None:
    """Without timestamps_ms every sample gets the current time (one per series)."""
    refs = [sender.series({"__name__": "py_now", "i": str(i)}) for i in range(5)]
    before = time.time_ns() // 1_000_000
    assert sender.append_many(refs, [1.0, 2.0, 3.0, 4.0, 5.0]) == 5
    after = time.time_ns() // 1_000_000
    stats = sender.stats()
    assert stats["samples_appended"] == 5
    assert before <= stats["highest_enqueued_ms"] <= after


def test_empty_input(sender: promrw.Sender) -> None:
    """Nothing to append is fine and returns 0."""
    ref = sender.series({"__name__": "py_empty"})
    assert sender.append_many(ref, [], []) == 0
    assert sender.append_many([], array.array("d"), array.array("q")) == 0
    assert sender.append_many(ref, []) == 0
    assert sender.stats()["samples_appended"] == 0


def test_partial_acceptance_out_of_order(sender: promrw.Sender) -> None:
    """A refused sample stops the call; err.accepted says how many went in before it."""
    ref = sender.series({"__name__": "py_partial"})
    with pytest.raises(promrw.OutOfOrderError) as info:
        sender.append_many(ref, [1, 2, 3, 4], [T0, T0 + 1, T0 + 1, T0 + 2])
    assert info.value.accepted == 2
    assert info.value.code == 200
    assert "sample 2 of 4" in str(info.value)
    stats = sender.stats()
    assert stats["samples_appended"] == 2
    assert stats["rejected_out_of_order"] == 1
    # the rest can be appended again
    assert sender.append_many(ref, [4.0], [T0 + 2]) == 1


def test_partial_acceptance_unknown_series(sender: promrw.Sender) -> None:
    """An unknown reference mid-batch raises UnknownSeriesError with accepted set."""
    ref = sender.series({"__name__": "py_partial_unknown"})
    with pytest.raises(promrw.UnknownSeriesError) as info:
        sender.append_many([ref, ref, 987654321], [1, 2, 3], [T0, T0 + 1, T0 + 2])
    assert info.value.accepted == 2


def test_buffers_released_after_errors(sender: promrw.Sender) -> None:
    """After a refused call the caller's arrays can be resized again (nothing keeps them)."""
    ref = sender.series({"__name__": "py_release"})
    ts = array.array("q", [T0, T0])
    vs = array.array("d", [1.0, 2.0])
    with pytest.raises(promrw.OutOfOrderError) as info:
        sender.append_many(ref, vs, ts)
    ts.append(T0 + 5)  # would raise BufferError if still exported
    vs.append(3.0)
    with pytest.raises(ValueError):
        sender.append_many(ref, array.array("d", [1.0]), ts)
    ts.append(T0 + 6)
    del info


@pytest.mark.parametrize(
    "series, values, timestamps_ms, exc, text",
    [
        (1, [1.0], [T0, T0 + 1], ValueError, "differ in length"),
        ([1, 1, 1], [1.0, 2.0], [T0, T0 + 1], ValueError, "one per sample"),
        (1, [1.0, 2.0, 3.0], "abc", TypeError, "timestamps_ms"),
        (1, b"\x00" * 8, [T0], TypeError, "values"),
        (1, [1.0], [T0 + 0.5], TypeError, "timestamps_ms must hold"),
        (1, ["x"], [T0], TypeError, "values must hold"),
        ([-1], [1.0], [T0], ValueError, "out of range"),
        (1, [1.0], [2**63], ValueError, "out of range"),
        (2**64, [1.0], [T0], ValueError, "out of range"),
        (1, [1.0], 5, TypeError, "timestamps_ms"),
        (1.5, [1.0], [T0], TypeError, "series"),
        (1, [1.0, 2.0], memoryview(array.array("q", [1, 2, 3, 4])).cast("B").cast("q", (2, 2)),
         ValueError, "one-dimensional"),
    ],
)
def test_bad_shapes(sender: promrw.Sender, series: Any, values: Any, timestamps_ms: Any,
                    exc: type, text: str) -> None:
    """Wrong lengths, kinds and dimensions raise TypeError/ValueError with a clear message."""
    with pytest.raises(exc) as info:
        sender.append_many(series, values, timestamps_ms)
    assert text in str(info.value)
    assert sender.stats()["samples_appended"] == 0


def test_numpy_arrays(sink: Sink) -> None:
    """numpy arrays of uint64/int64/float64 pass without copying; other dtypes convert."""
    np = pytest.importorskip("numpy")
    refs_list = []
    with promrw.Sender(config(sink.url)) as sender:
        refs_list = [sender.series({"__name__": "py_numpy", "i": str(i)}) for i in range(100)]
        refs = np.array(refs_list, dtype=np.uint64)
        ts = np.full(100, T0, dtype=np.int64)
        vs = np.arange(100, dtype=np.float64)
        for name, arr, code, ctype in (("series", refs, "Q", ctypes.c_uint64),
                                       ("values", vs, "d", ctypes.c_double),
                                       ("timestamps_ms", ts, "q", ctypes.c_int64)):
            col = _columns.column(arr, name, code, ctype)
            try:
                assert ctypes.addressof(col.pointer) == arr.__array_interface__["data"][0]
            finally:
                col.release()
        assert sender.append_many(refs, vs, ts) == 100
        # read-only arrays, and other dtypes (converted)
        ts2 = ts + 1000
        ts2.flags.writeable = False
        assert sender.append_many(refs, vs.astype(np.float32), ts2) == 100
        assert sender.append_many(refs.astype(np.int64), np.ones(100, dtype=np.int16),
                                  (ts + 2000).astype(np.uint64)) == 100
        # a strided view converts
        wide = np.zeros(200, dtype=np.float64)
        assert sender.append_many(refs, wide[::2], ts + 3000) == 100
        with pytest.raises(ValueError, match="one-dimensional"):
            sender.append_many(refs[0:1], vs, ts.reshape(10, 10))
        sender.flush(10)
        assert sender.stats()["samples_acked"] == 400
    assert sink.wait_for(400) == 400
    sink.assert_clean()


def test_numpy_is_not_required(sink: Sink) -> None:
    """The package imports and appends columns with numpy made unimportable."""
    code = f"""
import sys, array
sys.modules["numpy"] = None
import promrw
with promrw.Sender({{"remote_write": [{{"url": "{sink.url}"}}]}}) as s:
    ref = s.series({{"__name__": "py_no_numpy"}})
    s.append_many(ref, array.array("d", [1, 2]), array.array("q", [{T0}, {T0 + 1}]))
    s.flush(10)
    print(s.stats()["samples_acked"])
assert "numpy" not in [m for m in sys.modules if sys.modules[m] is not None]
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
