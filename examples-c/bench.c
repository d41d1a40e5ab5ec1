/*
 * bench.c: the cost of promrw_sender_append and promrw_sender_append_batch, seen from C.
 *
 * Usage: bench URL
 *   URL is a Remote Write receiver, e.g. the one `promrw sink --listen 127.0.0.1:0 --quiet`
 *   prints. Build with `make bench` (static, like the other examples).
 *
 * A benchmark, not a test: it prints figures. It exits 1 only when the pipeline lost samples
 * (samples_acked after a flush differs from what was appended) or a call failed.
 *
 * Workload W1 (as src/workload.rs): 10,000 series of 8 labels (__name__ from 100 names, job,
 * instance, region, pod, container, method, code), registered before any timing.
 *
 *   phase 1: promrw_sender_append, 100 rounds x 10,000 series = 1,000,000 calls.
 *   phase 2: promrw_sender_append_batch, batches of 1,000 prebuilt samples (the next 100
 *            rounds' timestamps) = 1,000,000 samples in 1,000 calls.
 *
 * Only the append loop is timed: CLOCK_MONOTONIC (wall) and CLOCK_THREAD_CPUTIME_ID (CPU of
 * the calling thread; time spent blocked under the `block` overflow policy is not CPU time).
 * Each phase is followed by an untimed flush and a check of promrw_sender_stats.
 *
 * Baseline, measured in the same run just before each phase: the same loop calling a trivial
 * non-inlined C function with the same arguments through a function pointer held in a volatile
 * variable (for the batch phase the function reads every sample of the batch). Figures are
 * also given as ratios to it.
 */
#define _POSIX_C_SOURCE 200809L

#include <promrw.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERIES 10000
#define ROUNDS 100
#define STEP_MS 1000
#define BATCH 1000
#define LABELS 8
#define LABEL_TEXT 64

#define TARGET_APPEND_NS 60.0
#define TARGET_BATCH_NS 25.0

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

typedef promrw_status (*append_fn)(const promrw_sender *, promrw_series_ref, int64_t, double);
typedef promrw_status (*append_batch_fn)(const promrw_sender *, const promrw_sample *, size_t,
                                         size_t *);

/* The baselines: trivial, never inlined, called through volatile function pointers. */
static volatile uint64_t baseline_sink;

static NOINLINE promrw_status baseline_append_impl(const promrw_sender *s,
                                                   promrw_series_ref series,
                                                   int64_t timestamp_ms, double value)
{
    (void)s;
    (void)timestamp_ms;
    (void)value;
    return series == 0 ? PROMRW_INVALID_ARGUMENT : PROMRW_OK;
}

static NOINLINE promrw_status baseline_append_batch_impl(const promrw_sender *s,
                                                         const promrw_sample *samples,
                                                         size_t n, size_t *accepted_out)
{
    uint64_t acc = 0;
    size_t k;
    (void)s;
    for (k = 0; k < n; k++)
        acc ^= samples[k].series ^ (uint64_t)samples[k].timestamp_ms;
    baseline_sink = acc;
    *accepted_out = n;
    return PROMRW_OK;
}

static append_fn volatile baseline_append = baseline_append_impl;
static append_batch_fn volatile baseline_append_batch = baseline_append_batch_impl;

struct times {
    double wall_ns;
    double cpu_ns;
};

static double ts_ns(const struct timespec *t)
{
    return (double)t->tv_sec * 1e9 + (double)t->tv_nsec;
}

static void now(struct timespec *wall, struct timespec *cpu)
{
    clock_gettime(CLOCK_MONOTONIC, wall);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, cpu);
}

static struct times since(const struct timespec *wall0, const struct timespec *cpu0)
{
    struct timespec wall1, cpu1;
    struct times t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
    clock_gettime(CLOCK_MONOTONIC, &wall1);
    t.wall_ns = ts_ns(&wall1) - ts_ns(wall0);
    t.cpu_ns = ts_ns(&cpu1) - ts_ns(cpu0);
    return t;
}

static double value_of(int i, int round)
{
    return (double)i * 0.5 + (double)round * 3.0;
}

/* Phase 1 loop, through `fn` (promrw_sender_append or the baseline). */
static int append_loop(append_fn fn, const promrw_sender *s, const promrw_series_ref *refs,
                       int64_t t0, int first_round, struct times *out)
{
    struct timespec wall0, cpu0;
    promrw_status status = PROMRW_OK;
    int r, i;
    now(&wall0, &cpu0);
    for (r = first_round; r < first_round + ROUNDS; r++) {
        int64_t ts = t0 + (int64_t)r * STEP_MS;
        for (i = 0; i < SERIES; i++) {
            status = fn(s, refs[i], ts, value_of(i, r));
            if (status != PROMRW_OK)
                goto done;
        }
    }
done:
    *out = since(&wall0, &cpu0);
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench: append: %s (round %d)\n", promrw_status_str(status), r);
        return -1;
    }
    return 0;
}

/* Phase 2 loop, through `fn` (promrw_sender_append_batch or the baseline). */
static int batch_loop(append_batch_fn fn, const promrw_sender *s, const promrw_sample *samples,
                      size_t total, struct times *out)
{
    struct timespec wall0, cpu0;
    promrw_status status = PROMRW_OK;
    size_t off, accepted = 0;
    now(&wall0, &cpu0);
    for (off = 0; off < total; off += BATCH) {
        status = fn(s, samples + off, BATCH, &accepted);
        if (status != PROMRW_OK || accepted != BATCH)
            break;
    }
    *out = since(&wall0, &cpu0);
    if (status != PROMRW_OK || off < total) {
        fprintf(stderr, "bench: append_batch: %s, %lu of %d accepted (batch at sample %lu)\n",
                promrw_status_str(status), (unsigned long)accepted, BATCH, (unsigned long)off);
        return -1;
    }
    return 0;
}

/* Flushes (untimed) and checks that everything appended so far was acknowledged. */
static int flush_and_check(const promrw_sender *s, const char *phase, unsigned long long expect,
                           promrw_stats *stats)
{
    struct timespec wall0, cpu0;
    struct times t;
    promrw_status status;
    now(&wall0, &cpu0);
    status = promrw_sender_flush(s, 120000);
    t = since(&wall0, &cpu0);
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench: %s: flush: %s\n", phase, promrw_status_str(status));
        return -1;
    }
    stats->struct_size = sizeof *stats;
    status = promrw_sender_stats(s, stats);
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench: %s: stats: %s\n", phase, promrw_status_str(status));
        return -1;
    }
    printf("  after %s: flush %.1f ms (untimed); appended=%llu acked=%llu failed=%llu "
           "batches_acked=%llu enqueue_retries=%llu\n",
           phase, t.wall_ns / 1e6, (unsigned long long)stats->samples_appended,
           (unsigned long long)stats->samples_acked, (unsigned long long)stats->samples_failed,
           (unsigned long long)stats->batches_acked, (unsigned long long)stats->enqueue_retries);
    if (stats->samples_appended != expect || stats->samples_acked != expect ||
        stats->samples_failed != 0 || stats->samples_dropped_queue_full != 0 ||
        stats->samples_dropped_too_old != 0) {
        fprintf(stderr,
                "bench: %s: expected %llu samples appended and sent, none failed or dropped\n",
                phase, expect);
        return -1;
    }
    return 0;
}

static void report(const char *what, const char *unit, unsigned long long count,
                   const struct times *promrw, const struct times *base, double target)
{
    double wall = promrw->wall_ns / (double)count, cpu = promrw->cpu_ns / (double)count;
    double bwall = base->wall_ns / (double)count, bcpu = base->cpu_ns / (double)count;
    printf("  %-28s wall %9.2f ns/%s   thread CPU %9.2f ns/%s\n", what, wall, unit, cpu, unit);
    printf("  %-28s wall %9.2f ns/%s   thread CPU %9.2f ns/%s\n", "baseline (noinline C call)",
           bwall, unit, bcpu, unit);
    printf("  %-28s wall %9.1fx            thread CPU %9.1fx\n", "ratio promrw/baseline",
           wall / bwall, cpu / bcpu);
    printf("  target <= %.0f ns/%s: wall %s, thread CPU %s\n", target, unit,
           wall <= target ? "MET" : "NOT MET", cpu <= target ? "MET" : "NOT MET");
}

int main(int argc, char **argv)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    static const char *const codes[] = {"200", "201", "404", "500", "503"};
    static const char *const regions[] = {"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"};
    static const char *const names[LABELS] = {"__name__", "job",       "instance", "region",
                                              "pod",      "container", "method",   "code"};
    char yaml[1024];
    char text[LABELS][LABEL_TEXT];
    promrw_label labels[LABELS];
    promrw_config *cfg = NULL;
    promrw_sender *sender = NULL;
    promrw_error *err = NULL;
    promrw_status status;
    promrw_stats stats;
    promrw_series_ref *refs = NULL;
    promrw_sample *samples = NULL;
    struct times t_append, t_base_append, t_batch, t_base_batch;
    unsigned long long retries_before;
    const size_t total = (size_t)SERIES * ROUNDS;
    int64_t t0;
    int i, j, r, rc = 1;
    size_t k;

    if (argc != 2) {
        fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    snprintf(yaml, sizeof yaml,
             "remote_write:\n"
             "  - url: %s\n"
             "    queue_config:\n"
             "      capacity: 100000\n"
             "      max_samples_per_send: 2000\n"
             "      min_shards: 1\n"
             "      overflow: block\n",
             argv[1]);
    refs = calloc(SERIES, sizeof *refs);
    samples = malloc(total * sizeof *samples);
    if (refs == NULL || samples == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        goto out;
    }
    status = promrw_config_from_yaml(yaml, strlen(yaml), &cfg, &err);
    if (status == PROMRW_OK)
        status = promrw_sender_new(cfg, &sender, &err);
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench: setup failed: %s: %s\n", promrw_status_str(status),
                err ? promrw_error_message(err) : "");
        goto out;
    }

    /* Register W1's 10,000 series (untimed). */
    for (i = 0; i < SERIES; i++) {
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
        status = promrw_sender_series(sender, labels, LABELS, &refs[i], &err);
        if (status != PROMRW_OK) {
            fprintf(stderr, "bench: series %d: %s: %s\n", i, promrw_status_str(status),
                    promrw_error_message(err));
            goto out;
        }
    }

    /* 200 rounds 1 s apart, ending at least 1 s before now. */
    t0 = ((int64_t)time(NULL) - 2 * ROUNDS - 1) * 1000;
    /* Phase 2's samples, prebuilt (untimed): rounds ROUNDS .. 2*ROUNDS-1. */
    for (k = 0, r = ROUNDS; r < 2 * ROUNDS; r++) {
        for (i = 0; i < SERIES; i++, k++) {
            samples[k].series = refs[i];
            samples[k].timestamp_ms = t0 + (int64_t)r * STEP_MS;
            samples[k].value = value_of(i, r);
        }
    }

    printf("promrw %s C ABI bench: %d series x %d rounds per phase, 1 shard, capacity 100000, "
           "max_samples_per_send 2000, overflow block\n",
           promrw_version(), SERIES, ROUNDS);

    /* Phase 1: promrw_sender_append. */
    if (append_loop(baseline_append, sender, refs, t0, 0, &t_base_append) != 0)
        goto out;
    stats.struct_size = sizeof stats;
    if (promrw_sender_stats(sender, &stats) != PROMRW_OK)
        goto out;
    retries_before = stats.enqueue_retries;
    if (append_loop(promrw_sender_append, sender, refs, t0, 0, &t_append) != 0)
        goto out;
    printf("phase 1: promrw_sender_append, %lu calls (1 sample each)\n", (unsigned long)total);
    if (flush_and_check(sender, "phase 1", total, &stats) != 0)
        goto out;
    printf("  appends that blocked on a full queue (enqueue_retries): %llu\n",
           (unsigned long long)(stats.enqueue_retries - retries_before));
    report("promrw_sender_append", "call", total, &t_append, &t_base_append, TARGET_APPEND_NS);

    /* Phase 2: promrw_sender_append_batch. */
    if (batch_loop(baseline_append_batch, sender, samples, total, &t_base_batch) != 0)
        goto out;
    retries_before = stats.enqueue_retries;
    if (batch_loop(promrw_sender_append_batch, sender, samples, total, &t_batch) != 0)
        goto out;
    printf("phase 2: promrw_sender_append_batch, %lu samples in batches of %d\n",
           (unsigned long)total, BATCH);
    if (flush_and_check(sender, "phase 2", 2 * (unsigned long long)total, &stats) != 0)
        goto out;
    printf("  samples that blocked on a full queue (enqueue_retries): %llu\n",
           (unsigned long long)(stats.enqueue_retries - retries_before));
    report("promrw_sender_append_batch", "sample", total, &t_batch, &t_base_batch,
           TARGET_BATCH_NS);

    status = promrw_sender_close(sender, 10000);
    if (status != PROMRW_OK) {
        fprintf(stderr, "bench: close: %s\n", promrw_status_str(status));
        goto out;
    }
    printf("samples_acked=%llu\n", (unsigned long long)stats.samples_acked);
    rc = 0;

out:
    promrw_error_free(err);
    promrw_sender_free(sender);
    promrw_config_free(cfg);
    free(samples);
    free(refs);
    return rc;
}
