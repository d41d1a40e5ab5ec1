/*
 * bench_e2e.c: the whole CPU cost of sending W1 through the C ABI, end to end.
 *
 * Usage: bench_e2e URL [LABEL [T0_MS]]
 *   URL is a Remote Write receiver, e.g. the one `promrw sink --listen 127.0.0.1:0 --quiet`
 *   prints. LABEL (optional) is printed at the start of the result line, so a script running
 *   it against fresh and warm receivers can tell the lines apart. T0_MS (optional) is the
 *   first round's timestamp in ms since the epoch (default: 101 s before now); a script that
 *   sends several runs to one receiver gives each run later timestamps than the last, so the
 *   receiver stores every run's samples as new ones. Build with `make bench_e2e`
 *   (static, like the other examples). scripts/bench-e2e.sh runs it against fresh and warm
 *   receivers and prints the ratio (docs/BENCHMARKS.md, "CPU per sample and the receiver's
 *   pace").
 *
 * A benchmark, not a test: it prints figures. It exits 1 only when a call failed or the
 * pipeline lost samples (samples_acked after the flush differs from what was appended).
 *
 * Workload W1 (as src/workload.rs): 10,000 series of 8 labels, 100 rounds 1 s apart =
 * 1,000,000 samples, appended with promrw_sender_append_batch in batches of 1,000, with the
 * default queue_config (only the URL is configured).
 *
 * Measured: the CPU time of the whole process (getrusage(RUSAGE_SELF): user + system, every
 * thread: the caller's and promrw's shard threads) and the wall time, from before the config
 * is parsed until promrw_sender_close has returned: config, sender start, registration of
 * the 10,000 series, the appends, the flush and the close. The receiver runs in another
 * process and is not counted. The samples are prebuilt before the clock starts.
 */
#define _POSIX_C_SOURCE 200809L

#include <promrw.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define SERIES 10000
#define ROUNDS 100
#define STEP_MS 1000
#define BATCH 1000
#define LABELS 8
#define LABEL_TEXT 64

static double process_cpu_ns(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return ((double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec) * 1e9 +
           ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) * 1e3;
}

static double wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* W1's labels of series i, written into text and pointed at by labels. */
static void w1_labels(int i, char text[LABELS][LABEL_TEXT], promrw_label *labels)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    static const char *const codes[] = {"200", "201", "404", "500", "503"};
    static const char *const regions[] = {"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"};
    static const char *const names[LABELS] = {"__name__", "job",       "instance", "region",
                                              "pod",      "container", "method",   "code"};
    int j;
    snprintf(text[0], LABEL_TEXT, "http_server_requests_metric_%03d_total", i % 100);
    snprintf(text[1], LABEL_TEXT, "payments-api-%d", i % 7);
    snprintf(text[2], LABEL_TEXT, "10.%d.%d.%d:9100", (i / 65536) % 256, (i / 256) % 256,
             i % 256);
    snprintf(text[3], LABEL_TEXT, "%s", regions[i % 4]);
    snprintf(text[4], LABEL_TEXT, "payments-api-deployment-7d9f8c6b5-%05d", i / 5);
    snprintf(text[5], LABEL_TEXT, "payments-container-%d", i % 3);
    snprintf(text[6], LABEL_TEXT, "%s", methods[i % 4]);
    snprintf(text[7], LABEL_TEXT, "%s", codes[i % 5]);
    for (j = 0; j < LABELS; j++) {
        labels[j].name = names[j];
        labels[j].name_len = strlen(names[j]);
        labels[j].value = text[j];
        labels[j].value_len = strlen(text[j]);
    }
}

int main(int argc, char **argv)
{
    char yaml[512];
    char text[LABELS][LABEL_TEXT];
    promrw_label labels[LABELS];
    promrw_config *cfg = NULL;
    promrw_sender *sender = NULL;
    promrw_error *err = NULL;
    promrw_status status;
    promrw_stats stats;
    promrw_series_ref *refs = NULL;
    promrw_sample *samples = NULL;
    const size_t total = (size_t)SERIES * ROUNDS;
    const char *label = argc > 2 ? argv[2] : "run";
    double cpu0, wall0, cpu, wall;
    size_t k, off, accepted = 0;
    int64_t t0;
    int i, r, rc = 1;

    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s URL [LABEL [T0_MS]]\n", argv[0]);
        return 2;
    }
    snprintf(yaml, sizeof yaml, "remote_write:\n  - url: %s\n", argv[1]);
    refs = calloc(SERIES, sizeof *refs);
    samples = malloc(total * sizeof *samples);
    if (refs == NULL || samples == NULL) {
        fprintf(stderr, "bench_e2e: out of memory\n");
        goto out;
    }
    /* 100 rounds 1 s apart, by default ending at least 1 s before now. The series refs are filled in
     * after registration; the timestamps and values are prebuilt here, untimed. */
    t0 = argc > 3 ? (int64_t)strtoll(argv[3], NULL, 10) : ((int64_t)time(NULL) - ROUNDS - 1) * 1000;
    for (k = 0, r = 0; r < ROUNDS; r++) {
        for (i = 0; i < SERIES; i++, k++) {
            samples[k].timestamp_ms = t0 + (int64_t)r * STEP_MS;
            samples[k].value = (double)i * 0.5 + (double)r * 3.0;
        }
    }

    cpu0 = process_cpu_ns();
    wall0 = wall_ns();
    status = promrw_config_from_yaml(yaml, strlen(yaml), &cfg, &err);
    if (status == PROMRW_OK)
        status = promrw_sender_new(cfg, &sender, &err);
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench_e2e: setup failed: %s: %s\n", promrw_status_str(status),
                err ? promrw_error_message(err) : "");
        goto out;
    }
    for (i = 0; i < SERIES; i++) {
        w1_labels(i, text, labels);
        status = promrw_sender_series(sender, labels, LABELS, &refs[i], &err);
        if (status != PROMRW_OK) {
            fprintf(stderr, "bench_e2e: series %d: %s: %s\n", i, promrw_status_str(status),
                    promrw_error_message(err));
            goto out;
        }
    }
    for (k = 0; k < total; k++)
        samples[k].series = refs[k % SERIES];
    for (off = 0; off < total; off += BATCH) {
        status = promrw_sender_append_batch(sender, samples + off, BATCH, &accepted);
        if (status != PROMRW_OK || accepted != BATCH) {
            fprintf(stderr, "bench_e2e: append_batch: %s, %lu of %d accepted at sample %lu\n",
                    promrw_status_str(status), (unsigned long)accepted, BATCH,
                    (unsigned long)off);
            goto out;
        }
    }
    status = promrw_sender_flush(sender, 120000);
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench_e2e: flush: %s\n", promrw_status_str(status));
        goto out;
    }
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(sender, &stats);
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench_e2e: stats: %s\n", promrw_status_str(status));
        goto out;
    }
    status = promrw_sender_close(sender, 10000);
    cpu = process_cpu_ns() - cpu0;
    wall = wall_ns() - wall0;
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench_e2e: close: %s\n", promrw_status_str(status));
        goto out;
    }
    if (stats.samples_acked != total || stats.samples_failed != 0 ||
        stats.samples_dropped_queue_full != 0 || stats.samples_dropped_too_old != 0) {
        fprintf(stderr,
                "bench_e2e: expected %lu samples acknowledged, got acked=%llu failed=%llu "
                "dropped_queue_full=%llu dropped_too_old=%llu\n",
                (unsigned long)total, (unsigned long long)stats.samples_acked,
                (unsigned long long)stats.samples_failed,
                (unsigned long long)stats.samples_dropped_queue_full,
                (unsigned long long)stats.samples_dropped_too_old);
        goto out;
    }
    printf("%s: promrw %s W1 %lu samples: process CPU %.3f us/sample, wall %.1f ms, "
           "batches_acked=%llu enqueue_retries=%llu\n",
           label, promrw_version(), (unsigned long)total, cpu / 1e3 / (double)total, wall / 1e6,
           (unsigned long long)stats.batches_acked, (unsigned long long)stats.enqueue_retries);
    rc = 0;

out:
    promrw_error_free(err);
    promrw_sender_free(sender);
    promrw_config_free(cfg);
    free(samples);
    free(refs);
    return rc;
}
