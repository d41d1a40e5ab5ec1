"""Samples appended through every method arrive at a ``promrw sink``; stats and metrics."""

from __future__ import annotations

import array
import json
import time

import promrw

from conftest import Sink, config

T0 = 1_700_000_000_000


def test_append_append_stale_and_many_arrive(sink: Sink) -> None:
    """append, append_stale and append_many deliver every sample; the sender and the sink
    agree on the count."""
    with promrw.Sender(config(sink.url)) as sender:
        a = sender.series({"__name__": "py_a", "job": "test"})
        b = sender.series({"__name__": "py_b", "job": "test"})
        for i in range(100):
            sender.append(a, float(i), T0 + i * 1000)
        sender.append_stale(a, T0 + 100_000)
        n = sender.append_many(
            b,
            array.array("d", [i * 0.5 for i in range(500)]),
            array.array("q", [T0 + i * 1000 for i in range(500)]),
        )
        assert n == 500
        sender.flush(timeout=20)
        stats = sender.stats()
        assert stats["samples_appended"] == 601
        assert stats["samples_acked"] == 601
        assert stats["samples_failed"] == 0
        assert stats["samples_pending"] == 0
        assert stats["series"] == 2
        assert stats["endpoints"] == 1
        assert stats["highest_sent_ms"] == T0 + 499_000
    assert sink.wait_for(601) == 601
    assert sink.series == 2
    sink.assert_clean()


def test_config_forms(sink: Sink) -> None:
    """YAML text, JSON text, UTF-8 bytes and a dict all configure a sender."""
    yaml_text = f"remote_write:\n  - url: {sink.url}\n    queue_config:\n      min_shards: 2\n"
    forms = [yaml_text, json.dumps(config(sink.url)), yaml_text.encode(), config(sink.url)]
    for i, form in enumerate(forms):
        with promrw.Sender(form) as sender:
            ref = sender.series({"__name__": "py_forms", "form": str(i)})
            sender.append(ref, 1.0, T0)
            sender.flush(10)
            assert sender.stats()["samples_acked"] == 1
    assert sink.wait_for(4) == 4
    sink.assert_clean()


def test_external_labels_and_several_shards(sink: Sink) -> None:
    """External labels and shards from the configuration are used."""
    cfg = config(sink.url, min_shards=3)
    cfg["external_labels"] = {"cluster": "py"}
    with promrw.Sender(cfg) as sender:
        refs = [sender.series({"__name__": "py_shards", "i": str(i)}) for i in range(30)]
        for ref in refs:
            sender.append(ref, 1.0, T0)
        sender.flush(10)
        stats = sender.stats()
        assert stats["shards"] == 3
        assert stats["samples_acked"] == 30
    assert sink.wait_for(30) == 30
    sink.assert_clean()


def test_series_references(sink: Sink) -> None:
    """Equal label sets give equal references; pairs work like a dict; empty values are
    ignored; released series are forgotten."""
    with promrw.Sender(config(sink.url)) as sender:
        a = sender.series({"__name__": "py_ref", "job": "x"})
        assert isinstance(a, int) and a != 0
        assert sender.series([("job", "x"), ("__name__", "py_ref")]) == a
        assert sender.series({"__name__": "py_ref", "job": "x", "empty": ""}) == a
        b = sender.series({"__name__": "py_ref", "job": "y"})
        assert b != a
        assert sender.stats()["series"] == 2
        sender.release_series(b)
        assert sender.stats()["series"] == 1
        try:
            sender.append(b, 1.0, T0)
        except promrw.UnknownSeriesError:
            pass
        else:
            raise AssertionError("append to a released series succeeded")


def test_timestamp_defaults_to_now(sink: Sink) -> None:
    """timestamp_ms=None stamps the sample with the current time in milliseconds."""
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_now"})
        before = time.time_ns() // 1_000_000
        sender.append(ref, 1.0)
        # The marker needs a later timestamp: wait for the clock to pass the sample's.
        stamped = time.time_ns() // 1_000_000
        deadline = time.monotonic() + 5
        while time.time_ns() // 1_000_000 <= stamped:
            assert time.monotonic() < deadline, "the clock did not advance"
        sender.append_stale(ref)
        after = time.time_ns() // 1_000_000
        sender.flush(10)
        stats = sender.stats()
        assert before <= stats["highest_sent_ms"] <= after
        assert stats["samples_acked"] == 2
    assert sink.wait_for(2) == 2


def test_special_values(sink: Sink) -> None:
    """NaN, infinities and huge values are appended like any other float; ints are floats."""
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_special"})
        for i, v in enumerate([float("nan"), float("inf"), -float("inf"), 1e308, 7]):
            sender.append(ref, v, T0 + i)
        sender.flush(10)
        assert sender.stats()["samples_acked"] == 5
    assert sink.wait_for(5) == 5
    sink.assert_clean()


def test_stats_keys_are_the_struct_fields(sink: Sink) -> None:
    """stats() returns every promrw_stats field but struct_size, as ints."""
    with promrw.Sender(config(sink.url)) as sender:
        stats = sender.stats()
    fields = [name for name, _ in promrw._lib.promrw_stats._fields_]
    assert fields[0] == "struct_size"
    fields = fields[1:]
    assert list(stats) == fields
    assert all(isinstance(v, int) for v in stats.values())


def test_metrics_text(sink: Sink) -> None:
    """metrics_text() returns the text exposition with Prometheus' metric names."""
    with promrw.Sender(config(sink.url)) as sender:
        ref = sender.series({"__name__": "py_metrics"})
        sender.append(ref, 1.0, T0)
        sender.flush(10)
        text = sender.metrics_text()
    assert isinstance(text, str) and text.endswith("\n")
    assert "# TYPE" in text
    assert "promrw_samples_appended_total 1" in text
    assert "prometheus_remote_storage_samples_total" in text
    assert "\x00" not in text


def test_metrics_text_grows(sink: Sink) -> None:
    """metrics_text() copes with text that is large (many series and endpoints)."""
    cfg = {"remote_write": [{"url": sink.url, "name": f"endpoint-{i}"} for i in range(20)]}
    with promrw.Sender(cfg) as sender:
        text = sender.metrics_text()
        assert text.count("endpoint-19") >= 1
        assert len(text) > 4096
