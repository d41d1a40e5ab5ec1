/*
 * histograms.c: native histograms, exemplars, start timestamps and metadata from C, sent with
 * Remote Write 2.0.
 *
 * Usage: histograms URL
 *   URL  a Remote Write 2.0 endpoint, e.g. http://127.0.0.1:9201/api/v1/write
 *
 * Registers a histogram series and a counter, sets their metadata, appends an integer and a
 * float native histogram (the first with a start timestamp and an exemplar), samples of the
 * counter (with a start timestamp, one with an exemplar), checks that a malformed histogram is
 * refused with PROMRW_INVALID_ARGUMENT, flushes and checks the counters. Exits 0 only when
 * everything was acknowledged. The last line is "samples_acked=N" for .ci/c-abi.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <promrw.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_SAMPLES 5

/* A label from two NUL-terminated literals; the library itself only reads the lengths. */
static promrw_label label(const char *name, const char *value)
{
    promrw_label l;
    l.name = name;
    l.name_len = strlen(name);
    l.value = value;
    l.value_len = strlen(value);
    return l;
}

/* Prints the error (if any) with a context and frees it. */
static void report(const char *what, promrw_status status, promrw_error *err)
{
    fprintf(stderr, "histograms: %s failed: %s (%u): %s\n", what, promrw_status_str(status),
            (unsigned)status, err ? promrw_error_message(err) : "(no message)");
    promrw_error_free(err);
}

/* A histogram with struct_size set and every array empty. */
static promrw_histogram empty_histogram(void)
{
    promrw_histogram h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    h.kind = PROMRW_HISTOGRAM_INTEGER;
    h.reset_hint = PROMRW_RESET_HINT_UNKNOWN;
    return h;
}

int main(int argc, char **argv)
{
    char yaml[1024];
    promrw_config *cfg = NULL;
    promrw_sender *sender = NULL;
    promrw_error *err = NULL;
    promrw_series_ref latency = 0, requests = 0;
    promrw_label latency_labels[3], requests_labels[3], trace[1];
    char run[64];
    promrw_stats stats;
    promrw_status status;
    promrw_histogram h, fh, bad;
    promrw_exemplar ex;
    const promrw_bucket_span spans[2] = {{0, 2}, {1, 1}};
    const int64_t deltas[3] = {1, 1, -1};
    const promrw_bucket_span fspans[1] = {{-1, 2}};
    const double fcounts[2] = {2.0, 4.5};
    const char *help = "Request latency.";
    int64_t now_ms;
    int i, rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    snprintf(yaml, sizeof yaml,
             "remote_write:\n"
             "  - url: %s\n"
             "    protobuf_message: io.prometheus.write.v2.Request\n"
             "    send_exemplars: true\n"
             "    queue_config:\n"
             "      batch_send_deadline: 50ms\n",
             argv[1]);
    status = promrw_config_from_yaml(yaml, strlen(yaml), &cfg, &err);
    if (status != PROMRW_OK) {
        report("promrw_config_from_yaml", status, err);
        return 1;
    }
    status = promrw_sender_new(cfg, &sender, &err);
    if (status != PROMRW_OK) {
        report("promrw_sender_new", status, err);
        goto out;
    }

    snprintf(run, sizeof run, "%ld-%ld", (long)getpid(), (long)time(NULL));
    latency_labels[0] = label("__name__", "c_example_latency_seconds");
    latency_labels[1] = label("job", "histograms");
    latency_labels[2] = label("run", run);
    requests_labels[0] = label("__name__", "c_example_requests_total");
    requests_labels[1] = label("job", "histograms");
    requests_labels[2] = label("run", run);
    status = promrw_sender_series(sender, latency_labels, 3, &latency, &err);
    if (status == PROMRW_OK)
        status = promrw_sender_series(sender, requests_labels, 3, &requests, &err);
    if (status != PROMRW_OK) {
        report("promrw_sender_series", status, err);
        goto out;
    }
    status = promrw_sender_set_metadata(sender, latency, PROMRW_METRIC_TYPE_HISTOGRAM, help,
                                        strlen(help), "seconds", 7, &err);
    if (status == PROMRW_OK)
        status = promrw_sender_set_metadata(sender, requests, PROMRW_METRIC_TYPE_COUNTER, NULL,
                                            0, NULL, 0, &err);
    if (status != PROMRW_OK) {
        report("promrw_sender_set_metadata", status, err);
        goto out;
    }

    now_ms = (int64_t)time(NULL) * 1000 - 60000;
    trace[0] = label("trace_id", "4bf92f3577b34da6");
    ex.labels = trace;
    ex.labels_len = 1;
    ex.value = 0.25;
    ex.timestamp_ms = now_ms - 3;
    ex.has_timestamp = 1;

    /* An integer histogram: buckets 1, 2, 1 (as deltas) and 1 in the zero bucket. */
    h = empty_histogram();
    h.schema = 0;
    h.zero_threshold = 0.001;
    h.sum = 10.5;
    h.count_int = 5;
    h.zero_count_int = 1;
    h.positive_spans = spans;
    h.positive_spans_len = 2;
    h.positive_deltas = deltas;
    h.positive_deltas_len = 3;
    h.reset_hint = PROMRW_RESET_HINT_NO;
    h.start_timestamp_ms = now_ms - 60000;
    h.exemplar = &ex;
    status = promrw_sender_append_histogram(sender, latency, now_ms, &h, &err);
    if (status != PROMRW_OK) {
        report("promrw_sender_append_histogram (integer)", status, err);
        goto out;
    }
    /* A float histogram. */
    fh = empty_histogram();
    fh.schema = 3;
    fh.kind = PROMRW_HISTOGRAM_FLOAT;
    fh.sum = 3.75;
    fh.count_float = 7.0;
    fh.zero_count_float = 0.5;
    fh.positive_spans = fspans;
    fh.positive_spans_len = 1;
    fh.positive_counts = fcounts;
    fh.positive_counts_len = 2;
    status = promrw_sender_append_histogram(sender, latency, now_ms + 1000, &fh, &err);
    if (status != PROMRW_OK) {
        report("promrw_sender_append_histogram (float)", status, err);
        goto out;
    }
    /* A malformed one (spans cover 3 buckets, 1 given) is refused, naming the rule. */
    bad = h;
    bad.positive_deltas_len = 1;
    bad.exemplar = NULL;
    status = promrw_sender_append_histogram(sender, latency, now_ms + 2000, &bad, &err);
    if (status != PROMRW_INVALID_ARGUMENT || err == NULL) {
        fprintf(stderr, "histograms: a malformed histogram gave %s\n", promrw_status_str(status));
        promrw_error_free(err);
        goto out;
    }
    printf("refused as expected: %s\n", promrw_error_message(err));
    promrw_error_free(err);
    err = NULL;

    /* Counter samples with a start timestamp; the first with an exemplar (no timestamp of
     * its own: it takes the sample's). */
    ex.value = 1.0;
    ex.has_timestamp = 0;
    for (i = 0; i < N_SAMPLES; i++) {
        status = promrw_sender_append_with_exemplar(sender, requests, now_ms + i * 1000,
                                                    now_ms - 60000, 10.0 + i,
                                                    i == 0 ? &ex : NULL, &err);
        if (status != PROMRW_OK) {
            report("promrw_sender_append_with_exemplar", status, err);
            goto out;
        }
    }

    status = promrw_sender_flush(sender, 10000);
    if (status != PROMRW_OK) {
        report("promrw_sender_flush", status, NULL);
        goto out;
    }
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(sender, &stats);
    if (status != PROMRW_OK) {
        report("promrw_sender_stats", status, NULL);
        goto out;
    }
    printf("protocol=%llu samples_acked=%llu histograms_acked=%llu exemplars_acked=%llu\n",
           (unsigned long long)stats.remote_write_protocol,
           (unsigned long long)stats.samples_acked, (unsigned long long)stats.histograms_acked,
           (unsigned long long)stats.exemplars_acked);
    if (stats.remote_write_protocol != 2 || stats.samples_acked != N_SAMPLES ||
        stats.histograms_acked != 2 || stats.exemplars_acked != 2 ||
        stats.histograms_failed != 0 || stats.histograms_dropped != 0 ||
        stats.exemplars_dropped != 0) {
        fprintf(stderr, "histograms: expected Remote Write 2.0 with %d samples, 2 histograms "
                        "and 2 exemplars acknowledged\n",
                N_SAMPLES);
        goto out;
    }

    status = promrw_sender_close(sender, 10000);
    if (status != PROMRW_OK) {
        report("promrw_sender_close", status, NULL);
        goto out;
    }
    printf("samples_acked=%llu\n", (unsigned long long)stats.samples_acked);
    rc = 0;
out:
    promrw_sender_free(sender);
    promrw_config_free(cfg);
    return rc;
}
