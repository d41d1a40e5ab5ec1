/*
 * promrw.hpp: a header-only C++17 wrapper over the C API of promrw (include/promrw.h).
 *
 * Written by hand (not generated); it adds no behaviour of its own: every call is one call of
 * the C API, whose documentation in promrw.h stays the reference for what each one does.
 *
 * Conventions:
 *
 *  - Errors are exceptions. Every call that can fail throws promrw::Error (derived from
 *    std::runtime_error) when the C function returns anything but PROMRW_OK. Error::code() is
 *    the promrw_status; what() is the library's message where the C function returns a
 *    promrw_error (configuration, series, histograms, exemplars, metadata, sender creation),
 *    the report text of the flush or close for PROMRW_SAMPLES_LOST and PROMRW_TIMEOUT from
 *    flush() and close(), and otherwise promrw_status_str() of the code. Error::accepted() is
 *    the number of samples append_batch() or append_columns() accepted before the refused one
 *    (0 for every other call). Calls that allocate may also throw std::bad_alloc.
 *  - Which calls throw: every member function of Config and Sender and their constructors
 *    from a Config or YAML, except get(), release(), the constructors that adopt a C handle,
 *    the move operations and the destructors (all noexcept). version() and status_str()
 *    never throw.
 *  - Outcomes that are not misuse still throw, each with its own code, so they cannot be
 *    ignored by accident: PROMRW_QUEUE_FULL from the appends (the sample was not accepted and
 *    may be appended again; try_append() returns false instead of throwing for this code only),
 *    PROMRW_OUT_OF_ORDER from the appends, PROMRW_SAMPLES_LOST from flush() and close() (the
 *    receiver rejected or the sender dropped samples since the previous flush or close; the
 *    sender stays usable after flush(); last_report() has the numbers), PROMRW_TIMEOUT from
 *    flush(), sync() and close() (the deadline passed first; the report says what is pending).
 *    close() closes the sender even when it throws PROMRW_SAMPLES_LOST or PROMRW_TIMEOUT.
 *  - A moved-from (or released) Config or Sender holds NULL: its calls throw
 *    PROMRW_INVALID_ARGUMENT, and its destructor does nothing.
 *  - Destructors never throw. ~Sender() calls promrw_sender_close() with
 *    Sender::default_close_timeout (10 s) and then promrw_sender_free(); its outcome is
 *    dropped, so call close() first to choose the deadline and see what was lost.
 *  - Ownership: strings, labels, samples, columns, histograms and exemplars passed in are
 *    borrowed for the call only; the library copies what it keeps. Labels are
 *    std::string_view pairs (name, value), UTF-8, no NUL needed; a label with an empty value is
 *    ignored (empty means absent). Batches are passed to the C API as the caller's own
 *    contiguous memory, without copies (promrw::span: a pointer and a size, or any contiguous
 *    container with data() and size()).
 *  - Threads: a Sender may be used from many threads at once (its appending and reading calls
 *    are const; close() may race with them as promrw_sender_close may), but not during or
 *    after its destructor or a move. A Config must not be used by another thread while
 *    set_log_callback() runs.
 *  - Log callbacks: set_log_callback() takes any callable invocable as
 *    void(promrw::LogLevel, std::string_view) (a lambda, a std::function, ...). The wrapper
 *    moves it to the heap and hands it to the library as user_data with a free_user_data hook,
 *    so the library destroys it exactly once, after its last call, when the Config and every
 *    Sender made from it are gone. The callable runs on library threads, possibly
 *    concurrently: it must be thread-safe and quick, and must not call the Sender that logs.
 *    An exception it throws is caught and dropped (it never unwinds into the library).
 *  - Senders do not survive fork(): create them after forking.
 *
 * Build: C++17 (g++ or clang++ -std=c++17), include directory include/, link libpromrw as for
 * C (see README.md, "Using promrw from C").
 */

#ifndef PROMRW_HPP
#define PROMRW_HPP

#include <promrw.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "promrw.hpp needs C++17 or later"
#endif

namespace promrw {

// ---------------------------------------------------------------------------------------------
// Plain types

/** A status code of the C API (PROMRW_OK, PROMRW_INVALID_CONFIG, ...). */
using Status = promrw_status;
/** One sample of a batch: series (SeriesRef::value()), timestamp in ms, value. */
using Sample = promrw_sample;
/** A span of native histogram buckets (offset, length). */
using BucketSpan = promrw_bucket_span;
/** A counter snapshot (see promrw_stats in promrw.h). */
using Stats = promrw_stats;
/** The report of the most recent flush or close (see promrw_report in promrw.h). */
using Report = promrw_report;
/** One label as (name, value); the views are borrowed for the call only. */
using Label = std::pair<std::string_view, std::string_view>;

/** Passed as `endpoint` to last_report() and last_report_text(): all endpoints together. */
inline constexpr std::size_t all_endpoints = PROMRW_ALL_ENDPOINTS;

/** Log levels (PROMRW_LOG_*). */
enum class LogLevel : std::uint32_t {
    debug = PROMRW_LOG_DEBUG,
    info = PROMRW_LOG_INFO,
    warn = PROMRW_LOG_WARN,
    error = PROMRW_LOG_ERROR,
};

/** Metric types for set_metadata() (PROMRW_METRIC_TYPE_*). */
enum class MetricType : std::uint32_t {
    unknown = PROMRW_METRIC_TYPE_UNKNOWN,
    counter = PROMRW_METRIC_TYPE_COUNTER,
    gauge = PROMRW_METRIC_TYPE_GAUGE,
    histogram = PROMRW_METRIC_TYPE_HISTOGRAM,
    gauge_histogram = PROMRW_METRIC_TYPE_GAUGEHISTOGRAM,
    summary = PROMRW_METRIC_TYPE_SUMMARY,
    info = PROMRW_METRIC_TYPE_INFO,
    stateset = PROMRW_METRIC_TYPE_STATESET,
};

/** promrw_histogram.kind (PROMRW_HISTOGRAM_*). */
enum class HistogramKind : std::uint32_t {
    integer = PROMRW_HISTOGRAM_INTEGER,
    floating = PROMRW_HISTOGRAM_FLOAT,
};

/** promrw_histogram.reset_hint (PROMRW_RESET_HINT_*). */
enum class ResetHint : std::uint32_t {
    unknown = PROMRW_RESET_HINT_UNKNOWN,
    yes = PROMRW_RESET_HINT_YES,
    no = PROMRW_RESET_HINT_NO,
    gauge = PROMRW_RESET_HINT_GAUGE,
};

/** The library's version at run time, e.g. "0.1.0". Never throws. */
inline std::string_view version() noexcept { return promrw_version(); }

/** A short static description of a status code, e.g. "queue full". Never throws. */
inline const char *status_str(Status code) noexcept { return promrw_status_str(code); }

/**
 * A read-only view of contiguous memory: a pointer and a size (C++17 has no std::span).
 * Converts implicitly from (pointer, size), C arrays and any container with data() and
 * size() (std::vector, std::array, std::string_view for chars, ...). It never copies; the
 * memory must stay valid for the call it is passed to.
 */
template <class T>
class span {
public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using size_type = std::size_t;
    using pointer = T *;
    using iterator = T *;

    constexpr span() noexcept = default;
    constexpr span(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <class C,
              class = std::enable_if_t<
                  !std::is_same_v<std::remove_cv_t<std::remove_reference_t<C>>, span> &&
                  std::is_convertible_v<decltype(std::data(std::declval<C &>())), T *> &&
                  std::is_convertible_v<decltype(std::size(std::declval<C &>())), std::size_t>>>
    constexpr span(C &&container) noexcept(noexcept(std::data(container)) &&
                                           noexcept(std::size(container)))
        : data_(std::data(container)), size_(std::size(container))
    {
    }

    constexpr T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T *begin() const noexcept { return data_; }
    constexpr T *end() const noexcept { return data_ + size_; }
    constexpr T &operator[](std::size_t i) const noexcept { return data_[i]; }

private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};

/** A registered series (promrw_series_ref). 0, the default, is never a valid reference. */
class SeriesRef {
public:
    constexpr SeriesRef() noexcept = default;
    constexpr explicit SeriesRef(promrw_series_ref ref) noexcept : ref_(ref) {}
    /** The C reference, e.g. for promrw_sample.series. */
    constexpr promrw_series_ref value() const noexcept { return ref_; }
    constexpr explicit operator bool() const noexcept { return ref_ != 0; }
    friend constexpr bool operator==(SeriesRef a, SeriesRef b) noexcept { return a.ref_ == b.ref_; }
    friend constexpr bool operator!=(SeriesRef a, SeriesRef b) noexcept { return a.ref_ != b.ref_; }

private:
    promrw_series_ref ref_ = 0;
};

/**
 * The exception every failing call throws: the promrw_status (code()), the library's message
 * (what()), the C function that failed (function()) and, for batch appends, how many samples
 * were accepted before the refused one (accepted()).
 */
class Error : public std::runtime_error {
public:
    Error(Status code, const std::string &message, const char *function = "",
          std::size_t accepted = 0)
        : std::runtime_error(message), code_(code), function_(function), accepted_(accepted)
    {
    }
    /** The status code, one of PROMRW_* (never PROMRW_OK). */
    Status code() const noexcept { return code_; }
    /** promrw_status_str(code()), e.g. "invalid labels". */
    const char *status_name() const noexcept { return promrw_status_str(code_); }
    /** The C function that returned the code, e.g. "promrw_sender_series". */
    const char *function() const noexcept { return function_; }
    /** append_batch()/append_columns(): samples accepted before the refused one; else 0. */
    std::size_t accepted() const noexcept { return accepted_; }

private:
    Status code_;
    const char *function_;
    std::size_t accepted_;
};

namespace detail {

/** Throws Error for `status` with promrw_status_str() as the message. */
[[noreturn]] inline void throw_status(Status status, const char *function, std::size_t accepted = 0)
{
    throw Error(status, promrw_status_str(status), function, accepted);
}

/** Frees a promrw_error on every path. */
struct ErrorHolder {
    promrw_error *err = nullptr;
    ErrorHolder() = default;
    ErrorHolder(const ErrorHolder &) = delete;
    ErrorHolder &operator=(const ErrorHolder &) = delete;
    ~ErrorHolder() { promrw_error_free(err); }
};

/** Throws Error for a failed call that reported `err` (or not). */
[[noreturn]] inline void throw_error(Status status, const promrw_error *err, const char *function)
{
    const char *message = err != nullptr ? promrw_error_message(err) : nullptr;
    throw Error(status, message != nullptr ? message : promrw_status_str(status), function);
}

/** Calls `f(&err)`, and throws on a non-OK status with the error's message. */
template <class F>
inline void call_with_error(const char *function, F &&f)
{
    ErrorHolder holder;
    const Status status = f(&holder.err);
    if (status != PROMRW_OK)
        throw_error(status, holder.err, function);
}

inline std::uint64_t to_ms(std::chrono::milliseconds t) noexcept
{
    return t.count() < 0 ? 0 : static_cast<std::uint64_t>(t.count());
}

template <class T>
inline const T *data_or_null(const std::vector<T> &v) noexcept
{
    return v.empty() ? nullptr : v.data();
}

inline promrw_label to_c(const Label &l) noexcept
{
    promrw_label c;
    c.name = l.first.data();
    c.name_len = l.first.size();
    c.value = l.second.data();
    c.value_len = l.second.size();
    return c;
}

/** promrw_label views of Label pairs for one call: on the stack up to 16, else on the heap. */
class LabelBuffer {
public:
    explicit LabelBuffer(span<const Label> labels) : size_(labels.size())
    {
        promrw_label *out = small_;
        if (size_ > small_size) {
            big_.resize(size_);
            out = big_.data();
        }
        for (std::size_t i = 0; i < size_; ++i)
            out[i] = to_c(labels[i]);
        data_ = out;
    }
    LabelBuffer(const LabelBuffer &) = delete;
    LabelBuffer &operator=(const LabelBuffer &) = delete;
    const promrw_label *data() const noexcept { return size_ == 0 ? nullptr : data_; }
    std::size_t size() const noexcept { return size_; }

private:
    static constexpr std::size_t small_size = 16;
    promrw_label small_[small_size];
    std::vector<promrw_label> big_;
    const promrw_label *data_ = nullptr;
    std::size_t size_;
};

/** The heap home of a log callable; the library frees it through free_user_data. */
template <class F>
struct LogHolder {
    F f;
    static void call(void *user_data, std::uint32_t level, const char *message,
                     std::size_t len) noexcept
    {
        try {
            static_cast<LogHolder *>(user_data)->f(
                static_cast<LogLevel>(level),
                len == 0 ? std::string_view() : std::string_view(message, len));
        } catch (...) {
            // Never unwind into the library (promrw.h: callbacks must not unwind).
        }
    }
    static void free(void *user_data) noexcept { delete static_cast<LogHolder *>(user_data); }
};

} // namespace detail

/**
 * An exemplar for append_with_exemplar() and append_histogram(): labels (often trace_id), a
 * value and, optionally, its own timestamp (else it takes the sample's). The label views are
 * borrowed: they must stay valid until the call that takes the exemplar returns.
 */
struct Exemplar {
    std::vector<Label> labels;
    double value = 0;
    std::optional<std::int64_t> timestamp_ms;

    Exemplar() = default;
    Exemplar(std::vector<Label> labels_, double value_,
             std::optional<std::int64_t> timestamp_ms_ = std::nullopt)
        : labels(std::move(labels_)), value(value_), timestamp_ms(timestamp_ms_)
    {
    }
};

/**
 * A native histogram held in vectors; append_histogram() lends it to the library as a
 * promrw_histogram for the call. The fields mean what promrw_histogram's mean: `kind` chooses
 * the integer counts (count_int, zero_count_int, *_deltas) or the float ones (count_float,
 * zero_count_float, *_counts); the arrays of the other kind must be empty.
 */
struct Histogram {
    std::int32_t schema = 0;
    HistogramKind kind = HistogramKind::integer;
    double zero_threshold = 0;
    double sum = 0;
    std::uint64_t count_int = 0;
    std::uint64_t zero_count_int = 0;
    double count_float = 0;
    double zero_count_float = 0;
    std::vector<BucketSpan> positive_spans;
    std::vector<BucketSpan> negative_spans;
    std::vector<std::int64_t> positive_deltas;
    std::vector<std::int64_t> negative_deltas;
    std::vector<double> positive_counts;
    std::vector<double> negative_counts;
    /** Custom buckets' upper bounds (schema -53 only), without +Inf. */
    std::vector<double> custom_values;
    ResetHint reset_hint = ResetHint::unknown;
    /** 0: unset. */
    std::int64_t start_timestamp_ms = 0;
};

// ---------------------------------------------------------------------------------------------
// Config

/**
 * A validated configuration (promrw_config): move-only, freed by the destructor. Senders made
 * from it do not depend on it; it may be destroyed right after.
 */
class Config {
public:
    /** Parses the Prometheus remote_write schema as YAML or JSON. Throws PROMRW_INVALID_CONFIG
     * with the message naming the field. The text is borrowed for the call only. */
    static Config from_yaml(std::string_view text)
    {
        promrw_config *cfg = nullptr;
        detail::call_with_error("promrw_config_from_yaml", [&](promrw_error **err) {
            return promrw_config_from_yaml(text.data(), text.size(), &cfg, err);
        });
        return Config(cfg);
    }

    /** Reads and validates a configuration file (the path is borrowed for the call only).
     * Throws PROMRW_INVALID_CONFIG when it cannot be read or is invalid, the message naming
     * the path or the field; PROMRW_INVALID_ARGUMENT for an empty path. */
    static Config from_file(std::string_view path)
    {
        promrw_config *cfg = nullptr;
        detail::call_with_error("promrw_config_from_file", [&](promrw_error **err) {
            return promrw_config_from_file(path.data(), path.size(), &cfg, err);
        });
        return Config(cfg);
    }

    /** Takes ownership of a handle from promrw_config_from_yaml()/_from_file() (or NULL). */
    explicit Config(promrw_config *adopt) noexcept : cfg_(adopt) {}
    Config(const Config &) = delete;
    Config &operator=(const Config &) = delete;
    Config(Config &&other) noexcept : cfg_(std::exchange(other.cfg_, nullptr)) {}
    Config &operator=(Config &&other) noexcept
    {
        if (this != &other) {
            promrw_config_free(cfg_);
            cfg_ = std::exchange(other.cfg_, nullptr);
        }
        return *this;
    }
    ~Config() { promrw_config_free(cfg_); }

    /**
     * Sends log records at `min_level` and above to `callback`, replacing any callback set
     * before. `callback` is any callable invocable as void(LogLevel, std::string_view message);
     * it is moved into memory the library owns and destroyed by the library (through the C
     * API's free_user_data) once this Config and every Sender made from it after this call are
     * gone. The message view is valid only during the call. See the top of this file for the
     * rules the callable must follow. Throws PROMRW_INVALID_ARGUMENT for an unknown level or a
     * moved-from Config; then the callable is destroyed here.
     */
    template <class F>
    void set_log_callback(LogLevel min_level, F &&callback)
    {
        using Holder = detail::LogHolder<std::decay_t<F>>;
        static_assert(std::is_invocable_v<std::decay_t<F> &, LogLevel, std::string_view>,
                      "a log callback is invocable as void(promrw::LogLevel, std::string_view)");
        auto holder = std::make_unique<Holder>(Holder{std::forward<F>(callback)});
        const Status status =
            promrw_config_set_log_callback(cfg_, static_cast<std::uint32_t>(min_level),
                                           &Holder::call, holder.get(), &Holder::free);
        if (status != PROMRW_OK)
            detail::throw_status(status, "promrw_config_set_log_callback");
        holder.release(); // the library owns it now
    }

    /** The C handle (NULL after a move), still owned by this Config. */
    promrw_config *get() const noexcept { return cfg_; }
    /** Gives up ownership of the C handle; the caller frees it with promrw_config_free(). */
    promrw_config *release() noexcept { return std::exchange(cfg_, nullptr); }

private:
    promrw_config *cfg_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Sender

/**
 * A remote-write sender (promrw_sender): move-only. The destructor closes it with
 * default_close_timeout (never throws) and frees it. Every call but the destructor and the
 * move operations may run on many threads at once.
 */
class Sender {
public:
    /** The deadline the destructor (and close() without an argument) gives the close. */
    static constexpr std::chrono::milliseconds default_close_timeout{10000};

    /** Starts a sender from `cfg`, which stays the caller's (it may be destroyed at once).
     * Throws PROMRW_INVALID_CONFIG, PROMRW_IO (a thread could not start),
     * PROMRW_INVALID_ARGUMENT (moved-from Config). */
    explicit Sender(const Config &cfg)
    {
        detail::call_with_error("promrw_sender_new", [&](promrw_error **err) {
            return promrw_sender_new(cfg.get(), &s_, err);
        });
    }

    /** Config::from_yaml(text) then Sender(config). */
    static Sender from_yaml(std::string_view text) { return Sender(Config::from_yaml(text)); }

    /** Takes ownership of a handle from promrw_sender_new() (or NULL). */
    explicit Sender(promrw_sender *adopt) noexcept : s_(adopt) {}
    Sender(const Sender &) = delete;
    Sender &operator=(const Sender &) = delete;
    Sender(Sender &&other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
    /** Closes and frees the sender this one held (as the destructor does), then takes other's. */
    Sender &operator=(Sender &&other) noexcept
    {
        if (this != &other) {
            destroy();
            s_ = std::exchange(other.s_, nullptr);
        }
        return *this;
    }
    /** promrw_sender_close(default_close_timeout), outcome dropped, then promrw_sender_free().
     * Never throws. */
    ~Sender() { destroy(); }

    /** Registers a label set and returns its reference (equal sets give equal references).
     * The labels are borrowed for the call only. Throws PROMRW_INVALID_LABELS (the message
     * says which label and why), PROMRW_CLOSED. */
    [[nodiscard]] SeriesRef series(std::initializer_list<Label> labels) const
    {
        return series(span<const Label>(labels.begin(), labels.size()));
    }
    /** As above, from a (pointer, size) view or a contiguous container of Label. */
    [[nodiscard]] SeriesRef series(span<const Label> labels) const
    {
        detail::LabelBuffer c(labels);
        return series(span<const promrw_label>(c.data(), c.size()));
    }
    /** As above, from C labels, passed through unchanged. */
    [[nodiscard]] SeriesRef series(span<const promrw_label> labels) const
    {
        promrw_series_ref ref = 0;
        call("promrw_sender_series", [&](promrw_error **err) {
            return promrw_sender_series(s_, labels.data(), labels.size(), &ref, err);
        });
        return SeriesRef(ref);
    }

    /** Appends one sample. Throws PROMRW_OUT_OF_ORDER, PROMRW_UNKNOWN_SERIES,
     * PROMRW_QUEUE_FULL (not accepted; may be appended again), PROMRW_SHARD_DEAD,
     * PROMRW_CLOSED. */
    void append(SeriesRef series, std::int64_t timestamp_ms, double value) const
    {
        check(promrw_sender_append(s_, series.value(), timestamp_ms, value),
              "promrw_sender_append");
    }
    /** As append(), but returns false instead of throwing when the sample was refused with
     * PROMRW_QUEUE_FULL (it may be appended again); every other failure throws. */
    [[nodiscard]] bool try_append(SeriesRef series, std::int64_t timestamp_ms, double value) const
    {
        const Status status = promrw_sender_append(s_, series.value(), timestamp_ms, value);
        if (status == PROMRW_QUEUE_FULL)
            return false;
        check(status, "promrw_sender_append");
        return true;
    }
    /** Appends a stale marker: the series ended at `timestamp_ms`. Throws as append(). */
    void append_stale(SeriesRef series, std::int64_t timestamp_ms) const
    {
        check(promrw_sender_append_stale(s_, series.value(), timestamp_ms),
              "promrw_sender_append_stale");
    }
    /** Appends a stale marker for a histogram series. Throws as append(). */
    void append_stale_histogram(SeriesRef series, std::int64_t timestamp_ms) const
    {
        check(promrw_sender_append_stale_histogram(s_, series.value(), timestamp_ms),
              "promrw_sender_append_stale_histogram");
    }

    /**
     * Appends samples in order, stopping at the first one refused. The caller's memory is
     * passed to promrw_sender_append_batch() as it is (borrowed for the call only, no copy).
     * Throws, with the refused sample's status, Error::accepted() set to the number of samples
     * accepted before it (so samples[e.accepted()] is the refused one).
     */
    void append_batch(span<const Sample> samples) const
    {
        std::size_t accepted = 0;
        const Status status =
            promrw_sender_append_batch(s_, samples.data(), samples.size(), &accepted);
        if (status != PROMRW_OK)
            fail(status, "promrw_sender_append_batch", accepted);
    }
    void append_batch(const Sample *samples, std::size_t n) const
    {
        append_batch(span<const Sample>(samples, n));
    }

    /**
     * Appends samples given as parallel columns (borrowed for the call only, no copy):
     * `series` holds one reference per sample or a single one for all. Throws as
     * append_batch(); PROMRW_INVALID_ARGUMENT when the columns' lengths disagree.
     */
    void append_columns(span<const promrw_series_ref> series, span<const std::int64_t> timestamps_ms,
                        span<const double> values) const
    {
        if (timestamps_ms.size() != values.size())
            throw Error(PROMRW_INVALID_ARGUMENT,
                        "append_columns: timestamps_ms and values differ in length",
                        "promrw_sender_append_columns");
        std::size_t accepted = 0;
        const Status status = promrw_sender_append_columns(
            s_, series.data(), series.size(), timestamps_ms.data(), values.data(), values.size(),
            &accepted);
        if (status != PROMRW_OK)
            fail(status, "promrw_sender_append_columns", accepted);
    }
    /** As above, every sample of one series. */
    void append_columns(SeriesRef series, span<const std::int64_t> timestamps_ms,
                        span<const double> values) const
    {
        const promrw_series_ref ref = series.value();
        append_columns(span<const promrw_series_ref>(&ref, 1), timestamps_ms, values);
    }

    /** Appends one native histogram given as the C struct (passed through; the caller sets
     * struct_size). Throws as append(), PROMRW_INVALID_ARGUMENT when it breaks Prometheus's
     * rules (the message names the field or rule), PROMRW_INVALID_LABELS for its exemplar. */
    void append_histogram(SeriesRef series, std::int64_t timestamp_ms,
                          const promrw_histogram &h) const
    {
        call("promrw_sender_append_histogram", [&](promrw_error **err) {
            return promrw_sender_append_histogram(s_, series.value(), timestamp_ms, &h, err);
        });
    }
    /** Appends a Histogram (lent to the library as a promrw_histogram for the call). */
    void append_histogram(SeriesRef series, std::int64_t timestamp_ms, const Histogram &h) const
    {
        promrw_histogram c = to_c(h);
        append_histogram(series, timestamp_ms, c);
    }
    /** As above, with an exemplar attached. */
    void append_histogram(SeriesRef series, std::int64_t timestamp_ms, const Histogram &h,
                          const Exemplar &exemplar) const
    {
        detail::LabelBuffer labels(exemplar.labels);
        const promrw_exemplar ex = to_c(exemplar, labels);
        promrw_histogram c = to_c(h);
        c.exemplar = &ex;
        append_histogram(series, timestamp_ms, c);
    }

    /** Appends one sample with an exemplar and, optionally, a start timestamp (0: unset; not
     * after timestamp_ms). Throws as append(), PROMRW_INVALID_LABELS for the exemplar's
     * labels, PROMRW_INVALID_ARGUMENT for a start timestamp after timestamp_ms. */
    void append_with_exemplar(SeriesRef series, std::int64_t timestamp_ms, double value,
                              const Exemplar &exemplar, std::int64_t start_timestamp_ms = 0) const
    {
        detail::LabelBuffer labels(exemplar.labels);
        const promrw_exemplar ex = to_c(exemplar, labels);
        append_with_exemplar(series, timestamp_ms, start_timestamp_ms, value, &ex);
    }
    /** Appends one sample with a start timestamp and no exemplar. Throws as above. */
    void append_with_start_timestamp(SeriesRef series, std::int64_t timestamp_ms,
                                     std::int64_t start_timestamp_ms, double value) const
    {
        append_with_exemplar(series, timestamp_ms, start_timestamp_ms, value, nullptr);
    }
    /** The C call passed through: `exemplar` (or NULL) is borrowed for the call only. */
    void append_with_exemplar(SeriesRef series, std::int64_t timestamp_ms,
                              std::int64_t start_timestamp_ms, double value,
                              const promrw_exemplar *exemplar) const
    {
        call("promrw_sender_append_with_exemplar", [&](promrw_error **err) {
            return promrw_sender_append_with_exemplar(s_, series.value(), timestamp_ms,
                                                      start_timestamp_ms, value, exemplar, err);
        });
    }

    /** Sets a series' metadata (type, help, unit; borrowed for the call only). Throws
     * PROMRW_UNKNOWN_SERIES, PROMRW_CLOSED, PROMRW_IO (WAL), PROMRW_INVALID_ARGUMENT. */
    void set_metadata(SeriesRef series, MetricType type, std::string_view help,
                      std::string_view unit = {}) const
    {
        call("promrw_sender_set_metadata", [&](promrw_error **err) {
            return promrw_sender_set_metadata(s_, series.value(), static_cast<std::uint32_t>(type),
                                              help.data(), help.size(), unit.data(), unit.size(),
                                              err);
        });
    }

    /** Forgets a series (its queued samples are still sent). Throws PROMRW_UNKNOWN_SERIES,
     * PROMRW_CLOSED. */
    void release_series(SeriesRef series) const
    {
        check(promrw_sender_release_series(s_, series.value()), "promrw_sender_release_series");
    }

    /** Waits until every sample appended before the call is acknowledged or failed. Throws
     * PROMRW_SAMPLES_LOST or PROMRW_TIMEOUT with the report text as what() (the sender stays
     * usable; last_report() has the numbers), PROMRW_CLOSED. */
    void flush(std::chrono::milliseconds timeout) const
    {
        report_outcome(promrw_sender_flush(s_, detail::to_ms(timeout)), "promrw_sender_flush");
    }

    /** Makes every sample accepted before the call durable (WAL mode; at once in memory mode).
     * Throws PROMRW_TIMEOUT, PROMRW_CLOSED. */
    void sync(std::chrono::milliseconds timeout) const
    {
        check(promrw_sender_sync(s_, detail::to_ms(timeout)), "promrw_sender_sync");
    }

    /** Stops accepting samples, sends what is queued for up to `timeout`, stops the threads.
     * Afterwards only stats(), metrics_text(), last_report() and last_report_text() work
     * (the rest throw PROMRW_CLOSED). Throws PROMRW_SAMPLES_LOST or PROMRW_TIMEOUT (with the
     * report text; the sender is closed all the same), PROMRW_CLOSED when already closed. */
    void close(std::chrono::milliseconds timeout = default_close_timeout)
    {
        report_outcome(promrw_sender_close(s_, detail::to_ms(timeout)), "promrw_sender_close");
    }

    /** A snapshot of the counters (also after close()). */
    [[nodiscard]] Stats stats() const
    {
        Stats st{};
        st.struct_size = sizeof st;
        check(promrw_sender_stats(s_, &st), "promrw_sender_stats");
        return st;
    }

    /** The self-metrics in the Prometheus text format (also after close()). */
    [[nodiscard]] std::string metrics_text() const
    {
        return read_text("promrw_sender_metrics_text",
                         [this](char *buf, std::size_t cap, std::size_t *len) {
                             return promrw_sender_metrics_text(s_, buf, cap, len);
                         });
    }

    /** The report of the most recent flush or close, for one endpoint (0-based) or
     * all_endpoints. Throws PROMRW_INVALID_ARGUMENT for an endpoint out of range. */
    [[nodiscard]] Report last_report(std::size_t endpoint = all_endpoints) const
    {
        Report r{};
        r.struct_size = sizeof r;
        check(promrw_sender_last_report(s_, endpoint, &r), "promrw_sender_last_report");
        return r;
    }

    /** The report of the most recent flush or close as text (empty when it was OK). */
    [[nodiscard]] std::string last_report_text(std::size_t endpoint = all_endpoints) const
    {
        return read_text("promrw_sender_last_report_text",
                         [this, endpoint](char *buf, std::size_t cap, std::size_t *len) {
                             return promrw_sender_last_report_text(s_, endpoint, buf, cap, len);
                         });
    }

    /** Changes the minimum level passed to the log callback. Throws PROMRW_CLOSED,
     * PROMRW_INVALID_ARGUMENT for an unknown level. */
    void set_log_level(LogLevel min_level) const
    {
        check(promrw_sender_set_log_level(s_, static_cast<std::uint32_t>(min_level)),
              "promrw_sender_set_log_level");
    }

    /** The C handle (NULL after a move), still owned by this Sender. */
    promrw_sender *get() const noexcept { return s_; }
    /** Gives up ownership of the C handle; the caller frees it with promrw_sender_free(). */
    promrw_sender *release() noexcept { return std::exchange(s_, nullptr); }

private:
    void destroy() noexcept
    {
        if (s_ != nullptr) {
            (void)promrw_sender_close(s_, detail::to_ms(default_close_timeout));
            promrw_sender_free(s_);
            s_ = nullptr;
        }
    }

    /** Throws for a failure; a moved-from Sender says so rather than "invalid argument". */
    [[noreturn]] void fail(Status status, const char *function, std::size_t accepted = 0) const
    {
        if (s_ == nullptr)
            throw Error(status, "promrw::Sender: used after it was moved from or released",
                        function, accepted);
        detail::throw_status(status, function, accepted);
    }
    void check(Status status, const char *function) const
    {
        if (status != PROMRW_OK)
            fail(status, function);
    }
    template <class F>
    void call(const char *function, F &&f) const
    {
        if (s_ == nullptr)
            fail(PROMRW_INVALID_ARGUMENT, function);
        detail::call_with_error(function, std::forward<F>(f));
    }

    /** flush/close: SAMPLES_LOST and TIMEOUT carry the report text as their message. */
    void report_outcome(Status status, const char *function) const
    {
        if (status == PROMRW_OK)
            return;
        if ((status == PROMRW_SAMPLES_LOST || status == PROMRW_TIMEOUT) && s_ != nullptr) {
            std::string text;
            try {
                text = last_report_text();
            } catch (const Error &) {
                // fall back to the status name below
            }
            if (!text.empty())
                throw Error(status, text, function);
        }
        fail(status, function);
    }

    /** The size-query protocol of the *_text calls: ask, allocate with slack, retry. */
    template <class F>
    std::string read_text(const char *function, F &&f) const
    {
        std::string text;
        std::size_t len = 0;
        Status status = f(nullptr, 0, &len);
        while (status == PROMRW_BUFFER_TOO_SMALL) {
            text.resize(len + 256);
            status = f(&text[0], text.size(), &len);
        }
        check(status, function);
        text.resize(len);
        return text;
    }

    static promrw_exemplar to_c(const Exemplar &e, const detail::LabelBuffer &labels) noexcept
    {
        promrw_exemplar c{};
        c.labels = labels.data();
        c.labels_len = labels.size();
        c.value = e.value;
        c.timestamp_ms = e.timestamp_ms.value_or(0);
        c.has_timestamp = e.timestamp_ms.has_value() ? 1u : 0u;
        return c;
    }

    static promrw_histogram to_c(const Histogram &h) noexcept
    {
        using detail::data_or_null;
        promrw_histogram c{};
        c.struct_size = sizeof c;
        c.schema = h.schema;
        c.kind = static_cast<std::uint32_t>(h.kind);
        c.zero_threshold = h.zero_threshold;
        c.sum = h.sum;
        c.count_int = h.count_int;
        c.zero_count_int = h.zero_count_int;
        c.count_float = h.count_float;
        c.zero_count_float = h.zero_count_float;
        c.positive_spans = data_or_null(h.positive_spans);
        c.positive_spans_len = h.positive_spans.size();
        c.negative_spans = data_or_null(h.negative_spans);
        c.negative_spans_len = h.negative_spans.size();
        c.positive_deltas = data_or_null(h.positive_deltas);
        c.positive_deltas_len = h.positive_deltas.size();
        c.negative_deltas = data_or_null(h.negative_deltas);
        c.negative_deltas_len = h.negative_deltas.size();
        c.positive_counts = data_or_null(h.positive_counts);
        c.positive_counts_len = h.positive_counts.size();
        c.negative_counts = data_or_null(h.negative_counts);
        c.negative_counts_len = h.negative_counts.size();
        c.custom_values = data_or_null(h.custom_values);
        c.custom_values_len = h.custom_values.size();
        c.reset_hint = static_cast<std::uint32_t>(h.reset_hint);
        c.start_timestamp_ms = h.start_timestamp_ms;
        c.exemplar = nullptr;
        return c;
    }

    promrw_sender *s_ = nullptr;
};

} // namespace promrw

#endif /* PROMRW_HPP */
