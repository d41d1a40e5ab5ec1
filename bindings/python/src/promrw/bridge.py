"""``promrw.bridge``: sends a ``prometheus_client`` registry through a :class:`promrw.Sender`.

An application instrumented with ``prometheus_client`` (counters, gauges, histograms, ...) can
push its metrics by Remote Write instead of (or besides) being scraped::

    import prometheus_client, promrw

    with promrw.Sender(config) as sender:
        with promrw.bridge.collect_from(sender, registry=prometheus_client.REGISTRY, interval=15.0):
            run_the_application()

- :func:`push_registry` makes one collection (``registry.collect()``) and appends every sample;
- :func:`collect_from` does it on a daemon thread every ``interval`` seconds, the first at once.

``prometheus_client`` is an optional dependency (``pip install
'./bindings/python[prometheus-client]'``): importing ``promrw`` (or this module) does not import
it; the functions import it when called and raise :class:`ImportError` naming the install
command when it is missing.

Conversions (the sample names and labels are those of the text exposition format, with
``__name__`` added; the metadata, set once per series when it is registered, carries the
family's type, help text and unit):

========================  ===================================================  ==============
family type               series                                               metadata type
========================  ===================================================  ==============
counter                   ``<name>_total``                                     counter
gauge                     ``<name>``                                           gauge
histogram                 ``<name>_bucket{le}``, ``<name>_sum``,               histogram
                          ``<name>_count``
gaugehistogram            ``<name>_bucket{le}``, ``<name>_gsum``,              gaugehistogram
                          ``<name>_gcount``
summary                   ``<name>{quantile}``, ``<name>_sum``,                summary
                          ``<name>_count``
info                      ``<name>_info`` (value 1)                            info
stateset (``Enum``)       ``<name>{<name>=<state>}`` per state (value 0 or 1)  stateset
unknown / untyped         ``<name>``                                           unknown
========================  ===================================================  ==============

``_created`` samples (counters, histograms, summaries) are not series of their own: each is
the start timestamp (``append(..., start_timestamp_ms=...)``, in ms) of the samples of the
same child (same labels, ``le`` aside): ``_total``; ``_bucket``, ``_sum``, ``_count``;
``_sum``, ``_count`` (not the quantiles). Remote Write 2.0 endpoints send it as the samples'
start timestamp; Remote Write 1.0 has no field for it, so it is not sent there. A start
timestamp after the sample's timestamp is left unset. Exemplars (counter and bucket samples)
go with their sample, their timestamp converted to ms (endpoints send them only with
``send_exemplars: true``). Each sample's timestamp is its own when the collector set one, else
the collection's time: one timestamp for the whole collection (now, or 1 ms after the previous
collection's when that is not earlier).

Staleness: a series present in the previous collection (of the same sender and registry) and
absent from this one gets a stale marker (``append_stale``) at this collection's time and is
then released (``release_series``), as Prometheus marks the series that vanish from a scrape.
A collection that fails (``registry.collect()`` raising) appends nothing and marks nothing.

Caching: series references are kept between collections, per (sender, registry), keyed by
(sample name, sorted labels): a steady registry registers nothing after its first collection.
The entries of vanished series are dropped with them.

A sample refused as out of order (a collector repeating its own timestamp, a label set listed
twice) is skipped, as Prometheus ignores a scrape's duplicates; other refused samples are
skipped and logged (logger ``"promrw.bridge"``). :class:`promrw.ClosedError` is raised.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from array import array
from typing import Any, Dict, List, Optional, Tuple

from . import _constants as c
from ._errors import ClosedError, OutOfOrderError, PromrwError
from ._sender import METRIC_TYPES, Exemplar, Sender

__all__ = ["push_registry", "collect_from", "Collector", "INSTALL_HINT"]

#: The logger of the bridge's warnings and of failed background collections.
logger = logging.getLogger("promrw.bridge")

#: How to install the optional dependency (quoted in the ImportError).
INSTALL_HINT = "pip install ./bindings/python[prometheus-client]"

_time_ns = time.time_ns

# Families whose _created samples are start timestamps, and the suffixes that take them.
_CREATED_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
}

Key = Tuple[str, Tuple[Tuple[str, str], ...]]


def _prometheus_client() -> Any:
    """The ``prometheus_client`` module, or an ImportError saying how to install it."""
    try:
        import prometheus_client
    except ImportError as e:
        raise ImportError(
            "promrw.bridge needs the prometheus_client package, an optional dependency of "
            f"promrw: install it with {INSTALL_HINT!r} (from the promrw repository) or "
            "'pip install prometheus_client'",
            name="prometheus_client",
        ) from e
    return prometheus_client


def _ms(timestamp: Any) -> int:
    """A prometheus_client timestamp (float seconds or ``Timestamp``) in ms since the epoch."""
    sec = getattr(timestamp, "sec", None)
    if sec is not None:
        return sec * 1000 + timestamp.nsec // 1_000_000
    return int(round(float(timestamp) * 1000.0))


class _State:
    """What the bridge keeps between collections of one (sender, registry) pair."""

    __slots__ = ("sender", "registry", "lock", "refs", "last_ms", "__weakref__")

    def __init__(self, sender: Sender, registry: Any) -> None:
        self.sender = sender
        self.registry = registry
        self.lock = threading.Lock()
        #: (sample name, sorted labels) -> series reference, the previous collection's series.
        self.refs: Dict[Key, int] = {}
        #: The time of the previous collection, ms.
        self.last_ms = 0

    def collect(self, timestamp_ms: Optional[int]) -> int:
        """One collection: appends every sample, marks vanished series stale; returns the
        number of samples appended."""
        families = list(self.registry.collect())  # fails before anything is appended
        with self.lock:
            return self._push(families, timestamp_ms)

    def _push(self, families: List[Any], timestamp_ms: Optional[int]) -> int:
        sender = self.sender
        if timestamp_ms is None:
            # Two collections within one ms: the later one is stamped 1 ms later.
            now = max(_time_ns() // 1_000_000, self.last_ms + 1)
        else:
            now = int(timestamp_ms)
        self.last_ms = now
        old = self.refs
        seen: Dict[Key, int] = {}
        registered = 0
        appended = 0
        refused: List[str] = []
        append = sender.append
        col_refs = array("Q")
        col_values = array("d")
        col_ts = array("q")
        for family in families:
            ftype = family.type
            metric_type = METRIC_TYPES.get(ftype, c.PROMRW_METRIC_TYPE_UNKNOWN)
            help_text = family.documentation or ""
            unit = family.unit or ""
            samples = family.samples
            created: Dict[Tuple[Tuple[str, str], ...], int] = {}
            suffixes = _CREATED_SUFFIXES.get(ftype)
            if suffixes:
                created_name = family.name + "_created"
                for s in samples:
                    if s.name == created_name:
                        created[tuple(sorted(s.labels.items()))] = _ms(s.value)
                if created:
                    samples = [s for s in samples if s.name != created_name]
            for s in samples:
                if getattr(s, "native_histogram", None) is not None:
                    refused.append(f"{s.name}: native histograms are not converted")
                    continue
                name = s.name
                labels = s.labels
                items = tuple(labels.items())
                if len(items) > 1:
                    items = tuple(sorted(items))
                key = (name, items)
                ref = old.get(key)
                try:
                    if ref is None:
                        ref = seen.get(key)
                    if ref is None:
                        ref = sender.series((("__name__", name),) + items)
                        registered += 1
                        try:
                            sender.set_metadata(ref, metric_type, help_text, unit)
                        except ClosedError:
                            raise
                        except PromrwError as e:
                            refused.append(f"metadata of {name}{labels}: {e}")
                    seen[key] = ref
                    ts = now if s.timestamp is None else _ms(s.timestamp)
                    start = 0
                    if created and name.endswith(suffixes):
                        if "le" in labels:
                            child = tuple(kv for kv in items if kv[0] != "le")
                        else:
                            child = items
                        start = created.get(child, 0)
                        if start > ts or start < 0:
                            start = 0
                    ex = s.exemplar
                    if ex is not None:
                        ex = Exemplar(
                            ex.labels,
                            float(ex.value),
                            None if ex.timestamp is None else _ms(ex.timestamp),
                        )
                    if start or ex is not None:
                        append(ref, s.value, ts, start_timestamp_ms=start, exemplar=ex)
                        appended += 1
                    else:  # appended below, in one call for them all
                        col_values.append(s.value)  # first: the one that can raise
                        col_refs.append(ref)
                        col_ts.append(ts)
                except OutOfOrderError:
                    pass  # a repeated timestamp or label set: skipped, as a scrape's duplicate
                except ClosedError:
                    raise
                except (PromrwError, TypeError, ValueError) as e:  # e.g. a value not a number
                    refused.append(f"{name}{labels}: {e!r}")
        if col_values:
            appended += _append_columns(sender, col_refs, col_values, col_ts, refused)
        # Series of the previous collection absent from this one: stale, then released. When
        # nothing was registered and as many series were seen, every old one was seen.
        stale = 0
        if registered or len(seen) != len(old):
            for key in old.keys() - seen.keys():
                ref = old[key]
                try:
                    sender.append_stale(ref, now)
                    stale += 1
                except ClosedError:
                    raise
                except PromrwError as e:
                    refused.append(f"stale marker of {key[0]}{dict(key[1])}: {e}")
                try:
                    sender.release_series(ref)
                except ClosedError:
                    raise
                except PromrwError:
                    pass
        self.refs = seen
        if refused:
            logger.warning(
                "promrw.bridge: %d sample(s) of the collection at %d ms not appended; first: %s",
                len(refused),
                now,
                refused[0],
            )
        return appended


def _append_columns(
    sender: Sender, refs: "array[int]", values: "array[float]", ts: "array[int]", refused: List[str]
) -> int:
    """``append_many`` of the columns, skipping each refused sample (out of order: silently,
    others: listed in ``refused``); returns the number appended."""
    n = len(values)
    done = 0
    first = 0
    while first < n:
        try:
            if first == 0:
                sender.append_many(refs, values, ts)
            else:
                sender.append_many(
                    memoryview(refs)[first:], memoryview(values)[first:], memoryview(ts)[first:]
                )
            return done + n - first
        except ClosedError:
            raise
        except PromrwError as e:
            accepted = e.accepted or 0
            if not isinstance(e, OutOfOrderError):
                refused.append(f"series {refs[first + accepted]}: {e}")
            done += accepted
            first += accepted + 1
    return done


# (sender -> {id(registry): state}): the caches of push_registry and collect_from. Weak on
# the sender (a closed, collected sender takes its caches with it); the registry is held.
_states: "weakref.WeakKeyDictionary[Sender, Dict[int, _State]]" = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(sender: Sender, registry: Any) -> _State:
    """The state of (sender, registry); ``registry`` None is ``prometheus_client.REGISTRY``."""
    client = _prometheus_client()
    if registry is None:
        registry = client.REGISTRY
    if not isinstance(sender, Sender):
        raise TypeError(f"sender must be a promrw.Sender, not {type(sender).__name__}")
    if not callable(getattr(registry, "collect", None)):
        raise TypeError(f"registry has no collect() method: {registry!r}")
    with _states_lock:
        per_sender = _states.setdefault(sender, {})
        state = per_sender.get(id(registry))
        if state is None or state.registry is not registry:
            state = per_sender[id(registry)] = _State(sender, registry)
        return state


def push_registry(sender: Sender, registry: Any = None, timestamp_ms: Optional[int] = None) -> int:
    """Collects ``registry`` once and appends its samples to ``sender``.

    Args:
        sender: the :class:`promrw.Sender` to append to.
        registry: a ``prometheus_client.CollectorRegistry`` (or any object with a
            ``collect()`` yielding metric families); ``None`` is ``prometheus_client.REGISTRY``.
        timestamp_ms: the collection's time, ms since the epoch (``None``: now); samples
            without a timestamp of their own get it, stale markers too. It must be later than
            the previous collection's.

    Returns:
        The number of samples appended (series of the previous collection that vanished get
        a stale marker, not counted).

    Raises:
        ImportError: ``prometheus_client`` is not installed.
        ClosedError: the sender was closed.
        Exception: whatever ``registry.collect()`` raised (nothing is appended then).
    """
    return _state(sender, registry).collect(timestamp_ms)


class Collector:
    """A background collection started by :func:`collect_from`: a daemon thread calling
    :func:`push_registry` every ``interval`` seconds (the first one at once), at a fixed rate
    (a collection taking longer than ``interval`` delays the next one, none is run twice).

    A failed collection (``registry.collect()`` or a conversion raising) is logged on the
    ``"promrw.bridge"`` logger with its traceback and counted in :attr:`errors`; the thread
    goes on. When the sender is closed (:class:`promrw.ClosedError`) the thread ends.

    Use :meth:`stop`, or the collector as a context manager (leaving the block stops it).
    """

    def __init__(self, state: _State, interval: float) -> None:
        self._state = state
        self.interval = interval
        #: Collections that completed.
        self.collections = 0
        #: Collections that failed (logged).
        self.errors = 0
        #: The exception of the most recent failed collection, or None.
        self.last_error: Optional[BaseException] = None
        #: Samples appended by the most recent completed collection.
        self.last_samples = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promrw-bridge", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        while True:
            try:
                self.last_samples = self._state.collect(None)
                self.collections += 1
            except ClosedError as e:
                self.last_error = e
                logger.info("promrw.bridge: the sender was closed; collections stop")
                return
            except Exception as e:  # noqa: BLE001 - logged and counted, the thread goes on
                self.errors += 1
                self.last_error = e
                logger.exception("promrw.bridge: a collection failed")
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:  # late: the next collection now, then on a new schedule
                next_at = time.monotonic()
                delay = 0.0
            if self._stopping.wait(delay):
                return

    @property
    def running(self) -> bool:
        """Whether the thread is still running."""
        return self._thread.is_alive()

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Stops collecting: no collection starts after the call; one in progress finishes.
        Waits up to ``timeout`` seconds (``None``: without limit) for the thread to end and
        returns whether it ended."""
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> "Collector":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<promrw.bridge.Collector {state} interval={self.interval} "
            f"collections={self.collections} errors={self.errors}>"
        )


def collect_from(sender: Sender, registry: Any = None, interval: float = 15.0) -> Collector:
    """Starts collecting ``registry`` into ``sender`` every ``interval`` seconds on a daemon
    thread, the first collection at once; returns the :class:`Collector` (stop it, or use it
    as a context manager)::

        with promrw.bridge.collect_from(sender, registry=prometheus_client.REGISTRY, interval=15.0):
            ...

    Arguments as for :func:`push_registry` (``registry`` None: ``prometheus_client.REGISTRY``);
    ``interval`` is in seconds, a positive finite number. Collections share the series cache
    and the staleness tracking of :func:`push_registry` with the same sender and registry.

    Raises:
        ImportError: ``prometheus_client`` is not installed.
        ValueError: ``interval`` is not a positive finite number.
    """
    try:
        seconds = float(interval)
    except (TypeError, ValueError):
        raise TypeError(f"interval must be a number of seconds, not {interval!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
    return Collector(_state(sender, registry), seconds)
