"""promrw: an embeddable Prometheus Remote Write sender (1.0 and 2.0).

A thin ctypes wrapper around ``libpromrw`` (shipped inside this package)::

    import promrw

    with promrw.Sender({"remote_write": [{"url": "http://127.0.0.1:9090/api/v1/write"}]}) as s:
        up = s.series({"__name__": "up", "job": "api"})
        s.append(up, 1.0)                 # timestamp: now
        s.flush(timeout=10.0)
        print(s.stats()["samples_acked"])

Set ``PROMRW_LIBRARY`` to load another build of the library. Importing checks that the loaded
library is the version this package was written for (:class:`PromrwVersionError` otherwise).
Library log records go to the ``logging`` logger ``"promrw"``.

:mod:`promrw.bridge` sends a ``prometheus_client`` registry through a sender
(``push_registry``, ``collect_from``); ``prometheus_client`` is an optional dependency.
"""

from ._errors import (
    BufferTooSmallError,
    ClosedError,
    DeadlineExceededError,
    ForkedError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidLabelsError,
    IoError,
    OutOfOrderError,
    PanicError,
    PromrwError,
    PromrwVersionError,
    QueueFullError,
    SamplesLostError,
    ShardDeadError,
    UnknownSeriesError,
)
from ._lib import LIBRARY_PATH, library_version
from ._constants import (
    PROMRW_METRIC_TYPE_COUNTER,
    PROMRW_METRIC_TYPE_GAUGE,
    PROMRW_METRIC_TYPE_GAUGEHISTOGRAM,
    PROMRW_METRIC_TYPE_HISTOGRAM,
    PROMRW_METRIC_TYPE_INFO,
    PROMRW_METRIC_TYPE_STATESET,
    PROMRW_METRIC_TYPE_SUMMARY,
    PROMRW_METRIC_TYPE_UNKNOWN,
    PROMRW_RESET_HINT_GAUGE,
    PROMRW_RESET_HINT_NO,
    PROMRW_RESET_HINT_UNKNOWN,
    PROMRW_RESET_HINT_YES,
)
from ._sender import (
    DEFAULT_CLOSE_TIMEOUT,
    GC_CLOSE_TIMEOUT,
    METRIC_TYPES,
    RESET_HINTS,
    Config,
    Exemplar,
    Labels,
    Sender,
)
from ._version import LIBRARY_VERSION, __version__
from . import bridge  # imports prometheus_client only when its functions are called

#: The stale-marker NaN's bit pattern (``append_stale`` sends it).
STALE_NAN_BITS = 0x7FF0000000000002

__all__ = [
    "Sender",
    "Config",
    "Labels",
    "Exemplar",
    "METRIC_TYPES",
    "RESET_HINTS",
    "PROMRW_METRIC_TYPE_UNKNOWN",
    "PROMRW_METRIC_TYPE_COUNTER",
    "PROMRW_METRIC_TYPE_GAUGE",
    "PROMRW_METRIC_TYPE_HISTOGRAM",
    "PROMRW_METRIC_TYPE_GAUGEHISTOGRAM",
    "PROMRW_METRIC_TYPE_SUMMARY",
    "PROMRW_METRIC_TYPE_INFO",
    "PROMRW_METRIC_TYPE_STATESET",
    "PROMRW_RESET_HINT_UNKNOWN",
    "PROMRW_RESET_HINT_YES",
    "PROMRW_RESET_HINT_NO",
    "PROMRW_RESET_HINT_GAUGE",
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
    "DEFAULT_CLOSE_TIMEOUT",
    "GC_CLOSE_TIMEOUT",
    "LIBRARY_PATH",
    "LIBRARY_VERSION",
    "STALE_NAN_BITS",
    "library_version",
    "__version__",
    "bridge",
]
