/*
 * threads.c: one sender shared by several threads, appending in batches.
 *
 * Usage: threads URL [THREADS [SAMPLES_PER_THREAD]]
 *   defaults: 4 threads x 250000 samples (1,000,000 in all), in batches of 1000.
 *
 * Each thread registers its own series and appends its samples through
 * promrw_sender_append_batch. After a flush the program checks that the receiver
 * acknowledged every sample (stats.samples_acked == THREADS * SAMPLES_PER_THREAD) and exits 1
 * otherwise. The last line is "samples_acked=N" for .ci/c-abi.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <promrw.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1000
#define MAX_THREADS 64

struct worker {
    const promrw_sender *sender; /* shared: a sender may be used from many threads */
    int index;
    long samples;
    int64_t start_ms;
    const char *run;
    int failed;
    char message[256];
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    promrw_sample batch[BATCH];
    promrw_label labels[3];
    promrw_series_ref series = 0;
    promrw_error *err = NULL;
    promrw_status status;
    char worker_name[16];
    long done = 0;

    snprintf(worker_name, sizeof worker_name, "w%d", w->index);
    labels[0].name = "__name__";
    labels[0].name_len = strlen("__name__");
    labels[0].value = "c_example_thread_samples";
    labels[0].value_len = strlen("c_example_thread_samples");
    labels[1].name = "worker";
    labels[1].name_len = strlen("worker");
    labels[1].value = worker_name; /* borrowed for the call only */
    labels[1].value_len = strlen(worker_name);
    labels[2].name = "run";
    labels[2].name_len = strlen("run");
    labels[2].value = w->run;
    labels[2].value_len = strlen(w->run);
    status = promrw_sender_series(w->sender, labels, 3, &series, &err);
    if (status != PROMRW_OK) {
        snprintf(w->message, sizeof w->message, "series: %s: %s", promrw_status_str(status),
                 promrw_error_message(err));
        promrw_error_free(err);
        w->failed = 1;
        return NULL;
    }
    while (done < w->samples) {
        size_t n = 0, accepted = 0;
        while (n < BATCH && done + (long)n < w->samples) {
            batch[n].series = series;
            batch[n].timestamp_ms = w->start_ms + done + (long)n;
            batch[n].value = (double)(done + (long)n);
            n++;
        }
        status = promrw_sender_append_batch(w->sender, batch, n, &accepted);
        if (status != PROMRW_OK) {
            snprintf(w->message, sizeof w->message,
                     "append_batch: %s after %lu of %lu samples of the batch",
                     promrw_status_str(status), (unsigned long)accepted, (unsigned long)n);
            w->failed = 1;
            return NULL;
        }
        done += (long)n;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    char yaml[1024];
    promrw_config *cfg = NULL;
    promrw_sender *sender = NULL;
    promrw_error *err = NULL;
    promrw_status status;
    promrw_stats stats;
    struct worker workers[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    int n_threads = 4, started = 0, i, rc = 1;
    long per_thread = 250000;
    unsigned long long total;
    int64_t start_ms;
    char run[64];

    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s URL [THREADS [SAMPLES_PER_THREAD]]\n", argv[0]);
        return 2;
    }
    if (argc >= 3)
        n_threads = atoi(argv[2]);
    if (argc >= 4)
        per_thread = atol(argv[3]);
    if (n_threads < 1 || n_threads > MAX_THREADS || per_thread < 1) {
        fprintf(stderr, "threads: THREADS must be 1..%d and SAMPLES_PER_THREAD positive\n",
                MAX_THREADS);
        return 2;
    }
    total = (unsigned long long)n_threads * (unsigned long long)per_thread;

    snprintf(yaml, sizeof yaml,
             "remote_write:\n"
             "  - url: %s\n"
             "    queue_config:\n"
             "      min_shards: 4\n"
             "      capacity: 20000\n"
             "      max_samples_per_send: 5000\n"
             "      batch_send_deadline: 50ms\n"
             "      overflow: block\n"
             "      block_timeout: 30s\n",
             argv[1]);
    status = promrw_config_from_yaml(yaml, strlen(yaml), &cfg, &err);
    if (status == PROMRW_OK)
        status = promrw_sender_new(cfg, &sender, &err);
    if (status != PROMRW_OK) {
        fprintf(stderr, "threads: setup failed: %s: %s\n", promrw_status_str(status),
                err ? promrw_error_message(err) : "");
        promrw_error_free(err);
        goto out;
    }

    /* Timestamps in the past, one millisecond apart, never later than now. */
    start_ms = (int64_t)time(NULL) * 1000 - per_thread - 1000;
    /* A label unique to this run, so that runs never repeat a series' timestamps. */
    snprintf(run, sizeof run, "%ld-%ld", (long)getpid(), (long)time(NULL));
    for (i = 0; i < n_threads; i++) {
        workers[i].sender = sender;
        workers[i].index = i;
        workers[i].samples = per_thread;
        workers[i].start_ms = start_ms;
        workers[i].run = run;
        workers[i].failed = 0;
        workers[i].message[0] = '\0';
        if (pthread_create(&threads[i], NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            break;
        }
        started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (started != n_threads)
        goto out;
    for (i = 0; i < n_threads; i++) {
        if (workers[i].failed) {
            fprintf(stderr, "threads: worker %d: %s\n", i, workers[i].message);
            goto out;
        }
    }

    status = promrw_sender_flush(sender, 60000);
    if (status != PROMRW_OK) {
        fprintf(stderr, "threads: flush: %s\n", promrw_status_str(status));
        goto out;
    }
    stats.struct_size = sizeof stats;
    status = promrw_sender_stats(sender, &stats);
    if (status != PROMRW_OK) {
        fprintf(stderr, "threads: stats: %s\n", promrw_status_str(status));
        goto out;
    }
    printf("threads=%d per_thread=%ld appended=%llu acked=%llu failed=%llu batches=%llu "
           "series=%llu\n",
           n_threads, per_thread, (unsigned long long)stats.samples_appended,
           (unsigned long long)stats.samples_acked, (unsigned long long)stats.samples_failed,
           (unsigned long long)stats.batches_acked, (unsigned long long)stats.series);
    if (stats.samples_appended != total || stats.samples_acked != total ||
        stats.samples_failed != 0 || stats.series != (unsigned long long)n_threads) {
        fprintf(stderr, "threads: expected %llu samples appended and sent, none failed, %d series\n",
                total, n_threads);
        goto out;
    }
    status = promrw_sender_close(sender, 10000);
    if (status != PROMRW_OK) {
        fprintf(stderr, "threads: close: %s\n", promrw_status_str(status));
        goto out;
    }
    printf("samples_acked=%llu\n", (unsigned long long)stats.samples_acked);
    rc = 0;

out:
    promrw_sender_free(sender);
    promrw_config_free(cfg);
    return rc;
}
