// sender_test.cpp: exercises every call of include/promrw.hpp against a real receiver.
//
// Usage: sender_test URL [REJECT_URL]
//   URL         a Remote Write endpoint that accepts everything (promrw sink)
//   REJECT_URL  optional: an endpoint that rejects every request (promrw sink --reject-with
//               404), for the PROMRW_SAMPLES_LOST path of flush() and close()
//
// Checks results, not just that calls return: counters after flush, error codes and messages,
// partial batch counts, move semantics, that the destructor closes (its samples reach the sink:
// .ci/c-abi.sh compares the last line, "samples_acked=N", with what the sink counted) and that
// the library destroys the log callable. Exits 1 on the first failed check.
#include <promrw.hpp>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Records the log callable saw (it also holds a LogState, whose lifetime the test watches).
std::atomic<int> log_records{0};

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "sender_test: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                         #cond);                                                               \
            std::exit(1);                                                                      \
        }                                                                                      \
    } while (0)

// Runs f, which must throw promrw::Error with `code` and a message containing `needle`.
template <class F>
void expect_error(const char *what, promrw::Status code, const char *needle, F &&f)
{
    try {
        f();
    } catch (const promrw::Error &e) {
        if (e.code() != code || std::strstr(e.what(), needle) == nullptr) {
            std::fprintf(stderr,
                         "sender_test: %s: expected code %u with \"%s\" in the message, got "
                         "%u (%s) from %s: %s\n",
                         what, static_cast<unsigned>(code), needle,
                         static_cast<unsigned>(e.code()), e.status_name(), e.function(),
                         e.what());
            std::exit(1);
        }
        std::printf("ok: %s -> %s (%u): %s\n", what, e.status_name(),
                    static_cast<unsigned>(e.code()), e.what());
        return;
    }
    std::fprintf(stderr, "sender_test: %s: no exception (expected code %u)\n", what,
                 static_cast<unsigned>(code));
    std::exit(1);
}

std::string yaml_for(const std::string &url, const std::string &extra = "")
{
    return "remote_write:\n"
           "  - url: " +
           url +
           "\n"
           "    protobuf_message: io.prometheus.write.v2.Request\n"
           "    send_exemplars: true\n"
           "    queue_config:\n"
           "      batch_send_deadline: 50ms\n" +
           extra + "external_labels:\n  cluster: cpp-test\n";
}

// Shared with the log callable (called on library threads).
struct LogState {
    std::atomic<int> records{0};
    std::mutex mu;
    std::string first;
};

} // namespace

static_assert(!std::is_copy_constructible_v<promrw::Sender>, "Sender is move-only");
static_assert(!std::is_copy_assignable_v<promrw::Sender>, "Sender is move-only");
static_assert(std::is_nothrow_move_constructible_v<promrw::Sender>, "Sender moves never throw");
static_assert(std::is_nothrow_move_assignable_v<promrw::Sender>, "Sender moves never throw");
static_assert(std::is_nothrow_destructible_v<promrw::Sender>, "~Sender never throws");
static_assert(!std::is_copy_constructible_v<promrw::Config>, "Config is move-only");
static_assert(std::is_nothrow_move_constructible_v<promrw::Config>, "Config moves never throw");

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: %s URL [REJECT_URL]\n", argv[0]);
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // lines survive an abort
    const std::string url = argv[1];
    std::uint64_t acked_total = 0; // what this program expects the sink to have received

    // --- version, status_str
    const std::string header_version = std::to_string(PROMRW_VERSION_MAJOR) + "." +
                                       std::to_string(PROMRW_VERSION_MINOR) + "." +
                                       std::to_string(PROMRW_VERSION_PATCH);
    CHECK(promrw::version() == header_version);
    CHECK(std::string(promrw::status_str(PROMRW_QUEUE_FULL)) == "queue full");
    std::printf("promrw %.*s\n", static_cast<int>(promrw::version().size()),
                promrw::version().data());

    // --- invalid configurations: the code and a message naming the problem
    expect_error("config without endpoints", PROMRW_INVALID_CONFIG, "endpoint",
                 [] { (void)promrw::Config::from_yaml("remote_write: []\n"); });
    expect_error("config with capacity 0", PROMRW_INVALID_CONFIG,
                 "remote_write[0].queue_config.capacity", [&] {
                     (void)promrw::Config::from_yaml(yaml_for(url, "      capacity: 0\n"));
                 });
    expect_error("config file missing", PROMRW_INVALID_CONFIG, "/nonexistent/promrw.yaml",
                 [] { (void)promrw::Config::from_file("/nonexistent/promrw.yaml"); });
    expect_error("config file path empty", PROMRW_INVALID_ARGUMENT, "path",
                 [] { (void)promrw::Config::from_file(""); });

    // --- a configuration from a file, with a log callable the library must destroy
    char path[64];
    std::snprintf(path, sizeof path, "/tmp/promrw-cpp-test-%ld.yaml", static_cast<long>(getpid()));
    {
        std::ofstream f(path);
        f << yaml_for(url);
    }
    auto log = std::make_shared<LogState>();
    const std::weak_ptr<LogState> log_alive = log;
    const std::int64_t base = static_cast<std::int64_t>(std::time(nullptr)) * 1000 - 600000;
    const std::string run = std::to_string(getpid()) + "-" + std::to_string(std::time(nullptr));

    promrw::Config cfg = promrw::Config::from_file(path);
    std::remove(path);
    CHECK(cfg.get() != nullptr);
    expect_error("log callback with an unknown level", PROMRW_INVALID_ARGUMENT, "invalid",
                 [&] { cfg.set_log_callback(static_cast<promrw::LogLevel>(9), [](auto, auto) {}); });
    cfg.set_log_callback(promrw::LogLevel::debug,
                         [log](promrw::LogLevel level, std::string_view message) {
                             log_records++;
                             if (log->records++ == 0) {
                                 std::lock_guard<std::mutex> lock(log->mu);
                                 log->first = std::to_string(static_cast<unsigned>(level)) +
                                              ": " + std::string(message);
                             }
                             throw std::runtime_error("dropped by the wrapper, never unwinds");
                         });
    log.reset(); // from here on only the library holds the callable (and so the LogState)

    {
        // Move construction and assignment of Config.
        promrw::Config moved = std::move(cfg);
        CHECK(cfg.get() == nullptr && moved.get() != nullptr);
        cfg = std::move(moved);
        CHECK(cfg.get() != nullptr);
    }

    promrw::Sender sender(cfg);
    cfg = promrw::Config::from_yaml(yaml_for(url)); // the old one is freed; the sender keeps going
    CHECK(!log_alive.expired()); // the sender still holds the callable

    // --- series: initializer_list, span of Label pairs, C labels; equal sets, equal refs
    const promrw::SeriesRef up =
        sender.series({{"__name__", "cpp_test_up"}, {"job", "cpp"}, {"run", run}});
    const std::vector<promrw::Label> temp_labels = {
        {"__name__", "cpp_test_temperature"}, {"job", "cpp"}, {"run", run}, {"empty", ""}};
    const promrw::SeriesRef temp = sender.series(temp_labels);
    const promrw::Label up_again[] = {{"run", run}, {"job", "cpp"}, {"__name__", "cpp_test_up"}};
    CHECK(sender.series(promrw::span<const promrw::Label>(up_again, 3)) == up);
    const promrw_label c_labels[] = {{"__name__", 8, "cpp_test_temperature", 20},
                                     {"job", 3, "cpp", 3},
                                     {"run", 3, run.data(), run.size()}};
    CHECK(sender.series(promrw::span<const promrw_label>(c_labels)) == temp);
    CHECK(up && temp && up != temp);
    std::vector<promrw::Label> many;
    std::vector<std::string> names;
    for (int i = 0; i < 20; ++i) // more than the wrapper's on-stack buffer
        names.push_back("l" + std::to_string(i));
    many.emplace_back("__name__", "cpp_test_wide");
    many.emplace_back("run", run);
    for (const auto &n : names)
        many.emplace_back(n, n);
    const promrw::SeriesRef wide = sender.series(many);

    expect_error("invalid label name", PROMRW_INVALID_LABELS, "\"1bad\"",
                 [&] { (void)sender.series({{"__name__", "x"}, {"1bad", "v"}}); });
    expect_error("repeated label name", PROMRW_INVALID_LABELS, "job",
                 [&] { (void)sender.series({{"__name__", "x"}, {"job", "a"}, {"job", "b"}}); });
    expect_error("no label with a value", PROMRW_INVALID_LABELS, "empty",
                 [&] { (void)sender.series({{"__name__", ""}}); });

    // --- metadata
    sender.set_metadata(up, promrw::MetricType::gauge, "Whether the C++ test is up.");
    sender.set_metadata(temp, promrw::MetricType::gauge, "A temperature.", "celsius");
    expect_error("metadata with an unknown type", PROMRW_INVALID_ARGUMENT, "metric_type",
                 [&] { sender.set_metadata(up, static_cast<promrw::MetricType>(42), "x"); });

    // --- single appends
    std::uint64_t floats = 0;
    for (int i = 0; i < 10; ++i) {
        sender.append(up, base + i * 1000, 1.0);
        CHECK(sender.try_append(temp, base + i * 1000, 20.0 + i));
        floats += 2;
    }
    sender.append(wide, base, 3.0);
    floats += 1;
    expect_error("out-of-order append", PROMRW_OUT_OF_ORDER, "",
                 [&] { sender.append(up, base, 2.0); });
    expect_error("unknown series", PROMRW_UNKNOWN_SERIES, "",
                 [&] { sender.append(promrw::SeriesRef(0xdeadbeef), base, 2.0); });

    // --- batch over the caller's memory: vector, pointer + size; partial batch
    std::vector<promrw_sample> batch;
    for (int i = 10; i < 20; ++i)
        batch.push_back({up.value(), base + i * 1000, 1.0});
    sender.append_batch(batch);
    floats += batch.size();
    const promrw_sample two[] = {{temp.value(), base + 10000, 30.0}, {temp.value(), base + 11000, 31.0}};
    sender.append_batch(two, 2);
    floats += 2;
    const promrw_sample partial[] = {{up.value(), base + 20000, 1.0},
                                     {up.value(), base + 21000, 1.0},
                                     {up.value(), base + 21000, 1.0}, // not after the last one
                                     {up.value(), base + 22000, 1.0}};
    try {
        sender.append_batch(partial);
        CHECK(!"append_batch with an out-of-order sample did not throw");
    } catch (const promrw::Error &e) {
        CHECK(e.code() == PROMRW_OUT_OF_ORDER);
        CHECK(e.accepted() == 2);
        CHECK(std::string(e.function()) == "promrw_sender_append_batch");
        std::printf("ok: partial batch -> %s, accepted %zu\n", e.status_name(), e.accepted());
    }
    floats += 2;
    sender.append_batch(promrw::span<const promrw_sample>()); // empty: nothing to do

    // --- columns: one ref per sample, and one ref for all
    const std::vector<promrw_series_ref> col_refs = {up.value(), temp.value(), up.value()};
    const std::vector<std::int64_t> col_ts = {base + 30000, base + 30000, base + 31000};
    const std::vector<double> col_values = {1.0, 25.5, 1.0};
    sender.append_columns(col_refs, col_ts, col_values);
    floats += 3;
    const std::int64_t temp_ts[] = {base + 40000, base + 41000, base + 42000};
    const double temp_values[] = {26.0, 26.5, 27.0};
    sender.append_columns(temp, temp_ts, temp_values);
    floats += 3;
    expect_error("columns of different lengths", PROMRW_INVALID_ARGUMENT, "differ in length",
                 [&] { sender.append_columns(temp, col_ts, promrw::span<const double>(temp_values, 2)); });
    try {
        const std::int64_t ts[] = {base + 50000, base + 49000};
        const double vs[] = {1.0, 2.0};
        sender.append_columns(temp, ts, vs);
        CHECK(!"append_columns with an out-of-order sample did not throw");
    } catch (const promrw::Error &e) {
        CHECK(e.code() == PROMRW_OUT_OF_ORDER && e.accepted() == 1);
    }
    floats += 1;

    // --- exemplars and start timestamps
    const promrw::SeriesRef requests =
        sender.series({{"__name__", "cpp_test_requests_total"}, {"job", "cpp"}, {"run", run}});
    sender.set_metadata(requests, promrw::MetricType::counter, "Requests.");
    sender.append_with_start_timestamp(requests, base + 1000, base, 1.0);
    sender.append_with_exemplar(requests, base + 2000, 2.0,
                                promrw::Exemplar({{"trace_id", "abc123"}}, 1.0), base);
    sender.append_with_exemplar(requests, base + 3000, 3.0,
                                promrw::Exemplar({{"trace_id", "def456"}}, 1.0, base + 2500));
    floats += 3;
    expect_error("exemplar with an invalid label", PROMRW_INVALID_LABELS, "\"0x\"",
                 [&] {
                     sender.append_with_exemplar(requests, base + 4000, 4.0,
                                                 promrw::Exemplar({{"0x", "y"}}, 1.0));
                 });
    expect_error("start timestamp after the sample", PROMRW_INVALID_ARGUMENT, "start timestamp",
                 [&] { sender.append_with_start_timestamp(requests, base + 5000, base + 6000, 5.0); });

    // --- native histograms: the C++ struct (integer, with an exemplar; float) and the C one
    const promrw::SeriesRef latency =
        sender.series({{"__name__", "cpp_test_latency_seconds"}, {"job", "cpp"}, {"run", run}});
    sender.set_metadata(latency, promrw::MetricType::histogram, "Latency.", "seconds");
    promrw::Histogram h;
    h.schema = 0;
    h.kind = promrw::HistogramKind::integer;
    h.zero_threshold = 1e-128;
    h.sum = 7.5;
    h.count_int = 4;
    h.zero_count_int = 1;
    h.positive_spans = {{0, 2}};
    h.positive_deltas = {2, -1}; // absolute 2, 1
    h.reset_hint = promrw::ResetHint::no;
    sender.append_histogram(latency, base + 1000, h);
    sender.append_histogram(latency, base + 2000, h, promrw::Exemplar({{"trace_id", "h1"}}, 0.5));
    promrw::Histogram hf;
    hf.kind = promrw::HistogramKind::floating;
    hf.sum = 3.0;
    hf.count_float = 2.0;
    hf.positive_spans = {{1, 1}};
    hf.positive_counts = {2.0};
    sender.append_histogram(latency, base + 3000, hf);
    promrw_histogram c_h{};
    c_h.struct_size = sizeof c_h;
    c_h.kind = PROMRW_HISTOGRAM_INTEGER;
    c_h.sum = 1.0;
    c_h.count_int = 1;
    const promrw_bucket_span c_spans[] = {{0, 1}};
    const std::int64_t c_deltas[] = {1};
    c_h.positive_spans = c_spans;
    c_h.positive_spans_len = 1;
    c_h.positive_deltas = c_deltas;
    c_h.positive_deltas_len = 1;
    sender.append_histogram(latency, base + 4000, c_h);
    const std::uint64_t histograms = 4;
    promrw::Histogram bad = h;
    bad.count_int = 1; // fewer than the buckets hold
    expect_error("histogram breaking the count rule", PROMRW_INVALID_ARGUMENT, "count",
                 [&] { sender.append_histogram(latency, base + 5000, bad); });
    sender.append_stale_histogram(latency, base + 6000);
    const std::uint64_t stale_histograms = 1;

    // --- stale marker, release
    sender.append_stale(wide, base + 1000);
    floats += 1;
    sender.release_series(wide);
    expect_error("append to a released series", PROMRW_UNKNOWN_SERIES, "",
                 [&] { sender.append(wide, base + 2000, 1.0); });
    expect_error("release twice", PROMRW_UNKNOWN_SERIES, "", [&] { sender.release_series(wide); });

    // --- log level, sync (memory mode: at once), flush, counters
    sender.set_log_level(promrw::LogLevel::info);
    expect_error("unknown log level", PROMRW_INVALID_ARGUMENT, "",
                 [&] { sender.set_log_level(static_cast<promrw::LogLevel>(7)); });
    sender.sync(1s);
    sender.flush(10s);
    const promrw::Stats st = sender.stats();
    std::printf("appended=%llu acked=%llu histograms_acked=%llu exemplars_acked=%llu protocol=%llu\n",
                static_cast<unsigned long long>(st.samples_appended),
                static_cast<unsigned long long>(st.samples_acked),
                static_cast<unsigned long long>(st.histograms_acked),
                static_cast<unsigned long long>(st.exemplars_acked),
                static_cast<unsigned long long>(st.remote_write_protocol));
    CHECK(st.struct_size == sizeof(promrw::Stats));
    CHECK(st.samples_acked == floats);
    CHECK(st.samples_failed == 0 && st.samples_pending == 0);
    CHECK(st.histograms_acked == histograms + stale_histograms);
    CHECK(st.exemplars_acked == 3);
    CHECK(st.rejected_out_of_order == 3 && st.rejected_unknown_series == 2);
    acked_total += st.samples_acked;
    const std::string metrics = sender.metrics_text();
    CHECK(metrics.find("\npromrw_samples_appended_total " + std::to_string(st.samples_appended) + "\n") !=
          std::string::npos);
    CHECK(metrics.size() == std::strlen(metrics.c_str()));
    const promrw::Report rep = sender.last_report();
    CHECK(rep.samples_failed == 0 && rep.timed_out == 0 && rep.samples_pending == 0);
    CHECK(sender.last_report_text().empty());
    CHECK(sender.last_report(0).samples_failed == 0);
    CHECK(sender.last_report_text(0).empty());
    expect_error("report of an endpoint out of range", PROMRW_INVALID_ARGUMENT, "",
                 [&] { (void)sender.last_report(5); });

    // --- move semantics: the moved-from Sender throws, the moved-to one works
    promrw::Sender moved = std::move(sender);
    CHECK(sender.get() == nullptr && moved.get() != nullptr);
    expect_error("append on a moved-from sender", PROMRW_INVALID_ARGUMENT, "moved from",
                 [&] { sender.append(up, base + 60000, 1.0); });
    expect_error("series on a moved-from sender", PROMRW_INVALID_ARGUMENT, "moved from",
                 [&] { (void)sender.series({{"__name__", "x"}}); });
    moved.append(up, base + 60000, 1.0);
    moved.flush(10s);
    CHECK(moved.stats().samples_acked == floats + 1);
    acked_total += 1;

    // --- explicit close: OK, then closed for appends, readable for counters
    moved.close(5s);
    expect_error("append after close", PROMRW_CLOSED, "", [&] { moved.append(up, base + 61000, 1.0); });
    expect_error("flush after close", PROMRW_CLOSED, "", [&] { moved.flush(1s); });
    expect_error("close twice", PROMRW_CLOSED, "", [&] { moved.close(); });
    CHECK(moved.stats().samples_acked == floats + 1);
    CHECK(!moved.metrics_text().empty());

    // --- move assignment closes and frees the sender it replaces; the destructor closes
    {
        promrw::Sender a(cfg);
        const promrw::SeriesRef s = a.series({{"__name__", "cpp_test_dtor"}, {"run", run}});
        for (int i = 0; i < 5; ++i)
            a.append(s, base + i * 1000, i);
        promrw::Sender b(cfg);
        const promrw::SeriesRef s2 = b.series({{"__name__", "cpp_test_assign"}, {"run", run}});
        for (int i = 0; i < 7; ++i)
            b.append(s2, base + i * 1000, i);
        b = std::move(a); // b's 7 samples are sent by the close of b's old sender
        CHECK(a.get() == nullptr);
        // b (holding a's 5 samples) goes out of scope unflushed: the destructor sends them.
    }
    acked_total += 5 + 7;
    moved = promrw::Sender(cfg); // replaces the closed sender: freeing it drops the log callable
    moved = promrw::Sender(nullptr);
    CHECK(log_alive.expired()); // every holder of the callable is gone: the library freed it
    CHECK(log_records.load() > 0);
    std::printf("ok: the log callable got %d records and was destroyed\n", log_records.load());

    // --- outcomes that are not misuse: timeout, samples lost, queue full
    {
        // Nothing listens on port 1: every attempt fails with a retried network error.
        promrw::Config stuck_cfg = promrw::Config::from_yaml(
            "remote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n"
            "    queue_config:\n      capacity: 10\n      max_shards: 1\n      min_shards: 1\n"
            "      max_samples_per_send: 10\n      overflow: fail\n      min_backoff: 1s\n");
        // A std::function as the log callable: the retried connection errors are warnings.
        static std::atomic<int> warnings{0};
        const std::function<void(promrw::LogLevel, std::string_view)> on_log =
            [](promrw::LogLevel level, std::string_view) {
                if (level == promrw::LogLevel::warn)
                    warnings++;
            };
        stuck_cfg.set_log_callback(promrw::LogLevel::warn, on_log);
        promrw::Sender stuck(stuck_cfg);
        const promrw::SeriesRef s = stuck.series({{"__name__", "cpp_test_stuck"}, {"run", run}});
        int accepted = 0;
        bool refused = false;
        for (int i = 0; i < 1000 && !refused; ++i) {
            if (stuck.try_append(s, base + i, 1.0))
                ++accepted;
            else
                refused = true;
        }
        CHECK(refused && accepted > 0);
        expect_error("append to a full queue (overflow: fail)", PROMRW_QUEUE_FULL, "queue full",
                     [&] { stuck.append(s, base + 5000, 1.0); });
        expect_error("flush against an unreachable endpoint", PROMRW_TIMEOUT, "",
                     [&] { stuck.flush(100ms); });
        CHECK(stuck.last_report().timed_out == 1 && stuck.last_report().samples_pending > 0);
        expect_error("close against an unreachable endpoint", PROMRW_TIMEOUT, "",
                     [&] { stuck.close(100ms); });
        CHECK(stuck.stats().samples_failed > 0); // abandoned at the deadline
        CHECK(warnings.load() > 0);
    }
    if (argc == 3) {
        promrw::Sender rejected = promrw::Sender::from_yaml(
            "remote_write:\n  - url: " + std::string(argv[2]) +
            "\n    queue_config:\n      batch_send_deadline: 50ms\n");
        const promrw::SeriesRef s = rejected.series({{"__name__", "cpp_test_rejected"}, {"run", run}});
        rejected.append(s, base, 1.0);
        expect_error("flush against a rejecting endpoint", PROMRW_SAMPLES_LOST, "404",
                     [&] { rejected.flush(10s); });
        CHECK(rejected.last_report().samples_failed == 1);
        CHECK(rejected.last_report().last_http_status == 404);
        CHECK(rejected.last_report_text(0).find("404") != std::string::npos);
        rejected.flush(10s); // nothing lost since the last flush returned: OK again
        rejected.append(s, base + 1000, 1.0);
        expect_error("close against a rejecting endpoint", PROMRW_SAMPLES_LOST, "404",
                     [&] { rejected.close(10s); });
    }

    std::printf("sender_test: all checks passed\n");
    std::printf("samples_acked=%llu\n", static_cast<unsigned long long>(acked_total));
    return 0;
}
