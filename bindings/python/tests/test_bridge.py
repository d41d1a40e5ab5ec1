"""``promrw.bridge``: a real ``prometheus_client`` registry pushed through a sender to a
``promrw sink --print-samples`` and read back exactly (series, values, timestamps, exemplars,
metadata), staleness, the series cache, the background collector, and the ImportError when
``prometheus_client`` is missing.

``prometheus_client`` is required (``.ci/python.sh`` installs it): these tests fail, they do not
skip, without it."""

from __future__ import annotations

import logging
import struct
import sys
import time
from typing import Any, Dict, Iterator, List, Tuple

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary
from prometheus_client.core import GaugeMetricFamily

import promrw
from promrw import _constants as c
from promrw import bridge

from conftest import Sink, config, run_python

STALE = promrw.STALE_NAN_BITS


def bits(value: float) -> int:
    """An f64's IEEE-754 bits."""
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class RecordingSender(promrw.Sender):
    """A sender counting ``series`` calls and recording the keyword arguments of appends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.series_calls = 0
        self.appends: List[Tuple[int, float, Any, Dict[str, Any]]] = []

    def series(self, labels: Any) -> int:  # type: ignore[override]
        self.series_calls += 1
        return super().series(labels)

    def append(self, series: int, value: float, timestamp_ms: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        self.appends.append((series, value, timestamp_ms, kwargs))
        super().append(series, value, timestamp_ms, **kwargs)

    def append_many(self, series: Any, values: Any, timestamps_ms: Any = None) -> int:  # type: ignore[override]
        for ref, value, ts in zip(series, values, timestamps_ms):
            self.appends.append((ref, value, ts, {}))
        return super().append_many(series, values, timestamps_ms)


@pytest.fixture
def psink() -> Iterator[Sink]:
    """A sink printing every sample, exemplar and metadata line it stores."""
    s = Sink(print_samples=True)
    try:
        yield s
    finally:
        s.stop()


def v2_config(url: str) -> Dict[str, Any]:
    """Remote Write 2.0 with exemplars (series metadata and exemplars reach the sink)."""
    cfg = config(url, batch_send_deadline="50ms")
    cfg["remote_write"][0]["protobuf_message"] = "io.prometheus.write.v2.Request"
    cfg["remote_write"][0]["send_exemplars"] = True
    return cfg


def build_registry() -> Tuple[CollectorRegistry, Dict[str, Any]]:
    """A registry with one metric of each kind prometheus_client has."""
    r = CollectorRegistry()
    m: Dict[str, Any] = {}
    m["requests"] = Counter("app_requests", "Requests handled.", ["code"], registry=r)
    m["requests"].labels("200").inc(3, exemplar={"trace_id": "abc"})
    m["requests"].labels("500").inc()
    m["temp"] = Gauge("app_temperature", "Temperature.", unit="celsius", registry=r)
    m["temp"].set(21.5)
    m["latency"] = Histogram("app_latency_seconds", "Latency.", buckets=[0.1, 1.0], registry=r)
    m["latency"].observe(0.5, exemplar={"trace_id": "xyz"})
    m["latency"].observe(0.05)
    m["size"] = Summary("app_size_bytes", "Sizes.", registry=r)
    m["size"].observe(300)
    m["build"] = Info("app_build", "Build.", registry=r)
    m["build"].info({"version": "1.2.3"})
    m["state"] = Enum("app_state", "State.", states=["starting", "running"], registry=r)
    m["state"].state("running")
    return r, m


def test_push_registry_converts_every_kind(psink: Sink) -> None:
    """Every sample of the registry arrives once, with the collection's timestamp, the
    exemplars and each series' metadata; _created samples are no series of their own."""
    registry, _ = build_registry()
    t = now_ms()
    with RecordingSender(v2_config(psink.url)) as s:
        n = bridge.push_registry(s, registry, timestamp_ms=t)
        s.flush(timeout=10.0)
        assert s.stats()["exemplars_acked"] == 2
    expected = {
        '{__name__="app_requests_total",code="200"}': 3.0,
        '{__name__="app_requests_total",code="500"}': 1.0,
        '{__name__="app_temperature_celsius"}': 21.5,
        '{__name__="app_latency_seconds_bucket",le="0.1"}': 1.0,
        '{__name__="app_latency_seconds_bucket",le="1.0"}': 2.0,
        '{__name__="app_latency_seconds_bucket",le="+Inf"}': 2.0,
        '{__name__="app_latency_seconds_count"}': 2.0,
        '{__name__="app_latency_seconds_sum"}': 0.55,
        '{__name__="app_size_bytes_count"}': 1.0,
        '{__name__="app_size_bytes_sum"}': 300.0,
        '{__name__="app_build_info",version="1.2.3"}': 1.0,
        '{__name__="app_state",app_state="starting"}': 0.0,
        '{__name__="app_state",app_state="running"}': 1.0,
    }
    assert n == len(expected)
    assert psink.wait_for(len(expected)) == len(expected)
    assert sorted(psink.samples) == sorted((k, t, bits(v)) for k, v in expected.items())
    assert not any("_created" in labels for labels, _, _ in psink.samples)
    ex = sorted((labels, ex_labels, bits_) for labels, ex_labels, _, bits_ in psink.exemplars)
    assert ex == sorted([
        ('{__name__="app_requests_total",code="200"}', '{trace_id="abc"}', bits(3.0)),
        ('{__name__="app_latency_seconds_bucket",le="1.0"}', '{trace_id="xyz"}', bits(0.5)),
    ])
    types = {
        "app_requests_total": (c.PROMRW_METRIC_TYPE_COUNTER, "Requests handled.", ""),
        "app_temperature_celsius": (c.PROMRW_METRIC_TYPE_GAUGE, "Temperature.", "celsius"),
        "app_latency_seconds": (c.PROMRW_METRIC_TYPE_HISTOGRAM, "Latency.", ""),
        "app_size_bytes": (c.PROMRW_METRIC_TYPE_SUMMARY, "Sizes.", ""),
        "app_build_info": (c.PROMRW_METRIC_TYPE_INFO, "Build.", ""),
        "app_state": (c.PROMRW_METRIC_TYPE_STATESET, "State.", ""),
    }

    def family(labels: str) -> str:
        name = labels.split('"')[1]
        for base in types:
            if name == base or name.startswith(base + "_"):
                return base
        raise AssertionError(name)

    assert set(psink.metadata) == {(k, *types[family(k)]) for k in expected}
    psink.assert_clean()


def test_custom_collector_families(psink: Sink) -> None:
    """Gauge histograms, unknown (untyped) families and summaries with quantiles, from a
    custom collector, with their metadata types."""
    from prometheus_client.core import (
        GaugeHistogramMetricFamily,
        SummaryMetricFamily,
        UnknownMetricFamily,
    )

    class Custom:
        def collect(self) -> Iterator[Any]:
            gh = GaugeHistogramMetricFamily("app_inflight_bytes", "In flight.", unit="bytes")
            gh.add_metric([], buckets=[("10", 1.0), ("+Inf", 3.0)], gsum_value=42.0)
            yield gh
            yield UnknownMetricFamily("app_mystery", "Mystery.", value=9.0)
            sm = SummaryMetricFamily("app_rtt_seconds", "RTT.", labels=["peer"])
            sm.add_metric(["x"], count_value=4, sum_value=2.0)
            yield sm
            yield UnknownMetricFamily("app_empty", "A family without samples.")

    registry = CollectorRegistry()
    registry.register(Custom())
    t = now_ms()
    with promrw.Sender(v2_config(psink.url)) as s:
        n = bridge.push_registry(s, registry, timestamp_ms=t)
        s.flush(timeout=10.0)
    expected = {
        '{__name__="app_inflight_bytes_bucket",le="10"}': (1.0, c.PROMRW_METRIC_TYPE_GAUGEHISTOGRAM, "In flight.", "bytes"),
        '{__name__="app_inflight_bytes_bucket",le="+Inf"}': (3.0, c.PROMRW_METRIC_TYPE_GAUGEHISTOGRAM, "In flight.", "bytes"),
        '{__name__="app_inflight_bytes_gcount"}': (3.0, c.PROMRW_METRIC_TYPE_GAUGEHISTOGRAM, "In flight.", "bytes"),
        '{__name__="app_inflight_bytes_gsum"}': (42.0, c.PROMRW_METRIC_TYPE_GAUGEHISTOGRAM, "In flight.", "bytes"),
        '{__name__="app_mystery"}': (9.0, c.PROMRW_METRIC_TYPE_UNKNOWN, "Mystery.", ""),
        '{__name__="app_rtt_seconds_count",peer="x"}': (4.0, c.PROMRW_METRIC_TYPE_SUMMARY, "RTT.", ""),
        '{__name__="app_rtt_seconds_sum",peer="x"}': (2.0, c.PROMRW_METRIC_TYPE_SUMMARY, "RTT.", ""),
    }
    assert n == len(expected)
    assert psink.wait_for(n) == n
    assert sorted(psink.samples) == sorted((k, t, bits(v[0])) for k, v in expected.items())
    assert set(psink.metadata) == {(k, *v[1:]) for k, v in expected.items()}
    psink.assert_clean()


def test_summary_quantiles_have_no_start_timestamp(sink: Sink) -> None:
    """A summary's quantile series (a custom collector's) are sent without the _created start
    timestamp; its _sum and _count carry it."""
    from prometheus_client.metrics_core import Metric

    class Quantiles:
        def collect(self) -> Iterator[Any]:
            m = Metric("app_q_seconds", "Q.", "summary")
            m.add_sample("app_q_seconds", {"quantile": "0.5"}, 0.2)
            m.add_sample("app_q_seconds_count", {}, 10.0)
            m.add_sample("app_q_seconds_sum", {}, 3.0)
            m.add_sample("app_q_seconds_created", {}, 1000.0)
            yield m

    registry = CollectorRegistry()
    registry.register(Quantiles())
    t = now_ms()
    with RecordingSender(config(sink.url, batch_send_deadline="50ms")) as s:
        assert bridge.push_registry(s, registry, timestamp_ms=t) == 3
        names = {ref: key for key, ref in bridge._state(s, registry).refs.items()}
        got = {names[ref]: kw.get("start_timestamp_ms", 0) for ref, _, _, kw in s.appends}
    assert got == {
        ("app_q_seconds", (("quantile", "0.5"),)): 0,
        ("app_q_seconds_count", ()): 1_000_000,
        ("app_q_seconds_sum", ()): 1_000_000,
    }


def test_created_is_the_start_timestamp(sink: Sink) -> None:
    """_created (seconds) becomes the start timestamp (ms) of the child's _total, _bucket, _sum
    and _count samples; gauges, info and stateset samples get none."""
    registry, _ = build_registry()
    created = {}
    for fam in registry.collect():
        for sample in fam.samples:
            if sample.name.endswith("_created"):
                created[sample.name[: -len("_created")], tuple(sorted(sample.labels.items()))] = (
                    int(round(sample.value * 1000))
                )
    assert len(created) == 4  # two counter children, the histogram, the summary
    t = now_ms() + 1000
    with RecordingSender(config(sink.url, batch_send_deadline="50ms")) as s:
        bridge.push_registry(s, registry, timestamp_ms=t)
        # Read the series names back from the cache of the bridge.
        state = bridge._state(s, registry)
        names = {ref: (name, items) for (name, items), ref in state.refs.items()}
        starts = {}
        for ref, _, ts, kwargs in s.appends:
            assert ts == t
            starts[names[ref]] = kwargs.get("start_timestamp_ms", 0)
    want = {}
    for name, items in starts:
        child = tuple(kv for kv in items if kv[0] != "le")
        if name.startswith("app_requests"):
            want[name, items] = created["app_requests", child]
        elif name.startswith("app_latency_seconds"):
            want[name, items] = created["app_latency_seconds", child]
        elif name.startswith("app_size_bytes"):
            want[name, items] = created["app_size_bytes", child]
        else:
            want[name, items] = 0
    assert starts == want
    assert len(starts) == 13
    assert sum(1 for v in starts.values() if v) == 2 + 5 + 2


def test_vanished_series_get_a_stale_marker_and_are_released(psink: Sink) -> None:
    """A child removed from the registry gets the stale NaN at the next collection's time, is
    released and leaves the cache; it is not sent again."""
    registry = CollectorRegistry()
    g = Gauge("app_queue_length", "Queue length.", ["queue"], registry=registry)
    g.labels("a").set(1)
    g.labels("b").set(2)
    t = now_ms()
    with RecordingSender(config(psink.url, batch_send_deadline="50ms")) as s:
        assert bridge.push_registry(s, registry, timestamp_ms=t) == 2
        series_before = s.stats()["series"]
        g.remove("b")
        assert bridge.push_registry(s, registry, timestamp_ms=t + 1000) == 1
        assert bridge.push_registry(s, registry, timestamp_ms=t + 2000) == 1
        state = bridge._state(s, registry)
        assert list(state.refs) == [("app_queue_length", (("queue", "a"),))]
        assert s.stats()["series"] == series_before - 1
        s.flush(timeout=10.0)
    a = '{__name__="app_queue_length",queue="a"}'
    b = '{__name__="app_queue_length",queue="b"}'
    assert psink.wait_for(5) == 5
    assert sorted(psink.samples) == sorted([
        (a, t, bits(1.0)), (b, t, bits(2.0)),
        (a, t + 1000, bits(1.0)), (b, t + 1000, STALE),
        (a, t + 2000, bits(1.0)),
    ])
    psink.assert_clean()


def test_a_steady_registry_registers_nothing_after_the_first_collection(sink: Sink) -> None:
    """The second and later collections of an unchanged registry call series() zero times
    and set no metadata; a new child registers exactly one series."""
    registry, m = build_registry()
    t = now_ms()
    with RecordingSender(config(sink.url, batch_send_deadline="50ms")) as s:
        first = bridge.push_registry(s, registry, timestamp_ms=t)
        assert s.series_calls == first == 13
        series = s.stats()["series"]
        for i in range(1, 4):
            assert bridge.push_registry(s, registry, timestamp_ms=t + 1000 * i) == first
        assert s.series_calls == first
        assert s.stats()["series"] == series
        m["requests"].labels("404").inc()
        assert bridge.push_registry(s, registry, timestamp_ms=t + 5000) == first + 1
        assert s.series_calls == first + 1
        s.flush(timeout=10.0)
        assert s.stats()["samples_acked"] == 5 * first + 1
    sink.assert_clean()


def test_own_timestamps_and_repeats_are_kept_and_skipped(psink: Sink, caplog: Any) -> None:
    """A sample's own timestamp is used; re-collecting it unchanged is skipped (out of order,
    as a scrape's duplicate), without a warning."""

    class Fixed:
        def __init__(self, ts: float) -> None:
            self.ts = ts

        def collect(self) -> Iterator[Any]:
            fam = GaugeMetricFamily("app_fixed", "Fixed.", labels=["k"])
            fam.add_metric(["a"], 1.0)
            fam.add_metric(["v"], 7.0, timestamp=self.ts)
            fam.add_metric(["z"], 3.0)
            yield fam

    t = now_ms()
    registry = CollectorRegistry()
    fixed = Fixed((t - 5000) / 1000.0)
    registry.register(fixed)
    with promrw.Sender(config(psink.url, batch_send_deadline="50ms")) as s:
        with caplog.at_level(logging.WARNING, logger="promrw.bridge"):
            assert bridge.push_registry(s, registry, timestamp_ms=t) == 3
            assert bridge.push_registry(s, registry, timestamp_ms=t + 1000) == 2
            fixed.ts = (t - 4000) / 1000.0
            assert bridge.push_registry(s, registry, timestamp_ms=t + 2000) == 3
        assert caplog.records == []
        s.flush(timeout=10.0)
    assert psink.wait_for(8) == 8
    lab = '{__name__="app_fixed",k="%s"}'
    assert sorted(psink.samples) == sorted(
        [(lab % "v", t - 5000, bits(7.0)), (lab % "v", t - 4000, bits(7.0))]
        + [(lab % "a", t + i, bits(1.0)) for i in (0, 1000, 2000)]
        + [(lab % "z", t + i, bits(3.0)) for i in (0, 1000, 2000)]
    )


def test_collect_from_collects_repeatedly_and_stops(psink: Sink, caplog: Any) -> None:
    """The collector thread collects at once and then every interval; a failing collection is
    logged and counted and the next one runs; stop() ends the thread."""

    class Flaky:
        calls = 0

        def collect(self) -> Iterator[Any]:
            Flaky.calls += 1
            if Flaky.calls == 2:
                raise RuntimeError("collector broke once")
            yield GaugeMetricFamily("app_calls", "Calls.", value=float(Flaky.calls))

    registry = CollectorRegistry()
    registry.register(Flaky())
    Flaky.calls = 0  # register() collected once to learn the names
    with promrw.Sender(config(psink.url, batch_send_deadline="50ms")) as s:
        with caplog.at_level(logging.ERROR, logger="promrw.bridge"):
            collector = bridge.collect_from(s, registry=registry, interval=0.05)
            deadline = time.monotonic() + 20
            while collector.collections < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert collector.stop(timeout=5.0)
        assert not collector.running
        done = collector.collections
        assert done >= 3, collector
        assert collector.errors == 1
        assert isinstance(collector.last_error, RuntimeError)
        assert any("collection failed" in r.getMessage() and r.exc_info for r in caplog.records)
        time.sleep(0.2)
        assert collector.collections == done  # nothing after stop
        s.flush(timeout=10.0)
    assert psink.wait_for(done) == done
    values = [v for labels, _, v in psink.samples]
    assert values[0] == bits(1.0) and bits(2.0) not in values
    timestamps = [ts for _, ts, _ in psink.samples]
    assert timestamps == sorted(set(timestamps))
    psink.assert_clean()


def test_collector_as_context_manager_and_first_collection_at_once(sink: Sink) -> None:
    """Leaving the block stops the thread, after the first collection, even at once."""
    registry = CollectorRegistry()
    Gauge("app_up", "Up.", registry=registry).set(1)
    with promrw.Sender(config(sink.url, batch_send_deadline="50ms")) as s:
        with bridge.collect_from(s, registry, 3600.0) as collector:
            pass
        assert not collector.running
        assert collector.collections == 1
        assert collector.last_samples == 1
        with pytest.raises(ValueError):
            bridge.collect_from(s, registry, 0)
        with pytest.raises(ValueError):
            bridge.collect_from(s, registry, float("nan"))
        s.flush(timeout=10.0)
        assert s.stats()["samples_acked"] == 1


def test_default_registry(sink: Sink) -> None:
    """registry=None is prometheus_client.REGISTRY."""
    g = Gauge("promrw_bridge_test_default", "Default registry.")
    try:
        g.set(4)
        with promrw.Sender(config(sink.url, batch_send_deadline="50ms")) as s:
            state = bridge._state(s, None)
            assert state.registry is prometheus_client.REGISTRY
            assert bridge.push_registry(s) > 0
            assert ("promrw_bridge_test_default", ()) in state.refs
    finally:
        prometheus_client.REGISTRY.unregister(g)


def test_a_closed_sender_raises_and_stops_the_collector(sink: Sink) -> None:
    """ClosedError propagates from push_registry and ends a collector's thread."""
    registry = CollectorRegistry()
    Gauge("app_up", "Up.", registry=registry).set(1)
    s = promrw.Sender(config(sink.url))
    s.close()
    with pytest.raises(promrw.ClosedError):
        bridge.push_registry(s, registry)
    collector = bridge.collect_from(s, registry, 0.01)
    collector._thread.join(5.0)
    assert not collector.running
    assert isinstance(collector.last_error, promrw.ClosedError)


def test_missing_prometheus_client_raises_a_clear_import_error(
    sink: Sink, monkeypatch: Any
) -> None:
    """With prometheus_client not importable, both functions raise ImportError naming the
    install command."""
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with promrw.Sender(config(sink.url)) as s:
        for call in (lambda: bridge.push_registry(s), lambda: bridge.collect_from(s)):
            with pytest.raises(ImportError) as info:
                call()
            assert "pip install ./bindings/python[prometheus-client]" in str(info.value)
            assert info.value.name == "prometheus_client"


def test_importing_promrw_does_not_import_prometheus_client() -> None:
    """``import promrw`` (and promrw.bridge) leaves prometheus_client unimported."""
    done = run_python(
        "import sys, promrw, promrw.bridge\n"
        "assert promrw.bridge.push_registry and promrw.bridge.collect_from\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
