//! Text out of an [`Exposition`]: the inverse of the parser, used by the round-trip tests
//! and to show a series in messages.

use std::fmt::Write as _;

use promrw::MetricType;

use super::{Exposition, Format};

/// `name{label="value",...}` with values escaped as the text formats want (`\\`, `\"`,
/// `\n`); just `name` without labels.
pub fn render_labels(name: &str, labels: &[(String, String)]) -> String {
    let mut out = String::from(name);
    if labels.is_empty() {
        return out;
    }
    out.push('{');
    for (i, (n, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{n}=\"");
        escape_into(&mut out, v, true);
        out.push('"');
    }
    out.push('}');
    out
}

/// An exemplar's label block, `{}` when empty.
fn exemplar_labels(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        "{}".into()
    } else {
        render_labels("", labels)
    }
}

/// `text` escaped into `out`: backslash and line feed always, `"` when `quote`.
fn escape_into(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A value as both formats write it (`NaN`, `+Inf`, `-Inf`, else the shortest decimal that
/// reads back to the same bits).
fn value_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value:?}")
    }
}

/// A timestamp in the format's unit: integer ms (0.0.4) or seconds with three decimals
/// (OpenMetrics).
fn timestamp_text(ms: i64, format: Format) -> String {
    match format {
        Format::Prometheus => ms.to_string(),
        Format::OpenMetrics => {
            let sign = if ms < 0 { "-" } else { "" };
            let abs = ms.unsigned_abs();
            format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
        }
    }
}

/// The type's name in `format`.
pub(super) fn type_name(kind: MetricType, format: Format) -> &'static str {
    match kind {
        MetricType::Unknown if format == Format::Prometheus => "untyped",
        MetricType::Unknown => "unknown",
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::GaugeHistogram => "gaugehistogram",
        MetricType::Summary => "summary",
        MetricType::Info => "info",
        MetricType::StateSet => "stateset",
    }
}

/// The exposition as text in `format`: each family's descriptors, then its samples (every
/// one with its timestamp, and in OpenMetrics its exemplar), then (OpenMetrics) one
/// `_created` line per distinct start timestamp of its series, and `# EOF` last.
pub fn render(exposition: &Exposition, format: Format) -> String {
    let mut out = String::new();
    let mut by_family: Vec<Vec<usize>> = vec![Vec::new(); exposition.families.len()];
    for (i, sample) in exposition.samples.iter().enumerate() {
        let family = exposition.series[sample.series as usize].family as usize;
        by_family[family].push(i);
    }
    let mut exemplars = exposition.exemplars.iter().peekable();
    for (f, family) in exposition.families.iter().enumerate() {
        if family.typed {
            let _ = writeln!(
                out,
                "# TYPE {} {}",
                family.name,
                type_name(family.kind, format)
            );
        }
        if let Some(help) = &family.help {
            let _ = write!(out, "# HELP {} ", family.name);
            escape_into(&mut out, help, format == Format::OpenMetrics);
            out.push('\n');
        }
        if let (Some(unit), Format::OpenMetrics) = (&family.unit, format) {
            let _ = writeln!(out, "# UNIT {} {unit}", family.name);
        }
        let mut created: Vec<(String, i64)> = Vec::new();
        for &i in &by_family[f] {
            let sample = &exposition.samples[i];
            let series = &exposition.series[sample.series as usize];
            let _ = write!(
                out,
                "{} {} {}",
                render_labels(&series.name, &series.labels),
                value_text(sample.value),
                timestamp_text(sample.timestamp_ms, format)
            );
            while let Some(e) = exemplars.next_if(|e| e.sample as usize <= i) {
                if e.sample as usize == i && format == Format::OpenMetrics {
                    let _ = write!(
                        out,
                        " # {} {}",
                        exemplar_labels(&e.labels),
                        value_text(e.value)
                    );
                    if let Some(ts) = e.timestamp_ms {
                        let _ = write!(out, " {}", timestamp_text(ts, format));
                    }
                }
            }
            out.push('\n');
            if format == Format::OpenMetrics && series.start_ms != 0 {
                let labels: Vec<(String, String)> = series
                    .labels
                    .iter()
                    .filter(|(n, _)| n != "le" && n != "quantile")
                    .cloned()
                    .collect();
                let line = render_labels(&format!("{}_created", family.name), &labels);
                if !created.iter().any(|(l, _)| *l == line) {
                    created.push((line, series.start_ms));
                }
            }
        }
        for (line, start_ms) in created {
            let _ = writeln!(
                out,
                "{line} {}",
                timestamp_text(start_ms, Format::OpenMetrics)
            );
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}
