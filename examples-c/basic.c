/*
 * basic.c: the whole life of a promrw sender from C.
 *
 * Usage: basic URL
 *   URL  a Remote Write endpoint, e.g. http://127.0.0.1:9201/api/v1/write
 *
 * Reads the configuration from YAML, registers two series (labels as pointer + length),
 * appends samples, marks one series stale, flushes, checks and prints the counters and the
 * self-metrics text, closes and frees everything. Exits 0 only when every sample was
 * acknowledged by the receiver. The last line is "samples_acked=N" for .ci/c-abi.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <promrw.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_SAMPLES 10

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
    fprintf(stderr, "basic: %s failed: %s (%u): %s\n", what, promrw_status_str(status),
            (unsigned)status, err ? promrw_error_message(err) : "(no message)");
    promrw_error_free(err);
}

int main(int argc, char **argv)
{
    char yaml[1024];
    promrw_config *cfg = NULL;
    promrw_sender *sender = NULL;
    promrw_error *err = NULL;
    promrw_series_ref up = 0, temp = 0;
    promrw_label up_labels[4], temp_labels[4];
    char run[64];
    promrw_stats stats;
    promrw_status status;
    char *text = NULL;
    size_t len = 0;
    int64_t now_ms;
    int i, rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    printf("promrw %s (header %d.%d.%d)\n", promrw_version(), PROMRW_VERSION_MAJOR,
           PROMRW_VERSION_MINOR, PROMRW_VERSION_PATCH);

    snprintf(yaml, sizeof yaml,
             "remote_write:\n"
             "  - url: %s\n"
             "    queue_config:\n"
             "      min_shards: 2\n"
             "      batch_send_deadline: 50ms\n"
             "external_labels:\n"
             "  cluster: c-example\n",
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

    /* A label unique to this run, so that runs never repeat a series' timestamps. */
    snprintf(run, sizeof run, "%ld-%ld", (long)getpid(), (long)time(NULL));
    up_labels[0] = label("__name__", "c_example_up");
    up_labels[1] = label("job", "basic");
    up_labels[2] = label("instance", "localhost");
    temp_labels[0] = label("__name__", "c_example_temperature_celsius");
    temp_labels[1] = label("job", "basic");
    temp_labels[2] = label("room", "lab");
    up_labels[3] = label("run", run);
    temp_labels[3] = label("run", run);
    status = promrw_sender_series(sender, up_labels, 4, &up, &err);
    if (status != PROMRW_OK) {
        report("promrw_sender_series(up)", status, err);
        goto out;
    }
    status = promrw_sender_series(sender, temp_labels, 4, &temp, &err);
    if (status != PROMRW_OK) {
        report("promrw_sender_series(temp)", status, err);
        goto out;
    }

    now_ms = (int64_t)time(NULL) * 1000 - 60000;
    for (i = 0; i < N_SAMPLES; i++) {
        status = promrw_sender_append(sender, up, now_ms + i * 1000, 1.0);
        if (status == PROMRW_OK)
            status = promrw_sender_append(sender, temp, now_ms + i * 1000, 20.0 + i * 0.5);
        if (status != PROMRW_OK) {
            report("promrw_sender_append", status, NULL);
            goto out;
        }
    }
    /* The temperature series ends: a stale marker tells receivers so. */
    status = promrw_sender_append_stale(sender, temp, now_ms + N_SAMPLES * 1000);
    if (status != PROMRW_OK) {
        report("promrw_sender_append_stale", status, NULL);
        goto out;
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
    printf("appended=%llu acked=%llu failed=%llu batches=%llu bytes=%llu series=%llu\n",
           (unsigned long long)stats.samples_appended, (unsigned long long)stats.samples_acked,
           (unsigned long long)stats.samples_failed, (unsigned long long)stats.batches_acked,
           (unsigned long long)stats.bytes_total, (unsigned long long)stats.series);
    if (stats.samples_appended != 2 * N_SAMPLES + 1 || stats.samples_acked != 2 * N_SAMPLES + 1 ||
        stats.samples_failed != 0 || stats.series != 2) {
        fprintf(stderr, "basic: expected %d samples appended and sent and 2 series\n",
                2 * N_SAMPLES + 1);
        goto out;
    }

    /* Self-metrics: ask for the size, allocate with some slack, retry if it grew meanwhile. */
    status = promrw_sender_metrics_text(sender, NULL, 0, &len);
    while (status == PROMRW_BUFFER_TOO_SMALL) {
        char *bigger = realloc(text, len + 256);
        if (bigger == NULL) {
            fprintf(stderr, "basic: out of memory\n");
            goto out;
        }
        text = bigger;
        status = promrw_sender_metrics_text(sender, text, len + 256, &len);
    }
    if (status != PROMRW_OK) {
        report("promrw_sender_metrics_text", status, NULL);
        goto out;
    }
    if (strlen(text) != len || strstr(text, "promrw_samples_appended_total 21\n") == NULL) {
        fprintf(stderr, "basic: unexpected metrics text:\n%s\n", text);
        goto out;
    }
    printf("--- metrics text (%lu bytes) ---\n%s--- end ---\n", (unsigned long)len, text);

    status = promrw_sender_close(sender, 5000);
    if (status != PROMRW_OK) {
        report("promrw_sender_close", status, NULL);
        goto out;
    }
    printf("samples_acked=%llu\n", (unsigned long long)stats.samples_acked);
    rc = 0;

out:
    free(text);
    promrw_sender_free(sender);
    promrw_config_free(cfg);
    return rc;
}
