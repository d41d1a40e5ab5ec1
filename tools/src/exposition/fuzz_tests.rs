//! Property tests (the fuzzing `cargo fuzz` would do, on stable): generated valid
//! expositions, rendered in either format, parse back to what was rendered; mangled text
//! (random byte edits of valid text, or random bytes) parses or fails with a position in
//! the input, never panics.

use promrw::MetricType;
use proptest::prelude::*;

use super::*;

/// Label values and help texts: escapes, quotes, braces, `#`, blanks, wide characters.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('\\'),
            Just('"'),
            Just('\n'),
            Just('{'),
            Just('}'),
            Just('#'),
            Just(' '),
            Just(','),
            Just('='),
            Just('é'),
            Just('☃'),
            proptest::char::range('a', 'z'),
        ],
        0..12,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Sample values: any float, the specials included.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        (0u64..1_000_000).prop_map(|v| v as f64),
        proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL,
    ]
}

/// One generated series: labels, samples (value, timestamp), an exemplar (trace id, value).
type GenSeries = (
    Vec<(String, String)>,
    Vec<(f64, i64)>,
    Option<(String, f64)>,
);

/// One generated family: type, help, unit, and its series (labels, samples).
#[derive(Debug, Clone)]
struct GenFamily {
    kind: MetricType,
    help: Option<String>,
    unit: Option<String>,
    series: Vec<GenSeries>,
}

fn family() -> impl Strategy<Value = GenFamily> {
    let series = (
        proptest::collection::vec(("[a-z_][a-z0-9_]{0,3}", text()), 0..3),
        proptest::collection::vec((value(), -1_000_000_000i64..4_000_000_000_000), 1..3),
        proptest::option::of(("[a-z]{1,8}", value())),
    );
    (
        prop_oneof![
            Just(MetricType::Gauge),
            Just(MetricType::Counter),
            Just(MetricType::Unknown)
        ],
        proptest::option::of(text()),
        proptest::option::of("[a-z]{1,6}"),
        proptest::collection::vec(series, 1..4),
    )
        .prop_map(|(kind, help, unit, series)| GenFamily {
            kind,
            help,
            unit,
            series,
        })
}

/// The exposition a list of generated families describes in `format` (what the parser must
/// return for its rendering).
fn build(families: &[GenFamily], format: Format) -> Exposition {
    let om = format == Format::OpenMetrics;
    let mut out = Exposition {
        format: Some(format),
        ..Exposition::default()
    };
    for (f, generated) in families.iter().enumerate() {
        let unit = generated.unit.clone().filter(|_| om);
        let name = match &unit {
            Some(unit) => format!("f{f}_{unit}"),
            None => format!("f{f}"),
        };
        // 0.0.4 help text starts after any number of blanks: none of its own lead.
        let help = generated.help.clone().map(|help| {
            if om {
                help
            } else {
                help.trim_start_matches(' ').to_string()
            }
        });
        out.families.push(Family {
            name: name.clone(),
            kind: generated.kind,
            typed: true,
            help,
            unit,
        });
        let sample_name = if om && generated.kind == MetricType::Counter {
            format!("{name}_total")
        } else {
            name.clone()
        };
        for (s, (labels, points, exemplar)) in generated.series.iter().enumerate() {
            // Unique names, and a label that keeps each series' text distinct.
            let mut labels: Vec<(String, String)> =
                labels
                    .iter()
                    .filter(|(n, _)| n != "i")
                    .fold(Vec::new(), |mut acc, (n, v)| {
                        if !acc.iter().any(|(seen, _): &(String, String)| seen == n) {
                            acc.push((n.clone(), v.clone()));
                        }
                        acc
                    });
            labels.push(("i".into(), s.to_string()));
            let index = out.series.len() as u32;
            out.series.push(Series {
                name: sample_name.clone(),
                labels,
                family: f as u32,
                start_ms: 0,
                first: Position { line: 0, column: 0 },
            });
            for (p, &(value, timestamp_ms)) in points.iter().enumerate() {
                // OpenMetrics counters are never negative or NaN.
                let value = if om && generated.kind == MetricType::Counter {
                    if value.is_nan() { 1.0 } else { value.abs() }
                } else {
                    value
                };
                if let (true, MetricType::Counter, Some((trace, ex_value)), 0) =
                    (om, generated.kind, exemplar, p)
                {
                    out.exemplars.push(ParsedExemplar {
                        sample: out.samples.len() as u32,
                        labels: vec![("trace_id".into(), trace.clone())],
                        value: *ex_value,
                        timestamp_ms: Some(timestamp_ms),
                    });
                }
                out.samples.push(Sample {
                    series: index,
                    line: 0,
                    timestamp_ms,
                    value,
                });
            }
        }
    }
    out
}

/// `parsed` without positions (the generated model has none).
fn without_positions(mut parsed: Exposition) -> Exposition {
    for series in &mut parsed.series {
        series.first = Position { line: 0, column: 0 };
    }
    for sample in &mut parsed.samples {
        sample.line = 0;
    }
    parsed
}

/// Asserts two expositions are equal, floats by their bits (NaN included).
fn assert_same(a: &Exposition, b: &Exposition) -> Result<(), TestCaseError> {
    prop_assert_eq!(&a.families, &b.families);
    prop_assert_eq!(&a.series, &b.series);
    prop_assert_eq!(a.samples.len(), b.samples.len());
    for (x, y) in a.samples.iter().zip(&b.samples) {
        prop_assert_eq!(x.series, y.series);
        prop_assert_eq!(x.timestamp_ms, y.timestamp_ms);
        prop_assert!(
            x.value.to_bits() == y.value.to_bits() || (x.value.is_nan() && y.value.is_nan()),
            "{} != {}",
            x.value,
            y.value
        );
    }
    prop_assert_eq!(a.exemplars.len(), b.exemplars.len());
    for (x, y) in a.exemplars.iter().zip(&b.exemplars) {
        prop_assert_eq!(x.sample, y.sample);
        prop_assert_eq!(&x.labels, &y.labels);
        prop_assert_eq!(x.timestamp_ms, y.timestamp_ms);
        prop_assert!(
            x.value.to_bits() == y.value.to_bits() || (x.value.is_nan() && y.value.is_nan())
        );
    }
    Ok(())
}

/// One byte edit: insert, delete or replace at a position (taken modulo the length).
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        Just(b'\n'),
        Just(b' '),
        Just(b'#'),
        Just(b'{'),
        Just(b'}'),
        Just(b'"'),
        Just(b'\\'),
        Just(b'='),
        Just(b','),
        Just(0xff),
        Just(0xc3),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Replace(i, b)),
    ]
}

fn apply(text: &mut Vec<u8>, edit: &Edit) {
    match *edit {
        Edit::Insert(i, b) => {
            let at = i % (text.len() + 1);
            text.insert(at, b);
        }
        Edit::Delete(i) if !text.is_empty() => {
            let at = i % text.len();
            text.remove(at);
        }
        Edit::Replace(i, b) if !text.is_empty() => {
            let at = i % text.len();
            text[at] = b;
        }
        _ => {}
    }
}

/// Parses `input` every way (each format and detection, with and without skipping) and
/// checks that every error has a position inside the input.
fn parse_every_way(input: &[u8]) -> Result<(), TestCaseError> {
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    for format in [None, Some(Format::Prometheus), Some(Format::OpenMetrics)] {
        for skip_invalid in [false, true] {
            let options = ParseOptions {
                format,
                default_timestamp_ms: 0,
                skip_invalid,
            };
            let errors = match parse(input, &options) {
                Ok(parsed) => parsed.skipped,
                Err(e) => vec![e],
            };
            for e in errors {
                prop_assert!(e.position.line >= 1 && e.position.line <= lines + 1, "{e}");
                prop_assert!(e.position.column >= 1, "{e}");
                prop_assert!(!e.message.is_empty());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_expositions_round_trip(families in proptest::collection::vec(family(), 1..5)) {
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let expected = build(&families, format);
            let text = render(&expected, format);
            let options = ParseOptions { format: None, default_timestamp_ms: 0, skip_invalid: false };
            let parsed = parse(text.as_bytes(), &options)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(parsed.format, Some(format));
            assert_same(&without_positions(parsed), &expected)?;
        }
    }

    #[test]
    fn mangled_expositions_fail_with_a_position(
        families in proptest::collection::vec(family(), 1..4),
        om in any::<bool>(),
        edits in proptest::collection::vec(edit(), 1..8),
    ) {
        let format = if om { Format::OpenMetrics } else { Format::Prometheus };
        let mut text = render(&build(&families, format), format).into_bytes();
        for edit in &edits {
            apply(&mut text, edit);
        }
        parse_every_way(&text)?;
    }

    #[test]
    fn random_bytes_fail_with_a_position(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        parse_every_way(&input)?;
    }
}
