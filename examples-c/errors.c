/*
 * errors.c: every documented failure returns its status code and a message naming the problem.
 *
 * Usage: errors URL REJECT_URL
 *   URL         a working Remote Write endpoint (used for the out-of-order case)
 *   REJECT_URL  an endpoint that rejects every request with 404 (`promrw sink --reject-with
 *               404`), for the loss report
 *
 * Checks: bad YAML, an unknown key, a bad label name, duplicate labels, NULL arguments, an
 * out-of-order timestamp, a full queue under the `fail` policy (against an address where
 * nothing listens), use after close, a too-small buffer, flush and close reporting samples
 * a receiver rejected (PROMRW_SAMPLES_LOST and promrw_sender_last_report) and what the stats
 * count of them, and promrw_sender_sync (NULL, at once in memory mode, after close). (The panic boundary is tested by examples-c/test-hooks/panic.c.) Exits 1 on
 * the first mismatch. The last line is "samples_acked=N" for .ci/c-abi.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <promrw.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* An address where nothing listens: appends queue up and are never acknowledged. */
#define DEAD_URL "http://127.0.0.1:1/api/v1/write"

static int failures = 0;

/* Milliseconds on the monotonic clock. */
static double monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Checks a status and, when `err` is given, that its code matches and its message contains
 * every one of the NULL-terminated `needles`. Frees `err`. */
static void expect(const char *what, promrw_status got, promrw_status want, promrw_error *err,
                   const char *needle1, const char *needle2)
{
    const char *message = err ? promrw_error_message(err) : promrw_status_str(got);
    int ok = got == want;
    if (err != NULL && promrw_error_code(err) != want)
        ok = 0;
    if (message == NULL || (needle1 && strstr(message, needle1) == NULL) ||
        (needle2 && strstr(message, needle2) == NULL))
        ok = 0;
    printf("%-4s %-34s %s (%u): %s\n", ok ? "ok" : "FAIL", what, promrw_status_str(got),
           (unsigned)got, message ? message : "(NULL)");
    if (!ok) {
        fprintf(stderr, "errors: %s: expected %s (%u) with a message containing \"%s\"%s%s%s\n",
                what, promrw_status_str(want), (unsigned)want, needle1 ? needle1 : "",
                needle2 ? " and \"" : "", needle2 ? needle2 : "", needle2 ? "\"" : "");
        failures++;
    }
    promrw_error_free(err);
}

static void check(const char *what, int condition)
{
    printf("%-4s %s\n", condition ? "ok" : "FAIL", what);
    if (!condition) {
        fprintf(stderr, "errors: check failed: %s\n", what);
        failures++;
    }
}

static promrw_status parse(const char *yaml, promrw_config **cfg, promrw_error **err)
{
    return promrw_config_from_yaml(yaml, strlen(yaml), cfg, err);
}

static promrw_label label(const char *name, const char *value)
{
    promrw_label l;
    l.name = name;
    l.name_len = strlen(name);
    l.value = value;
    l.value_len = strlen(value);
    return l;
}

/* A config and sender for `url` with extra queue_config lines; exits on failure. */
static promrw_sender *make_sender(const char *url, const char *queue, promrw_config **cfg)
{
    char yaml[1024];
    promrw_sender *sender = NULL;
    promrw_error *err = NULL;
    promrw_status status;

    snprintf(yaml, sizeof yaml, "remote_write:\n  - url: %s\n    queue_config:\n%s", url, queue);
    status = parse(yaml, cfg, &err);
    if (status == PROMRW_OK)
        status = promrw_sender_new(*cfg, &sender, &err);
    if (status != PROMRW_OK) {
        fprintf(stderr, "errors: cannot make a sender: %s: %s\n", promrw_status_str(status),
                err ? promrw_error_message(err) : "");
        promrw_error_free(err);
        promrw_config_free(*cfg);
        exit(1);
    }
    return sender;
}

int main(int argc, char **argv)
{
    promrw_config *cfg = NULL, *dead_cfg = NULL, *reject_cfg = NULL;
    promrw_sender *sender = NULL, *dead = NULL, *rejecting = NULL;
    promrw_report report;
    char text[2048];
    promrw_error *err = NULL;
    promrw_series_ref ref = 0, series = 0;
    promrw_label labels[3];
    promrw_sample batch[20];
    promrw_stats stats;
    promrw_status status;
    char small[4];
    size_t len = 0, accepted = 0;
    int64_t now_ms = (int64_t)time(NULL) * 1000 - 60000;
    unsigned long long sent = 0;
    int i, appended;
    double started_ms, took_ms;
    char run[64];

    if (argc != 3) {
        fprintf(stderr, "usage: %s URL REJECT_URL\n", argv[0]);
        return 2;
    }

    /* Configuration errors. */
    status = parse("remote_write: [\n  - url: {\n", &cfg, &err);
    expect("bad YAML", status, PROMRW_INVALID_CONFIG, err, "line", NULL);
    err = NULL;
    check("no config written on failure", cfg == NULL);
    status = parse("remote_write:\n  - url: http://127.0.0.1:9/w\n    queue_config:\n"
                   "      capacityy: 10\n",
                   &cfg, &err);
    expect("unknown key", status, PROMRW_INVALID_CONFIG, err, "remote_write[0].queue_config",
           "capacityy");
    err = NULL;
    status = parse("remote_write:\n  - url: http://127.0.0.1:9/w\n    queue_config:\n"
                   "      capacity: 0\n",
                   &cfg, &err);
    expect("invalid value", status, PROMRW_INVALID_CONFIG, err, "capacity", NULL);
    err = NULL;
    status = parse("remote_write: []\n", &cfg, &err);
    expect("no endpoint", status, PROMRW_INVALID_CONFIG, err, "at least one endpoint", NULL);
    err = NULL;
    status = promrw_config_from_yaml("\xff\xfe", 2, &cfg, &err);
    expect("config not UTF-8", status, PROMRW_INVALID_CONFIG, err, "UTF-8", NULL);
    err = NULL;

    /* NULL arguments: an error, never a crash. */
    status = promrw_config_from_yaml("remote_write: []\n", 17, NULL, &err);
    expect("NULL out (config)", status, PROMRW_INVALID_ARGUMENT, err, "out is NULL", NULL);
    err = NULL;
    status = promrw_config_from_yaml(NULL, 5, &cfg, &err);
    expect("NULL text with length 5", status, PROMRW_INVALID_ARGUMENT, err, "text is NULL", NULL);
    err = NULL;
    status = promrw_sender_new(NULL, &sender, &err);
    expect("NULL cfg", status, PROMRW_INVALID_ARGUMENT, err, "cfg is NULL", NULL);
    err = NULL;
    status = promrw_sender_append(NULL, 1, now_ms, 1.0);
    expect("NULL sender (append)", status, PROMRW_INVALID_ARGUMENT, NULL, "invalid argument", NULL);
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(NULL, &stats);
    expect("NULL sender (stats)", status, PROMRW_INVALID_ARGUMENT, NULL, "invalid argument", NULL);
    status = promrw_sender_flush(NULL, 10);
    expect("NULL sender (flush)", status, PROMRW_INVALID_ARGUMENT, NULL, "invalid argument", NULL);
    status = promrw_sender_sync(NULL, 10);
    expect("NULL sender (sync)", status, PROMRW_INVALID_ARGUMENT, NULL, "invalid argument", NULL);
    check("promrw_error_message(NULL) is NULL", promrw_error_message(NULL) == NULL);
    check("promrw_error_code(NULL) is INVALID_ARGUMENT",
          promrw_error_code(NULL) == PROMRW_INVALID_ARGUMENT);
    promrw_sender_free(NULL);
    promrw_config_free(NULL);
    promrw_error_free(NULL);
    check("freeing NULL handles is fine", 1);
    check("unknown status has a name", strcmp(promrw_status_str(12345), "unknown status") == 0);

    /* Label errors, out of order, a too-small buffer: on a sender that works. */
    sender = make_sender(argv[1], "      batch_send_deadline: 50ms\n", &cfg);
    status = promrw_sender_series(sender, NULL, 2, &ref, &err);
    expect("NULL labels with n = 2", status, PROMRW_INVALID_ARGUMENT, err, "labels is NULL", NULL);
    err = NULL;
    labels[0] = label("__name__", "c_errors");
    status = promrw_sender_series(sender, labels, 1, NULL, &err);
    expect("NULL out (series)", status, PROMRW_INVALID_ARGUMENT, err, "out is NULL", NULL);
    err = NULL;
    labels[1] = label("1bad-name", "x");
    status = promrw_sender_series(sender, labels, 2, &ref, &err);
    expect("bad label name", status, PROMRW_INVALID_LABELS, err, "invalid label name",
           "1bad-name");
    err = NULL;
    labels[1] = label("job", "a");
    labels[2] = label("job", "b");
    status = promrw_sender_series(sender, labels, 3, &ref, &err);
    expect("duplicate labels", status, PROMRW_INVALID_LABELS, err, "duplicate label name",
           "job");
    err = NULL;
    labels[1] = label("job", "\xc3\x28");
    status = promrw_sender_series(sender, labels, 2, &ref, &err);
    expect("label value not UTF-8", status, PROMRW_INVALID_LABELS, err, "label 1", "UTF-8");
    err = NULL;
    check("no series written on failure", ref == 0);

    /* A label unique to this run, so that runs never repeat a series' timestamps. */
    snprintf(run, sizeof run, "%ld-%ld", (long)getpid(), (long)time(NULL));
    labels[1] = label("job", "errors");
    labels[2] = label("run", run);
    status = promrw_sender_series(sender, labels, 3, &series, &err);
    expect("valid series", status, PROMRW_OK, err, NULL, NULL);
    err = NULL;
    status = promrw_sender_append(sender, series, now_ms, 1.0);
    expect("first append", status, PROMRW_OK, NULL, NULL, NULL);
    status = promrw_sender_append(sender, series, now_ms, 2.0);
    expect("same timestamp again", status, PROMRW_OUT_OF_ORDER, NULL, "out of order", NULL);
    status = promrw_sender_append(sender, series, now_ms - 1, 2.0);
    expect("older timestamp", status, PROMRW_OUT_OF_ORDER, NULL, "out of order", NULL);
    status = promrw_sender_append(sender, 987654321, now_ms, 2.0);
    expect("unknown series", status, PROMRW_UNKNOWN_SERIES, NULL, "unknown series", NULL);
    status = promrw_sender_metrics_text(sender, small, sizeof small, &len);
    expect("metrics text in 4 bytes", status, PROMRW_BUFFER_TOO_SMALL, NULL, "buffer too small",
           NULL);
    check("needed size reported", len > sizeof small);
    status = promrw_sender_flush(sender, 10000);
    expect("flush", status, PROMRW_OK, NULL, NULL, NULL);
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(sender, &stats);
    expect("stats", status, PROMRW_OK, NULL, NULL, NULL);
    check("stats sets struct_size to what it wrote", stats.struct_size == sizeof stats);
    check("rejected_out_of_order == 2", stats.rejected_out_of_order == 2);
    check("rejected_unknown_series == 1", stats.rejected_unknown_series == 1);
    check("samples_acked == 1", stats.samples_acked == 1);
    sent += stats.samples_acked;
    status = promrw_sender_close(sender, 5000);
    expect("close", status, PROMRW_OK, NULL, NULL, NULL);
    status = promrw_sender_append(sender, series, now_ms + 1, 1.0);
    expect("append after close", status, PROMRW_CLOSED, NULL, "closed", NULL);
    status = promrw_sender_series(sender, labels, 2, &ref, &err);
    expect("series after close", status, PROMRW_CLOSED, err, "closed", NULL);
    err = NULL;
    status = promrw_sender_sync(sender, 5000);
    expect("sync after close", status, PROMRW_CLOSED, NULL, "closed", NULL);
    status = promrw_sender_close(sender, 5000);
    expect("close twice", status, PROMRW_CLOSED, NULL, "closed", NULL);

    /* A full queue under the `fail` policy: nothing listens, so nothing drains. */
    dead = make_sender(DEAD_URL,
                       "      capacity: 10\n"
                       "      max_samples_per_send: 5\n"
                       "      min_backoff: 10ms\n"
                       "      max_backoff: 50ms\n"
                       "      overflow: fail\n",
                       &dead_cfg);
    status = promrw_sender_series(dead, labels, 2, &series, &err);
    expect("series (dead endpoint)", status, PROMRW_OK, err, NULL, NULL);
    err = NULL;
    appended = 0;
    for (;;) {
        status = promrw_sender_append(dead, series, now_ms + appended, 1.0);
        if (status != PROMRW_OK || appended >= 100)
            break;
        appended++;
    }
    expect("append to a full queue", status, PROMRW_QUEUE_FULL, NULL, "queue full", NULL);
    check("10..15 samples fit before the queue is full", appended >= 10 && appended <= 15);
    for (i = 0; i < 20; i++) {
        batch[i].series = series;
        batch[i].timestamp_ms = now_ms + appended + i;
        batch[i].value = (double)i;
    }
    status = promrw_sender_append_batch(dead, batch, 20, &accepted);
    expect("batch to a full queue", status, PROMRW_QUEUE_FULL, NULL, "queue full", NULL);
    check("the batch stopped before its end", accepted < 20);
    status = promrw_sender_append_batch(dead, batch, 20, NULL);
    expect("NULL accepted_out", status, PROMRW_INVALID_ARGUMENT, NULL, "invalid argument", NULL);
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(dead, &stats);
    expect("stats (dead endpoint)", status, PROMRW_OK, NULL, NULL, NULL);
    check("rejected_queue_full == 2", stats.rejected_queue_full == 2);
    check("samples_acked == 0", stats.samples_acked == 0);
    check("samples_pending > 0", stats.samples_pending > 0);
    /* Memory mode: sync returns OK at once, though nothing queued can be delivered (a sync
     * that waited for delivery would take its whole 20 s). */
    started_ms = monotonic_ms();
    status = promrw_sender_sync(dead, 20000);
    took_ms = monotonic_ms() - started_ms;
    expect("sync in memory mode", status, PROMRW_OK, NULL, NULL, NULL);
    printf("     sync took %.1f ms\n", took_ms);
    check("sync in memory mode returns at once (< 5 s)", took_ms < 5000.0);
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(dead, &stats);
    expect("stats after sync", status, PROMRW_OK, NULL, NULL, NULL);
    check("sync delivered nothing (samples_acked == 0)", stats.samples_acked == 0);
    check("samples still pending after sync", stats.samples_pending > 0);
    status = promrw_sender_close(dead, 200);
    expect("close with unsent samples", status, PROMRW_TIMEOUT, NULL, "timeout", NULL);

    /* The final counts stay readable after close. */
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(dead, &stats);
    expect("stats after close", status, PROMRW_OK, NULL, NULL, NULL);
    check("samples_failed counts the abandoned samples", stats.samples_failed > 0);
    report.struct_size = sizeof report;
    status = promrw_sender_last_report(dead, PROMRW_ALL_ENDPOINTS, &report);
    expect("report of the timed-out close", status, PROMRW_OK, NULL, NULL, NULL);
    check("the report says it timed out", report.timed_out == 1);
    check("the report counts the abandoned samples", report.samples_failed == stats.samples_failed);
    check("a refused connection has no HTTP status", report.last_http_status == 0);

    /* A receiver that rejects everything with 404: flush and close say samples were lost. */
    rejecting = make_sender(argv[2], "      batch_send_deadline: 50ms\n", &reject_cfg);
    status = promrw_sender_series(rejecting, labels, 2, &series, &err);
    expect("series (rejecting endpoint)", status, PROMRW_OK, err, NULL, NULL);
    err = NULL;
    for (i = 0; i < 5; i++)
        promrw_sender_append(rejecting, series, now_ms + i, 1.0);
    status = promrw_sender_flush(rejecting, 10000);
    expect("flush after a 404", status, PROMRW_SAMPLES_LOST, NULL, "samples lost", NULL);
    report.struct_size = sizeof report;
    status = promrw_sender_last_report(rejecting, 0, &report);
    expect("report of endpoint 0", status, PROMRW_OK, NULL, NULL, NULL);
    check("5 samples failed", report.samples_failed == 5);
    check("last HTTP status is 404", report.last_http_status == 404);
    status = promrw_sender_last_report_text(rejecting, 0, text, sizeof text, &len);
    expect("report text of endpoint 0", status, PROMRW_OK, NULL, NULL, NULL);
    check("the text has the receiver's body", strstr(text, "--reject-with") != NULL);
    printf("     last error: %s\n", text);
    status = promrw_sender_flush(rejecting, 10000);
    expect("flush with nothing new lost", status, PROMRW_OK, NULL, NULL, NULL);
    promrw_sender_append(rejecting, series, now_ms + 10, 1.0);
    status = promrw_sender_close(rejecting, 10000);
    expect("close after a 404", status, PROMRW_SAMPLES_LOST, NULL, "samples lost", NULL);
    status = promrw_sender_last_report_text(rejecting, PROMRW_ALL_ENDPOINTS, text, sizeof text,
                                            &len);
    expect("report text of the close", status, PROMRW_OK, NULL, NULL, NULL);
    check("the close's text counts 1 failed", strstr(text, "1 failed") != NULL);
    stats.struct_size = 0; /* must be sizeof(promrw_stats) */
    status = promrw_sender_stats(rejecting, &stats);
    expect("stats with struct_size 0", status, PROMRW_INVALID_ARGUMENT, NULL, "invalid argument", NULL);
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(rejecting, &stats);
    expect("stats of the rejecting endpoint", status, PROMRW_OK, NULL, NULL, NULL);
    check("each rejected sample failed (5 + 1)", stats.samples_failed == 6);
    check("rejected batches' bytes count in bytes_total", stats.bytes_total > 0);
    check("nothing acknowledged", stats.samples_acked == 0 && stats.highest_sent_ms == 0);
    status = promrw_sender_append(rejecting, series, now_ms + 11, 1.0);
    expect("append after close", status, PROMRW_CLOSED, NULL, "closed", NULL);
    status = promrw_sender_stats(rejecting, &stats);
    expect("stats after an append after close", status, PROMRW_OK, NULL, NULL, NULL);
    check("the refused sample is counted", stats.rejected_closed == 1);

    promrw_sender_free(rejecting);
    promrw_config_free(reject_cfg);
    promrw_sender_free(dead);
    promrw_config_free(dead_cfg);
    promrw_sender_free(sender);
    promrw_config_free(cfg);

    if (failures != 0) {
        fprintf(stderr, "errors: %d check(s) failed\n", failures);
        return 1;
    }
    printf("samples_acked=%llu\n", sent);
    return 0;
}
