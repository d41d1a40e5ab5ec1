"""The ``#define`` constants of ``include/promrw.h``, checked against the header by the tests."""

import ctypes

#: Major version of the header the wrapper was written from.
PROMRW_VERSION_MAJOR = 0
#: Minor version of the header the wrapper was written from.
PROMRW_VERSION_MINOR = 1
#: Patch version of the header the wrapper was written from.
PROMRW_VERSION_PATCH = 0
#: ``MAJOR * 10000 + MINOR * 100 + PATCH``.
PROMRW_VERSION_NUMBER = 100

#: Log level ``debug``: per-request detail.
PROMRW_LOG_DEBUG = 0
#: Log level ``info``: lifecycle events.
PROMRW_LOG_INFO = 1
#: Log level ``warn``: retries, dropped samples, rejected batches.
PROMRW_LOG_WARN = 2
#: Log level ``error``: failures that lose data or stop a shard.
PROMRW_LOG_ERROR = 3

#: Passed as ``endpoint`` to ask for all endpoints together (``SIZE_MAX``).
PROMRW_ALL_ENDPOINTS = (1 << (8 * ctypes.sizeof(ctypes.c_size_t))) - 1

#: Success.
PROMRW_OK = 0
#: An argument was NULL, misaligned, out of range or otherwise malformed.
PROMRW_INVALID_ARGUMENT = 100
#: The configuration text or values are invalid; the message names the field.
PROMRW_INVALID_CONFIG = 101
#: A label set broke the Remote Write label rules or was not UTF-8.
PROMRW_INVALID_LABELS = 102
#: The series reference is unknown or was released.
PROMRW_UNKNOWN_SERIES = 103
#: The caller's buffer is too small (handled inside the wrapper).
PROMRW_BUFFER_TOO_SMALL = 104
#: The sample's timestamp is not after the last accepted one of its series.
PROMRW_OUT_OF_ORDER = 200
#: The queue is full and the overflow policy refused the sample.
PROMRW_QUEUE_FULL = 201
#: The sender was closed.
PROMRW_CLOSED = 202
#: A deadline passed before the operation completed.
PROMRW_TIMEOUT = 300
#: A shard thread died; its samples can no longer be sent.
PROMRW_SHARD_DEAD = 301
#: An I/O or system call failed.
PROMRW_IO = 302
#: Some samples accepted before a flush or close were rejected by a receiver or dropped since
#: the previous flush or close returned; ``promrw_sender_last_report`` says how many and why.
PROMRW_SAMPLES_LOST = 303
#: The sender was created in another process: this is a child made by ``fork()``, where the
#: sender's threads do not run. Only ``promrw_sender_free`` may still be called on it (it frees
#: memory without waiting for threads); create senders after forking.
PROMRW_FORKED = 304
#: A panic inside the library was caught at the boundary (a bug in promrw).
PROMRW_PANIC = 900

#: ``promrw_histogram.kind``: integer counts (buckets as deltas).
PROMRW_HISTOGRAM_INTEGER = 0
#: ``promrw_histogram.kind``: float counts (buckets as absolute counts).
PROMRW_HISTOGRAM_FLOAT = 1
#: Reset hint: nothing known about counter resets.
PROMRW_RESET_HINT_UNKNOWN = 0
#: Reset hint: a counter reset happened just before this histogram.
PROMRW_RESET_HINT_YES = 1
#: Reset hint: no counter reset happened.
PROMRW_RESET_HINT_NO = 2
#: Reset hint: a gauge histogram, where counter resets do not apply.
PROMRW_RESET_HINT_GAUGE = 3
#: Metric type: unknown (Remote Write 2.0's ``METRIC_TYPE_UNSPECIFIED``); the
#: ``PROMRW_METRIC_TYPE_*`` values are the protocol's (0 to 7).
PROMRW_METRIC_TYPE_UNKNOWN = 0
#: Metric type: a counter.
PROMRW_METRIC_TYPE_COUNTER = 1
#: Metric type: a gauge.
PROMRW_METRIC_TYPE_GAUGE = 2
#: Metric type: a histogram (classic or native).
PROMRW_METRIC_TYPE_HISTOGRAM = 3
#: Metric type: a gauge histogram.
PROMRW_METRIC_TYPE_GAUGEHISTOGRAM = 4
#: Metric type: a summary.
PROMRW_METRIC_TYPE_SUMMARY = 5
#: Metric type: an info metric.
PROMRW_METRIC_TYPE_INFO = 6
#: Metric type: a state set.
PROMRW_METRIC_TYPE_STATESET = 7
