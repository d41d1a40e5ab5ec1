"""Native histograms, exemplars, start timestamps and metadata through the binding: argument
checks (the library's messages, the binding's exception classes), the v5 stats fields, drops
by endpoints not configured for them, and delivery to a Remote Write 2.0 sink."""

from __future__ import annotations

import struct
import time
from typing import Any, Dict

import pytest

import promrw
from promrw import _constants as c

from conftest import Sink, config


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


#: A valid integer histogram: 1 + 2 + 1 in the positive buckets, 1 in the zero bucket.
INT_HISTOGRAM: Dict[str, Any] = {
    "schema": 0,
    "zero_threshold": 0.001,
    "sum": 10.5,
    "count": 5,
    "zero_count": 1,
    "positive_spans": [(0, 2), (1, 1)],
    "positive_deltas": [1, 1, -1],
    "reset_hint": "no",
}

#: A valid float histogram.
FLOAT_HISTOGRAM: Dict[str, Any] = {
    "schema": 3,
    "sum": 3.75,
    "count": 7.0,
    "zero_count": 0.5,
    "positive_spans": [(-1, 2)],
    "positive_counts": [2.0, 4.5],
    "reset_hint": c.PROMRW_RESET_HINT_GAUGE,
}


@pytest.fixture
def sender(sink: Sink) -> Any:
    """A sender to the sink (Remote Write 1.0, no histograms nor exemplars configured)."""
    with promrw.Sender(config(sink.url, batch_send_deadline="50ms")) as s:
        yield s


def test_histogram_validation_errors_carry_the_library_message(sender: promrw.Sender) -> None:
    """Malformed histograms raise InvalidArgumentError with the field or rule named."""
    r = sender.series({"__name__": "py_hist"})
    t = now_ms()
    cases = [
        ({"positive_spans": [(0, 2)], "positive_deltas": [1], "count": 1}, "histogram: "),
        ({"schema": 9}, "histogram: "),
        ({**INT_HISTOGRAM, "count": 9}, "histogram: "),
        ({"positive_deltas": [1], "positive_counts": [1.0]}, "histogram.positive_deltas"),
        ({"reset_hint": 7}, "histogram.reset_hint is 7"),
        ({"reset_hint": "maybe"}, "histogram.reset_hint"),
        ({"count": -1}, "histogram.count"),
        ({"buckets": []}, "unknown keys"),
    ]
    for histogram, needle in cases:
        with pytest.raises(promrw.InvalidArgumentError) as info:
            sender.append_histogram(r, histogram, t)
        assert needle in info.value.message, (histogram, info.value.message)
        assert info.value.code == c.PROMRW_INVALID_ARGUMENT
    with pytest.raises(promrw.InvalidArgumentError, match="start timestamp"):
        sender.append_histogram(r, INT_HISTOGRAM, t, start_timestamp_ms=t + 1)
    with pytest.raises(TypeError):
        sender.append_histogram(r, [1, 2], t)  # type: ignore[arg-type]
    with pytest.raises(promrw.UnknownSeriesError):
        sender.append_histogram(r + 1000, INT_HISTOGRAM, t)
    assert sender.stats()["samples_appended"] == 0


def test_exemplar_and_start_timestamp_errors(sender: promrw.Sender) -> None:
    """Exemplars over 128 runes are refused as labels; a bad start timestamp as an argument."""
    r = sender.series({"__name__": "py_counter_total"})
    t = now_ms()
    too_long = {"labels": {"trace_id": "é" * 121}, "value": 1.0}
    with pytest.raises(promrw.InvalidLabelsError, match="128"):
        sender.append(r, 1.0, t, exemplar=too_long)
    with pytest.raises(promrw.InvalidLabelsError, match="128"):
        sender.append_histogram(r, INT_HISTOGRAM, t, exemplar=promrw.Exemplar({"trace_id": "é" * 121}, 1.0))
    with pytest.raises(promrw.InvalidLabelsError):
        sender.append(r, 1.0, t, exemplar={"labels": {"0bad": "x"}, "value": 1.0})
    with pytest.raises(promrw.InvalidArgumentError, match="start timestamp"):
        sender.append(r, 1.0, t, start_timestamp_ms=t + 1)
    with pytest.raises(promrw.InvalidArgumentError, match="unknown keys"):
        sender.append(r, 1.0, t, exemplar={"labels": {}, "valu": 1.0})
    with pytest.raises(TypeError):
        sender.append(r, 1.0, t, exemplar=("trace_id", 1.0))
    assert sender.stats()["samples_appended"] == 0
    sender.append(r, 1.0, t, start_timestamp_ms=t - 1000)
    sender.append(r, 2.0, t + 1, exemplar=promrw.Exemplar({"trace_id": "abc"}, 2.0, t))
    assert sender.stats()["samples_appended"] == 2


def test_set_metadata_types_and_errors(sender: promrw.Sender) -> None:
    """Types by name or constant; an unknown type, series or a closed sender are refused."""
    r = sender.series({"__name__": "py_up"})
    sender.set_metadata(r, "gauge", "Whether it is up.", "")
    sender.set_metadata(r, promrw.PROMRW_METRIC_TYPE_COUNTER, help="h", unit="seconds")
    for name in promrw.METRIC_TYPES:
        sender.set_metadata(r, name)
    with pytest.raises(promrw.InvalidArgumentError, match="metric type 'countr'"):
        sender.set_metadata(r, "countr")
    with pytest.raises(promrw.InvalidArgumentError, match="metric_type is 8"):
        sender.set_metadata(r, 8)
    with pytest.raises(promrw.UnknownSeriesError):
        sender.set_metadata(r + 1000, "gauge")
    sender.close(timeout=5.0)
    with pytest.raises(promrw.ClosedError):
        sender.set_metadata(r, "gauge")
    with pytest.raises(promrw.ClosedError):
        sender.append_histogram(r, INT_HISTOGRAM)


def test_stats_has_the_fifth_version_fields(sender: promrw.Sender) -> None:
    """stats() carries the histogram, exemplar and metadata counters and the protocol."""
    stats = sender.stats()
    for key in (
        "histograms_total",
        "histograms_acked",
        "histograms_failed",
        "histograms_retried",
        "histograms_dropped",
        "exemplars_total",
        "exemplars_acked",
        "exemplars_failed",
        "exemplars_retried",
        "exemplars_dropped",
        "metadata_total",
        "metadata_failed",
        "metadata_retried",
        "metadata_bytes",
    ):
        assert stats[key] == 0, key
    assert stats["remote_write_protocol"] == 1


def test_unconfigured_endpoint_drops_histograms_and_exemplars_and_counts_them(
    sink: Sink, sender: promrw.Sender
) -> None:
    """A Remote Write 1.0 endpoint without send_native_histograms / send_exemplars drops
    them (counted) and still sends the sample an exemplar came with."""
    h = sender.series({"__name__": "py_latency_seconds"})
    r = sender.series({"__name__": "py_requests_total"})
    t = now_ms()
    sender.append_histogram(h, INT_HISTOGRAM, t)
    sender.append_histogram(h, FLOAT_HISTOGRAM, t + 1)
    sender.append(r, 1.0, t, exemplar={"labels": {"trace_id": "abc"}, "value": 1.0, "timestamp": t})
    sender.flush(timeout=10.0)
    assert sink.wait_for(1) == 1
    stats = sender.stats()
    assert stats["samples_acked"] == 1
    assert stats["histograms_dropped"] == 2
    assert stats["exemplars_dropped"] == 1
    assert stats["histograms_acked"] == stats["exemplars_acked"] == 0


def bits(value: float) -> str:
    """A float's bits as the sink prints them."""
    return struct.pack(">d", value).hex()


def test_histograms_exemplars_and_metadata_reach_a_remote_write_2_sink() -> None:
    """Delivered to a Remote Write 2.0 endpoint exactly: the sink's --print-samples lines
    (histograms, exemplars, series metadata, samples) and the sender's own counters."""
    sink = Sink(print_samples=True)
    try:
        cfg = config(sink.url, batch_send_deadline="50ms")
        cfg["remote_write"][0]["protobuf_message"] = "io.prometheus.write.v2.Request"
        cfg["remote_write"][0]["send_exemplars"] = True
        with promrw.Sender(cfg) as s:
            h = s.series({"__name__": "py_latency_seconds"})
            r = s.series({"__name__": "py_requests_total"})
            s.set_metadata(h, "histogram", "Latency.", "seconds")
            s.set_metadata(r, promrw.PROMRW_METRIC_TYPE_COUNTER, "Requests.")
            t = now_ms()
            ex = promrw.Exemplar({"trace_id": "4bf92f3577b34da6"}, 0.25, t - 3)
            s.append_histogram(h, INT_HISTOGRAM, t, start_timestamp_ms=t - 60_000, exemplar=ex)
            s.append_histogram(h, FLOAT_HISTOGRAM, t + 1)
            s.append(r, 41.0, t, start_timestamp_ms=t - 60_000,
                     exemplar={"labels": {"trace_id": "a"}, "value": 1.0})
            s.flush(timeout=10.0)
            stats = s.stats()
            assert stats["remote_write_protocol"] == 2
            assert stats["samples_acked"] == 1
            assert stats["histograms_acked"] == 2
            assert stats["exemplars_acked"] == 2
            assert stats["histograms_failed"] == stats["histograms_dropped"] == 0
            assert stats["exemplars_dropped"] == 0
        assert sink.wait_for(1) == 1
        hist = '{__name__="py_latency_seconds"}'
        counter = '{__name__="py_requests_total"}'
        assert sink.histograms == [
            (hist, t, {
                "schema": 0, "zero_threshold_bits": bits(0.001), "sum_bits": bits(10.5),
                "count_int": 5, "zero_count_int": 1,
                "positive_spans": [[0, 2], [1, 1]], "negative_spans": [],
                "positive_deltas": [1, 1, -1], "negative_deltas": [],
                "positive_counts_bits": [], "negative_counts_bits": [],
                "reset_hint": 2, "custom_values_bits": [], "start_timestamp": t - 60_000,
            }),
            (hist, t + 1, {
                "schema": 3, "zero_threshold_bits": bits(0.0), "sum_bits": bits(3.75),
                "count_float_bits": bits(7.0), "zero_count_float_bits": bits(0.5),
                "positive_spans": [[-1, 2]], "negative_spans": [],
                "positive_deltas": [], "negative_deltas": [],
                "positive_counts_bits": [bits(2.0), bits(4.5)], "negative_counts_bits": [],
                "reset_hint": 3, "custom_values_bits": [], "start_timestamp": 0,
            }),
        ]
        assert sorted(sink.exemplars) == sorted([
            (hist, '{trace_id="4bf92f3577b34da6"}', t - 3, int(bits(0.25), 16)),
            (counter, '{trace_id="a"}', t, int(bits(1.0), 16)),
        ])
        assert set(sink.metadata) == {
            (hist, 3, "Latency.", "seconds"),
            (counter, 1, "Requests.", ""),
        }
        assert sink.samples == [(counter, t, int(bits(41.0), 16))]
        sink.assert_clean()
    finally:
        sink.stop()


@pytest.mark.parametrize("protocol", ["1.0-415", "1.0-ignore"])
def test_a_2_0_sender_falls_back_to_1_0_against_a_1_0_only_sink(protocol: str) -> None:
    """Against ``promrw sink --protocol 1.0-415`` (415 to 2.0) and ``1.0-ignore`` (a 2xx
    without the Written headers), a sender configured for 2.0 falls back to 1.0 and delivers
    everything once: histograms, exemplars and samples as 1.0 (which has no start
    timestamps), metadata in 1.0 metadata requests."""
    sink = Sink(print_samples=True, protocol=protocol)
    try:
        cfg = config(sink.url, batch_send_deadline="50ms")
        cfg["remote_write"][0]["protobuf_message"] = "io.prometheus.write.v2.Request"
        cfg["remote_write"][0]["send_exemplars"] = True
        cfg["remote_write"][0]["metadata_config"] = {"send_interval": "100ms"}
        with promrw.Sender(cfg) as s:
            h = s.series({"__name__": "py_fallback_seconds"})
            r = s.series({"__name__": "py_fallback_total"})
            s.set_metadata(h, "histogram", "Latency.", "seconds")
            t = now_ms()
            ex = promrw.Exemplar({"trace_id": "f1"}, 0.25, t - 3)
            s.append_histogram(h, INT_HISTOGRAM, t, start_timestamp_ms=t - 60_000, exemplar=ex)
            s.append_histogram(h, FLOAT_HISTOGRAM, t + 1)
            s.append(r, 41.0, t, start_timestamp_ms=t - 60_000)
            s.flush(timeout=10.0)
            stats = s.stats()
            assert stats["remote_write_protocol"] == 1, stats
            assert stats["samples_acked"] == 1
            assert stats["histograms_acked"] == 2
            assert stats["exemplars_acked"] == 1
            assert stats["samples_failed"] == stats["histograms_failed"] == 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if any(m[0] == "py_fallback_seconds" for m in sink.metadata):
                    break
                time.sleep(0.05)
        assert sink.wait_for(1) == 1
        hist = '{__name__="py_fallback_seconds"}'
        assert [(labels, ts, body["sum_bits"], body["start_timestamp"])
                for labels, ts, body in sink.histograms] == [
            (hist, t, bits(10.5), 0),
            (hist, t + 1, bits(3.75), 0),
        ]
        assert sink.exemplars == [(hist, '{trace_id="f1"}', t - 3, int(bits(0.25), 16))]
        assert ("py_fallback_seconds", 3, "Latency.", "seconds") in sink.metadata
        assert sink.samples == [('{__name__="py_fallback_total"}', t, int(bits(41.0), 16))]
        snap = sink.snapshot()
        assert snap["duplicates"] == snap["out_of_order"] == 0, snap
    finally:
        sink.stop()
