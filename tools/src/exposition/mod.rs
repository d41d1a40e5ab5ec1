//! A parser of the Prometheus text exposition format (0.0.4) and OpenMetrics 1.0 text, for
//! `promrw push`: the whole input is parsed into a table of distinct series (each label set
//! parsed and unescaped once), a flat list of samples that name their series by index, the
//! metric families' metadata (`# TYPE`, `# HELP`, `# UNIT`), OpenMetrics exemplars and
//! `_created` start timestamps.
//!
//! Built for speed: lines are found with `memchr`, and a sample line whose series text (name
//! and label block, byte for byte) was seen before costs a hash lookup of those bytes, not a
//! label parse. Errors carry a line and a column (1-based; the column counts characters).
//!
//! Why not a crate: `openmetrics-parser` (LGPL-3.0, a pest grammar building owned trees) and
//! `prometheus-parse` (0.0.4 only, a regex per line, no exemplars) were the candidates on
//! crates.io; neither is complete, fast or actively kept (docs/ARCHITECTURE.md, "promrw push").

mod chunked;
mod lexer;
mod parser;
mod render;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

pub use chunked::{InputError, parse_seekable};
pub use parser::parse;
pub use render::{render, render_labels};

use promrw::{Metadata, MetricType};

/// The text format of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4: any blanks between tokens, `#` comments,
    /// timestamps in integer milliseconds, no exemplars.
    Prometheus,
    /// OpenMetrics 1.0 text: single spaces, `# EOF` last, timestamps in seconds (with a
    /// fraction), exemplars, `# UNIT`, counters' samples named `<family>_total`.
    OpenMetrics,
}

impl Format {
    /// The format of `input` when none is given: OpenMetrics when its last line is `# EOF`
    /// (OpenMetrics requires it, and a 0.0.4 exposition has no reason to end so), else 0.0.4.
    pub fn detect(input: &[u8]) -> Format {
        let mut end = input.len();
        while end > 0 && matches!(input[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
            end -= 1;
        }
        let body = &input[..end];
        let last_line = match memchr::memrchr(b'\n', body) {
            Some(nl) => &body[nl + 1..],
            None => body,
        };
        if last_line == b"# EOF" {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

/// Where something is in the input: 1-based line and column (characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1, in characters.
    pub column: u32,
}

/// A parse error: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Where the problem is.
    pub position: Position,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            self.position.line, self.position.column, self.message
        )
    }
}

/// How to parse.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// The format; `None` detects it ([`Format::detect`]).
    pub format: Option<Format>,
    /// The timestamp, in ms, of samples that carry none.
    pub default_timestamp_ms: i64,
    /// Skip bad lines (recording their errors in [`Exposition::skipped`]) instead of stopping
    /// at the first.
    pub skip_invalid: bool,
}

/// One metric family: its name and what `# TYPE`, `# HELP` and `# UNIT` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The family's name (`# TYPE <name> ...`, or the sample's name for a family without
    /// descriptors).
    pub name: String,
    /// The type (`Unknown` when no `# TYPE` said otherwise).
    pub kind: MetricType,
    /// Whether a `# TYPE` line gave the type.
    pub typed: bool,
    /// The unescaped help text (`None`: no `# HELP`).
    pub help: Option<String>,
    /// The unit (`None`: no `# UNIT`).
    pub unit: Option<String>,
}

impl Family {
    /// The family's metadata, `None` when it had no descriptor at all.
    pub fn metadata(&self) -> Option<Metadata> {
        if !self.typed && self.help.is_none() && self.unit.is_none() {
            return None;
        }
        Some(Metadata {
            kind: self.kind,
            help: self.help.clone().unwrap_or_default(),
            unit: self.unit.clone().unwrap_or_default(),
        })
    }
}

/// One distinct series of the input (distinct by its text: the same labels written in
/// another order or spacing are two entries here, one series once registered).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The metric name (the sample's, suffix included).
    pub name: String,
    /// The labels in the order written, values unescaped (empty values kept).
    pub labels: Vec<(String, String)>,
    /// Index of its family in [`Exposition::families`].
    pub family: u32,
    /// OpenMetrics: the start timestamp in ms from the family's `_created` sample of the
    /// same labels (0: none).
    pub start_ms: i64,
    /// Where its first sample is.
    pub first: Position,
}

/// One sample: its series, where it is, its timestamp and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Index in [`Exposition::series`].
    pub series: u32,
    /// Its line.
    pub line: u32,
    /// Milliseconds since the Unix epoch (the default timestamp when the line has none).
    pub timestamp_ms: i64,
    /// The value, bits as parsed.
    pub value: f64,
}

/// An OpenMetrics exemplar, attached to one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedExemplar {
    /// Index in [`Exposition::samples`] of the sample it belongs to.
    pub sample: u32,
    /// Its labels, unescaped, in the order written.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
    /// Its timestamp in ms, if it has one.
    pub timestamp_ms: Option<i64>,
}

/// What one input parsed to.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// The format it was parsed as (`None` only for an empty default).
    pub format: Option<Format>,
    /// The metric families, in order of appearance.
    pub families: Vec<Family>,
    /// The distinct series, in order of first appearance.
    pub series: Vec<Series>,
    /// The samples, in input order.
    pub samples: Vec<Sample>,
    /// The exemplars, in input order (so by [`ParsedExemplar::sample`]).
    pub exemplars: Vec<ParsedExemplar>,
    /// With [`ParseOptions::skip_invalid`]: the errors of the lines skipped, in order.
    pub skipped: Vec<ParseError>,
}
