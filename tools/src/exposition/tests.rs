//! The parser over the text-format examples of the Prometheus documentation and the
//! OpenMetrics specification and test suite (each test says where its input comes from; the
//! inputs are restated here, the expectations are ours), and over our own edge cases.

use promrw::MetricType;

use super::*;

/// The default timestamp of these tests.
const NOW: i64 = 1_700_000_000_000;

fn options(format: Option<Format>) -> ParseOptions {
    ParseOptions {
        format,
        default_timestamp_ms: NOW,
        skip_invalid: false,
    }
}

fn parse_text(text: &str) -> Exposition {
    parse(text.as_bytes(), &options(None)).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn parse_error(text: &str) -> ParseError {
    match parse(text.as_bytes(), &options(None)) {
        Ok(parsed) => panic!("parsed, expected an error: {parsed:?}\n{text}"),
        Err(e) => e,
    }
}

/// The series (name and labels as `name{a="b"}`) and value of each sample, with timestamps.
fn samples(parsed: &Exposition) -> Vec<(String, f64, i64)> {
    parsed
        .samples
        .iter()
        .map(|s| {
            let series = &parsed.series[s.series as usize];
            (
                render_labels(&series.name, &series.labels),
                s.value,
                s.timestamp_ms,
            )
        })
        .collect()
}

fn family<'a>(parsed: &'a Exposition, name: &str) -> &'a Family {
    parsed
        .families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}: {:?}", parsed.families))
}

/// The example of the Prometheus documentation, "Exposition formats", section "Text format
/// example" (prometheus.io/docs/instrumenting/exposition_formats/).
const PROMETHEUS_DOCS_EXAMPLE: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;

#[test]
fn prometheus_documentation_example() {
    let parsed = parse_text(PROMETHEUS_DOCS_EXAMPLE);
    assert_eq!(parsed.format, Some(Format::Prometheus));
    let all = samples(&parsed);
    assert_eq!(all.len(), 2 + 1 + 1 + 1 + 8 + 7);
    assert_eq!(
        all[0],
        (
            r#"http_requests_total{method="post",code="200"}"#.into(),
            1027.0,
            1395066363000
        )
    );
    assert_eq!(all[1].1, 3.0, "several blanks before the value");
    // Escapes: \\ and \" and \n in label values.
    let msdos = &parsed.series[parsed.samples[2].series as usize];
    assert_eq!(msdos.labels[0], ("path".into(), r"C:\DIR\FILE.TXT".into()));
    assert_eq!(
        msdos.labels[1],
        ("error".into(), "Cannot find file:\n\"FILE.TXT\"".into())
    );
    assert_eq!(parsed.samples[2].value, 1.458255915e9);
    assert_eq!(
        parsed.samples[2].timestamp_ms, NOW,
        "no timestamp: the default"
    );
    assert_eq!(
        all[3],
        ("metric_without_timestamp_and_labels".into(), 12.47, NOW)
    );
    assert_eq!(parsed.samples[4].value, f64::INFINITY);
    assert_eq!(parsed.samples[4].timestamp_ms, -3982045, "before the epoch");
    let counter = family(&parsed, "http_requests_total");
    assert_eq!(counter.kind, MetricType::Counter);
    assert_eq!(
        counter.help.as_deref(),
        Some("The total number of HTTP requests.")
    );
    let histogram = family(&parsed, "http_request_duration_seconds");
    assert_eq!(histogram.kind, MetricType::Histogram);
    let summary = family(&parsed, "rpc_duration_seconds");
    assert_eq!(summary.kind, MetricType::Summary);
    // Every histogram and summary series belongs to its family; the others to untyped ones.
    for series in &parsed.series {
        let f = &parsed.families[series.family as usize];
        assert!(series.name.starts_with(&f.name), "{series:?} in {f:?}");
    }
    let weird = family(&parsed, "something_weird");
    assert!(!weird.typed && weird.metadata().is_none());
    assert_eq!(
        histogram.metadata().unwrap().help,
        "A histogram of the request duration."
    );
}

/// The OpenMetrics test suite's `tests/testdata/parsers/roundtrip/metrics.txt`
/// (github.com/OpenObservability/OpenMetrics).
const OPENMETRICS_ROUNDTRIP: &str = r#"# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.0"} 0.013300656000000001
go_gc_duration_seconds{quantile="0.25"} 0.013638736
go_gc_duration_seconds{quantile="0.5"} 0.013759906
go_gc_duration_seconds{quantile="0.75"} 0.013962066
go_gc_duration_seconds{quantile="1.0"} 0.021383540000000003
go_gc_duration_seconds_sum 56.12904785
go_gc_duration_seconds_count 7476.0
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 166.0
# HELP prometheus_local_storage_indexing_batch_duration_milliseconds Quantiles for batch indexing duration in milliseconds.
# TYPE prometheus_local_storage_indexing_batch_duration_milliseconds summary
prometheus_local_storage_indexing_batch_duration_milliseconds{quantile="0.5"} NaN
prometheus_local_storage_indexing_batch_duration_milliseconds{quantile="0.9"} NaN
prometheus_local_storage_indexing_batch_duration_milliseconds{quantile="0.99"} NaN
prometheus_local_storage_indexing_batch_duration_milliseconds_sum 871.5665949999999
prometheus_local_storage_indexing_batch_duration_milliseconds_count 229.0
# HELP process_cpu_seconds Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds counter
process_cpu_seconds_total 29323.4
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 2.478268416e+09
# HELP prometheus_build_info A metric with a constant '1' value labeled by version, revision, and branch from which Prometheus was built.
# TYPE prometheus_build_info gauge
prometheus_build_info{branch="HEAD",revision="ef176e5",version="0.16.0rc1"} 1.0
# HELP prometheus_local_storage_chunk_ops The total number of chunk operations by their type.
# TYPE prometheus_local_storage_chunk_ops counter
prometheus_local_storage_chunk_ops_total{type="clone"} 28.0
prometheus_local_storage_chunk_ops_total{type="create"} 997844.0
prometheus_local_storage_chunk_ops_total{type="drop"} 1.345758e+06
prometheus_local_storage_chunk_ops_total{type="load"} 1641.0
prometheus_local_storage_chunk_ops_total{type="persist"} 981408.0
prometheus_local_storage_chunk_ops_total{type="pin"} 32662.0
prometheus_local_storage_chunk_ops_total{type="transcode"} 980180.0
prometheus_local_storage_chunk_ops_total{type="unpin"} 32662.0
# HELP foo histogram Testing histogram buckets
# TYPE foo histogram
foo_bucket{le="0.0"} 0.0
foo_bucket{le="1e-05"} 0.0
foo_bucket{le="0.0001"} 0.0
foo_bucket{le="0.1"} 8.0
foo_bucket{le="1.0"} 10.0
foo_bucket{le="10.0"} 17.0
foo_bucket{le="100000.0"} 17.0
foo_bucket{le="1e+06"} 17.0
foo_bucket{le="1.55555555555552e+06"} 17.0
foo_bucket{le="1e+23"} 17.0
foo_bucket{le="+Inf"} 17.0
foo_count 17.0
foo_sum 324789.3
foo_created 1.520430000123e+09
# EOF
"#;

#[test]
fn openmetrics_test_suite_roundtrip() {
    let parsed = parse_text(OPENMETRICS_ROUNDTRIP);
    assert_eq!(parsed.format, Some(Format::OpenMetrics));
    // 49 lines of samples; foo_created is a start timestamp, not a sample.
    assert_eq!(parsed.samples.len(), 7 + 1 + 5 + 1 + 1 + 1 + 8 + 13);
    let nan = samples(&parsed)
        .into_iter()
        .filter(|(_, v, _)| v.is_nan())
        .count();
    assert_eq!(nan, 3);
    let counter = family(&parsed, "process_cpu_seconds");
    assert_eq!(counter.kind, MetricType::Counter);
    let total = parsed
        .series
        .iter()
        .find(|s| s.name == "process_cpu_seconds_total")
        .unwrap();
    assert_eq!(
        parsed.families[total.family as usize].name,
        "process_cpu_seconds"
    );
    // _created: the start of every series of foo (le aside), in ms.
    let foo: Vec<&Series> = parsed
        .series
        .iter()
        .filter(|s| parsed.families[s.family as usize].name == "foo")
        .collect();
    assert_eq!(foo.len(), 13);
    assert!(
        foo.iter().all(|s| s.start_ms == 1_520_430_000_123),
        "{foo:?}"
    );
    assert!(parsed.series.iter().all(|s| s.name != "foo_created"));
    assert_eq!(
        family(&parsed, "foo").help.as_deref(),
        Some("histogram Testing histogram buckets")
    );
}

#[test]
fn openmetrics_test_suite_escaping() {
    // tests/testdata/parsers/escaping/metrics.txt of the OpenMetrics test suite: \" \n \\ in
    // label values and help; an unknown escape (\z, \t) is kept as written.
    let text = "# TYPE a counter\n# HELP a he\\n\\\\l\\tp\na_total{foo=\"b\\\"a\\nr\"} 1\na_total{foo=\"b\\\\a\\z\"} 2\n# EOF\n";
    let parsed = parse_text(text);
    assert_eq!(family(&parsed, "a").help.as_deref(), Some("he\n\\l\\tp"));
    assert_eq!(parsed.series[0].labels[0].1, "b\"a\nr");
    assert_eq!(parsed.series[1].labels[0].1, "b\\a\\z");
}

#[test]
fn openmetrics_specification_histogram_with_exemplars() {
    // The OpenMetrics 1.0 specification, "Histogram with exemplars" example: exemplars with
    // no labels, with labels, with a timestamp in seconds.
    let text = r#"# TYPE foo histogram
foo_bucket{le="0.01"} 0
foo_bucket{le="0.1"} 8 # {} 0.054
foo_bucket{le="1"} 11 # {trace_id="KOO5S4vxi0o"} 0.67
foo_bucket{le="10"} 17 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789
foo_bucket{le="+Inf"} 17
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# EOF
"#;
    let parsed = parse_text(text);
    assert_eq!(parsed.exemplars.len(), 3);
    assert_eq!(parsed.exemplars[0].sample, 1);
    assert!(parsed.exemplars[0].labels.is_empty());
    assert_eq!(parsed.exemplars[0].value, 0.054);
    assert_eq!(parsed.exemplars[0].timestamp_ms, None);
    assert_eq!(
        parsed.exemplars[1].labels,
        vec![("trace_id".to_string(), "KOO5S4vxi0o".to_string())]
    );
    assert_eq!(parsed.exemplars[2].sample, 3);
    assert_eq!(parsed.exemplars[2].timestamp_ms, Some(1_520_879_607_789));
    assert!(
        parsed
            .series
            .iter()
            .all(|s| s.start_ms == 1_520_430_000_123)
    );
}

#[test]
fn openmetrics_test_suite_exemplar_limits() {
    // exemplars_wide_chars (good: 128 characters, some wide) and bad_exemplars_0 (a '#'
    // without an exemplar) of the OpenMetrics test suite.
    let wide = format!(
        "# TYPE a histogram\na_bucket{{le=\"+Inf\"}} 1 # {{a=\"☃{}\"}} 1 1\n# EOF\n",
        "3456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
            .chars()
            .take(126)
            .collect::<String>()
    );
    let parsed = parse_text(&wide);
    assert_eq!(parsed.exemplars.len(), 1);
    let too_wide = wide.replace("☃", "☃☃");
    let e = parse_error(&too_wide);
    assert!(e.message.contains("more than 128"), "{e}");
    let e = parse_error("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1 #\n# EOF\n");
    assert_eq!(e.position.line, 2);
    // Exemplars only on counters' _total and histograms' _bucket.
    let e = parse_error("# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\n");
    assert!(e.message.contains("allowed only"), "{e}");
    assert_eq!(e.position, Position { line: 2, column: 5 });
}

#[test]
fn openmetrics_counters_units_and_timestamps() {
    let text = "# TYPE req_seconds counter\n# UNIT req_seconds seconds\n# HELP req_seconds Time \"spent\".\nreq_seconds_total{a=\"1\"} 5 1700000000.5\nreq_seconds_created{a=\"1\"} 1600000000\n# EOF";
    let parsed = parse_text(text);
    let f = family(&parsed, "req_seconds");
    assert_eq!(f.unit.as_deref(), Some("seconds"));
    assert_eq!(f.help.as_deref(), Some("Time \"spent\"."));
    assert_eq!(parsed.samples[0].timestamp_ms, 1_700_000_000_500);
    assert_eq!(parsed.series[0].start_ms, 1_600_000_000_000);
    // A counter's sample without _total does not fit it.
    let e = parse_error("# TYPE a counter\na 1\n# EOF\n");
    assert!(e.message.contains("does not fit"), "{e}");
    // Negative and NaN totals are errors (the test suite's bad_counter_values_*).
    for bad in ["-1", "NaN"] {
        let e = parse_error(&format!("# TYPE a counter\na_total {bad}\n# EOF\n"));
        assert!(e.message.contains("negative or NaN"), "{e}");
    }
    // The unit must end the family's name.
    let e = parse_error("# TYPE a counter\n# UNIT a seconds\n# EOF\n");
    assert!(e.message.contains("not a suffix"), "{e}");
    // NaN and infinite timestamps (bad_exemplar_timestamp_*, and the same on samples).
    for bad in ["NaN", "+Inf", "-Inf"] {
        let e = parse_error(&format!("a 1 {bad}\n# EOF\n"));
        assert!(e.message.contains("invalid timestamp"), "{bad}: {e}");
    }
}

#[test]
fn openmetrics_structure_errors() {
    let cases: [(&str, u32, &str); 9] = [
        ("a 1\n\nb 1\n# EOF\n", 2, "blank line"),
        ("a 1\n", 2, "missing \"# EOF\""),
        ("a 1\n# EOF\nb 1\n", 3, "after \"# EOF\""),
        ("a 1\nb 1\na 2\n# EOF\n", 3, "another family"),
        ("a 1\n# TYPE a gauge\n# EOF\n", 2, "after its samples"),
        ("# TYPE a gauge\n# TYPE a gauge\n# EOF\n", 2, "second TYPE"),
        (
            "# a comment\n# EOF\n",
            1,
            "OpenMetrics has no other comments",
        ),
        ("a  1\n# EOF\n", 1, "second blank"),
        (
            "# TYPE a histogram\na_bucket 1\n# EOF\n",
            2,
            "without an le",
        ),
    ];
    for (text, line, message) in cases {
        let e = parse(text.as_bytes(), &options(Some(Format::OpenMetrics))).unwrap_err();
        assert_eq!(e.position.line, line, "{text:?}: {e}");
        assert!(e.message.contains(message), "{text:?}: {e}");
    }
}

#[test]
fn prometheus_leniency_and_errors() {
    // 0.0.4 allows blanks anywhere between tokens, a trailing comma, comments, blank lines,
    // CR LF line ends, a missing final line feed.
    let text = "  # just a comment\n\n m { a = \"1\" , b=\"2\", } \t 7 \t 123 \r\nn 1";
    let parsed = parse_text(text);
    assert_eq!(
        samples(&parsed),
        vec![
            (r#"m{a="1",b="2"}"#.to_string(), 7.0, 123),
            ("n".to_string(), 1.0, NOW)
        ]
    );
    let cases: [(&str, Position, &str); 8] = [
        (
            "a{b=\"1\" 1\n",
            Position { line: 1, column: 2 },
            "not closed",
        ),
        (
            "a{b=\"1\"} x\n",
            Position {
                line: 1,
                column: 10,
            },
            "invalid value",
        ),
        (
            "a 1 1.5\n",
            Position { line: 1, column: 5 },
            "integer milliseconds",
        ),
        (
            "a 1 2 3\n",
            Position { line: 1, column: 7 },
            "after the timestamp",
        ),
        (
            "a{1=\"x\"} 1\n",
            Position { line: 1, column: 3 },
            "label name",
        ),
        (
            "a{b=\"1\",b=\"2\"} 1\n",
            Position { line: 1, column: 9 },
            "appears twice",
        ),
        (
            "ok 1\n# TYPE a summary\na 1\n# TYPE a gauge\n",
            Position { line: 4, column: 8 },
            "after its samples",
        ),
        (
            "a{é=\"1\"} 1\n",
            Position { line: 1, column: 3 },
            "label name",
        ),
    ];
    for (text, position, message) in cases {
        let e = parse(text.as_bytes(), &options(Some(Format::Prometheus))).unwrap_err();
        assert_eq!(e.position, position, "{text:?}: {e}");
        assert!(e.message.contains(message), "{text:?}: {e}");
    }
    // Columns count characters: the error after "é" is at column 12, not byte 13.
    let e = parse_text_err("a{b=\"é\"} 1 x\n");
    assert_eq!(
        e.position,
        Position {
            line: 1,
            column: 12
        }
    );
    // Exemplars are OpenMetrics only.
    let e = parse_text_err("a_total 1 # {a=\"b\"} 1\n");
    assert!(e.message.contains("OpenMetrics only"), "{e}");
}

fn parse_text_err(text: &str) -> ParseError {
    parse(text.as_bytes(), &options(Some(Format::Prometheus))).unwrap_err()
}

#[test]
fn repeated_series_text_is_one_series() {
    let text = "a{x=\"1\"} 1 1000\na{x=\"1\"} 2 2000\nb 1\na{x=\"1\"} 3 3000\na{x=\"2\"} 3 3000\n";
    let parsed = parse_text(text);
    assert_eq!(parsed.series.len(), 3);
    let ids: Vec<u32> = parsed.samples.iter().map(|s| s.series).collect();
    assert_eq!(ids, [0, 0, 1, 0, 2]);
    assert_eq!(parsed.series[0].first, Position { line: 1, column: 1 });
}

#[test]
fn skip_invalid_skips_bad_lines_and_lists_them() {
    let text = "a 1\nb{ 2\nc 3\nd x\n";
    let parsed = parse(
        text.as_bytes(),
        &ParseOptions {
            skip_invalid: true,
            ..options(None)
        },
    )
    .unwrap();
    assert_eq!(parsed.samples.len(), 2);
    let lines: Vec<u32> = parsed.skipped.iter().map(|e| e.position.line).collect();
    assert_eq!(lines, [2, 4]);
    assert_eq!(parsed.series.len(), 2, "nothing of a skipped line is kept");
}

#[test]
fn format_detection_looks_at_the_last_line() {
    assert_eq!(Format::detect(b"a 1\n# EOF\n"), Format::OpenMetrics);
    assert_eq!(Format::detect(b"a 1\n# EOF"), Format::OpenMetrics);
    assert_eq!(Format::detect(b"a 1\n# EOF\n\n"), Format::OpenMetrics);
    assert_eq!(Format::detect(b"a 1\n"), Format::Prometheus);
    assert_eq!(Format::detect(b""), Format::Prometheus);
    assert_eq!(Format::detect(b"# EOF x\n"), Format::Prometheus);
}

#[test]
fn render_writes_what_parse_reads() {
    let parsed = parse_text(PROMETHEUS_DOCS_EXAMPLE);
    let again = parse_text(&render(&parsed, Format::Prometheus));
    assert_eq!(samples(&again).len(), samples(&parsed).len());
    for (a, b) in samples(&again).iter().zip(samples(&parsed).iter()) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.1.to_bits(), b.1.to_bits());
        assert_eq!(a.2, b.2);
    }
    let om = parse_text(OPENMETRICS_ROUNDTRIP);
    let om_again = parse_text(&render(&om, Format::OpenMetrics));
    assert_eq!(om_again.series.len(), om.series.len());
    assert!(
        om_again
            .series
            .iter()
            .zip(&om.series)
            .all(|(a, b)| a.start_ms == b.start_ms)
    );
}
