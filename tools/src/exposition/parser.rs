//! Lines to families, series and samples: descriptors (`# TYPE`, `# HELP`, `# UNIT`), the
//! family each sample belongs to and the rules on their order, the series table keyed by the
//! series' text, OpenMetrics exemplars, `_created` and `# EOF`.

use fxhash::FxHashMap;
use promrw::MetricType;
use promrw::model::EXEMPLAR_MAX_LABEL_RUNES;

use super::lexer::{
    Cursor, LexError, LexResult, error, label_block_end, parse_ms_timestamp,
    parse_seconds_timestamp, parse_value, unescape,
};
use super::{
    Exposition, Family, Format, ParseError, ParseOptions, ParsedExemplar, Position, Sample, Series,
};

/// Inputs from this size on are parsed in two halves on two threads.
pub(super) const PARALLEL_FROM: usize = 8 << 20;

/// Parses a whole input. The first bad line is the error, unless `options.skip_invalid`,
/// which skips bad lines and lists their errors in [`Exposition::skipped`].
///
/// A large input is split at a family's first descriptor line past its middle and the halves
/// parsed on two threads; the halves are joined only when that gives what one pass gives
/// (see `Joiner`), else the input is parsed again in one pass.
pub fn parse(input: &[u8], options: &ParseOptions) -> Result<Exposition, ParseError> {
    let format = options.format.unwrap_or_else(|| Format::detect(input));
    if input.len() >= PARALLEL_FROM
        && let Some(split) = split_point(input)
    {
        let (head, tail) = input.split_at(split);
        let (head, tail) = std::thread::scope(|scope| {
            let tail = scope.spawn(|| run(tail, format, options, Part::Tail));
            let head = run(head, format, options, Part::Head);
            (head, tail.join())
        });
        if let (Ok(head), Ok(Ok(tail))) = (head, tail) {
            let mut joiner = Joiner::default();
            if joiner.add(head) && joiner.add(tail) {
                return Ok(joiner.finish());
            }
        }
    }
    run(input, format, options, Part::Whole).map(|part| part.exposition)
}

/// Which part of an input [`run`] parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// All of it.
    Whole,
    /// A part with more after it: no `# EOF` needed at its end.
    Head,
    /// The last part.
    Tail,
}

/// What [`run`] gives for a part of an input.
pub(super) struct Parsed {
    /// The part's exposition (lines numbered from the part's start).
    pub(super) exposition: Exposition,
    /// Its families by name.
    families: FxHashMap<String, u32>,
    /// The lines read (`u32::MAX` for a head that has a `# EOF`).
    lines: u32,
}

/// Where to split `input` for two threads: the start of a `# HELP` or `# TYPE` line past the
/// middle whose previous line is not a `#` line (a family's first descriptor).
fn split_point(input: &[u8]) -> Option<usize> {
    let middle = input.len() / 2;
    let window = &input[middle..input.len().min(middle + (16 << 20))];
    memchr::memmem::find_iter(window, b"\n# ")
        .map(|found| middle + found + 1)
        .find(|&at| is_family_start(input, at))
}

/// The start of the last family's first descriptor line in `input` after byte 0, if any:
/// where a chunk read so far can end for [`Joiner`] to join it with the next.
pub(super) fn last_family_start(input: &[u8]) -> Option<usize> {
    memchr::memmem::rfind_iter(input, b"\n# ")
        .map(|found| found + 1)
        .find(|&at| is_family_start(input, at))
}

/// Whether the line at `at` (just after a `\n`) is a `# HELP` or `# TYPE` line whose previous
/// line is not a `#` line: a family's first descriptor.
fn is_family_start(input: &[u8], at: usize) -> bool {
    let rest = &input[at + 2..];
    if !(rest.starts_with(b"HELP ") || rest.starts_with(b"TYPE ")) {
        return false;
    }
    let previous_start = memchr::memrchr(b'\n', &input[..at - 1]).map_or(0, |nl| nl + 1);
    input.get(previous_start) != Some(&b'#')
}

/// Joins consecutive parts of an input, each split at a family's first descriptor line, into
/// what one pass over the whole would give, or says it cannot: when a part skipped a line,
/// when a part before the last has a `# EOF`, or when a later part's family could be an
/// earlier part's (named as it, or as one of its samples would be).
#[derive(Default)]
pub(super) struct Joiner {
    out: Exposition,
    /// The families of the parts so far, by name.
    families: FxHashMap<String, u32>,
    /// The lines of the parts so far.
    lines: u32,
    /// Whether a part did not join.
    failed: bool,
}

impl Joiner {
    /// Adds the next part; false (and from then on always false) when it does not join.
    pub(super) fn add(&mut self, part: Parsed) -> bool {
        if self.failed || !part.exposition.skipped.is_empty() || self.lines == u32::MAX {
            self.failed = true;
            return false;
        }
        let clash = part.exposition.families.iter().any(|f| {
            let name = f.name.as_bytes();
            std::iter::once(name)
                .chain(SUFFIXES.iter().filter_map(|s| name.strip_suffix(*s)))
                .any(|n| std::str::from_utf8(n).is_ok_and(|n| self.families.contains_key(n)))
        });
        if clash {
            self.failed = true;
            return false;
        }
        let first = self.out.format.is_none();
        let (lines, families, series, samples) = (
            self.lines,
            self.out.families.len() as u32,
            self.out.series.len() as u32,
            self.out.samples.len() as u32,
        );
        self.lines = if part.lines == u32::MAX {
            u32::MAX
        } else {
            lines.saturating_add(part.lines)
        };
        self.families.extend(
            part.families
                .into_iter()
                .map(|(name, index)| (name, index + families)),
        );
        let tail = part.exposition;
        if first {
            self.out = tail;
            return true;
        }
        self.out.families.extend(tail.families);
        self.out.series.extend(tail.series.into_iter().map(|mut s| {
            s.family += families;
            s.first.line += lines;
            s
        }));
        self.out
            .samples
            .extend(tail.samples.into_iter().map(|mut s| {
                s.series += series;
                s.line += lines;
                s
            }));
        self.out
            .exemplars
            .extend(tail.exemplars.into_iter().map(|mut e| {
                e.sample += samples;
                e
            }));
        true
    }

    /// The joined exposition.
    pub(super) fn finish(self) -> Exposition {
        self.out
    }
}

/// Parses `input` (the whole input or a part) in one pass.
pub(super) fn run(
    input: &[u8],
    format: Format,
    options: &ParseOptions,
    part: Part,
) -> Result<Parsed, ParseError> {
    let mut state = State::new(format, options);
    // About one sample per 64 bytes: fewer reallocations of the largest vector.
    state.out.samples.reserve(input.len() / 64);
    let mut start = 0;
    let mut line_no: u32 = 0;
    while start < input.len() {
        let end = memchr::memchr(b'\n', &input[start..]).map_or(input.len(), |i| start + i);
        line_no = line_no.saturating_add(1);
        let mut line = &input[start..end];
        if format == Format::Prometheus && line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if let Err(e) = state.line(line, start, line_no, input) {
            let error = ParseError {
                position: Position {
                    line: line_no,
                    column: column_of(line, e.offset),
                },
                message: e.message,
            };
            if options.skip_invalid {
                state.out.skipped.push(error);
            } else {
                return Err(error);
            }
        }
        start = end + 1;
    }
    if format == Format::OpenMetrics && state.eof_line.is_none() && part != Part::Head {
        let position = Position {
            line: line_no + 1,
            column: 1,
        };
        let error = ParseError {
            position,
            message: "missing \"# EOF\" at the end of the OpenMetrics input".into(),
        };
        if options.skip_invalid {
            state.out.skipped.push(error);
        } else {
            return Err(error);
        }
    }
    if part == Part::Head && state.eof_line.is_some() {
        line_no = u32::MAX;
    }
    state.resolve_created();
    Ok(Parsed {
        exposition: state.out,
        families: state.family_by_name,
        lines: line_no,
    })
}

/// The 1-based column, in characters, of byte `offset` of `line`.
fn column_of(line: &[u8], offset: usize) -> u32 {
    let before = &line[..offset.min(line.len())];
    let chars = match std::str::from_utf8(before) {
        Ok(text) => text.chars().count(),
        Err(_) => String::from_utf8_lossy(before).chars().count(),
    };
    u32::try_from(chars + 1).unwrap_or(u32::MAX)
}

/// What follows a family's name in a sample's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    /// The family's name itself.
    None,
    /// `_total`.
    Total,
    /// `_created`.
    Created,
    /// `_bucket`.
    Bucket,
    /// `_sum`.
    Sum,
    /// `_count`.
    Count,
    /// `_gsum`.
    GSum,
    /// `_gcount`.
    GCount,
    /// `_info`.
    Info,
}

impl Suffix {
    /// The suffix `rest` names, if it is one a family of `kind` has in `format`.
    fn of(rest: &[u8], kind: MetricType, format: Format) -> Option<Suffix> {
        let om = format == Format::OpenMetrics;
        let suffix = match rest {
            b"" => Suffix::None,
            b"_total" => Suffix::Total,
            b"_created" => Suffix::Created,
            b"_bucket" => Suffix::Bucket,
            b"_sum" => Suffix::Sum,
            b"_count" => Suffix::Count,
            b"_gsum" => Suffix::GSum,
            b"_gcount" => Suffix::GCount,
            b"_info" => Suffix::Info,
            _ => return None,
        };
        use MetricType as T;
        let allowed = match (kind, suffix) {
            (T::Unknown | T::Gauge | T::StateSet, Suffix::None) => true,
            (T::Counter, Suffix::Total) => true,
            (T::Counter, Suffix::None) => !om,
            (T::Counter | T::Histogram | T::Summary, Suffix::Created) => om,
            (T::Histogram | T::GaugeHistogram, Suffix::Bucket) => true,
            (T::Histogram | T::Summary, Suffix::Sum | Suffix::Count) => true,
            (T::Summary, Suffix::None) => true,
            (T::GaugeHistogram, Suffix::GSum | Suffix::GCount) => true,
            (T::Info, Suffix::Info) => true,
            _ => false,
        };
        allowed.then_some(suffix)
    }
}

/// The suffixes a sample name may carry after its family's name, longest first.
const SUFFIXES: [&[u8]; 8] = [
    b"_created",
    b"_gcount",
    b"_bucket",
    b"_total",
    b"_count",
    b"_gsum",
    b"_info",
    b"_sum",
];

/// What a family has had so far.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    samples: bool,
    closed: bool,
}

/// Where a sample's family is.
enum FamilyOf {
    /// An existing family and the suffix.
    Found(u32, Suffix),
    /// None yet: a new untyped family named as the sample.
    New,
}

/// A `_created` sample: its family, its labels (sorted, `\0`-joined) and the time.
struct Created {
    family: u32,
    key: String,
    start_ms: i64,
}

/// The parser's state over one input.
struct State<'o> {
    format: Format,
    strict: bool,
    options: &'o ParseOptions,
    out: Exposition,
    /// Series by their text (name and label block as written).
    series_by_text: FxHashMap<Box<[u8]>, u32>,
    /// The series of the previous sample line: the text's range in the input, its index,
    /// family and suffix.
    last_series: Option<(usize, usize, u32, u32, Suffix)>,
    /// Families by name.
    family_by_name: FxHashMap<String, u32>,
    /// Per family: has samples, and (OpenMetrics) was left for another family.
    seen: Vec<Seen>,
    /// The family of the last descriptor or sample.
    current: Option<u32>,
    /// The line of `# EOF`.
    eof_line: Option<u32>,
    /// OpenMetrics `_created` samples.
    created: Vec<Created>,
    /// Series' suffixes, parallel to `out.series` (for `_created`).
    suffixes: Vec<Suffix>,
}

impl<'o> State<'o> {
    fn new(format: Format, options: &'o ParseOptions) -> State<'o> {
        State {
            format,
            strict: format == Format::OpenMetrics,
            options,
            out: Exposition {
                format: Some(format),
                ..Exposition::default()
            },
            series_by_text: FxHashMap::default(),
            last_series: None,
            family_by_name: FxHashMap::default(),
            seen: Vec::new(),
            current: None,
            eof_line: None,
            created: Vec::new(),
            suffixes: Vec::new(),
        }
    }

    /// One line (`line` starts at byte `start` of `input`).
    fn line(&mut self, line: &[u8], start: usize, line_no: u32, input: &[u8]) -> LexResult<()> {
        if let Some(eof) = self.eof_line {
            return error(0, format!("text after \"# EOF\" (line {eof})"));
        }
        let mut cursor = Cursor::new(line, self.strict);
        cursor.skip_blanks();
        match cursor.peek() {
            None if self.strict => error(0, "blank line (OpenMetrics allows none)"),
            None => Ok(()),
            Some(b'#') => self.comment(cursor, line_no),
            Some(_) => self.sample(cursor, start, line_no, input),
        }
    }

    /// A `#` line: a descriptor, `# EOF`, or (0.0.4 only) a comment.
    fn comment(&mut self, mut cursor: Cursor<'_>, line_no: u32) -> LexResult<()> {
        cursor.pos += 1;
        if self.strict {
            let rest = &cursor.line[cursor.pos..];
            if rest == b" EOF" {
                self.eof_line = Some(line_no);
                return Ok(());
            }
            if !rest.starts_with(b" ") {
                return error(
                    cursor.pos,
                    "expected \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\"",
                );
            }
            cursor.pos += 1;
        } else {
            cursor.skip_blanks();
        }
        let keyword_at = cursor.pos;
        let keyword = cursor.token();
        let kind = match keyword {
            b"HELP" => Descriptor::Help,
            b"TYPE" => Descriptor::Type,
            b"UNIT" if self.strict => Descriptor::Unit,
            _ if self.strict => {
                return error(
                    keyword_at,
                    "expected HELP, TYPE, UNIT or EOF after '#' (OpenMetrics has no other comments)",
                );
            }
            // 0.0.4: any other comment is ignored.
            _ => return Ok(()),
        };
        cursor.separator("a metric name")?;
        let name_at = cursor.pos;
        let name = cursor.metric_name()?;
        let name = String::from_utf8_lossy(name).into_owned();
        let text = match kind {
            Descriptor::Help => {
                // The rest of the line after the separator is the help text (may be empty).
                // OpenMetrics' separator is one space: blanks after it are the text's.
                match cursor.peek() {
                    None => Vec::new(),
                    Some(b' ') if self.strict => {
                        cursor.pos += 1;
                        cursor.line[cursor.pos..].to_vec()
                    }
                    Some(_) => {
                        cursor.separator("the help text")?;
                        cursor.line[cursor.pos..].to_vec()
                    }
                }
            }
            Descriptor::Type | Descriptor::Unit => {
                let what = if kind == Descriptor::Type {
                    "a type"
                } else {
                    "a unit"
                };
                if kind == Descriptor::Unit && cursor.at_end() {
                    Vec::new()
                } else {
                    cursor.separator(what)?;
                    let token = cursor.token().to_vec();
                    cursor.skip_blanks();
                    if !cursor.at_end() {
                        return error(cursor.pos, format!("unexpected text after {what}"));
                    }
                    token
                }
            }
        };
        let value_at = cursor.line.len() - text.len();
        let family = self.descriptor_family(&name, name_at)?;
        match kind {
            Descriptor::Help => {
                let help = unescape(&text, self.strict).map_err(|offset| LexError {
                    offset: value_at + offset,
                    message: "help text is not valid UTF-8".into(),
                })?;
                let f = self.family_mut(family, &name);
                if f.help.is_some() {
                    return error(0, format!("second HELP line for {name}"));
                }
                f.help = Some(help);
            }
            Descriptor::Type => {
                let kind = std::str::from_utf8(&text)
                    .ok()
                    .and_then(|t| self.type_named(t))
                    .ok_or_else(|| LexError {
                        offset: value_at,
                        message: format!(
                            "unknown type {:?} (expected {})",
                            String::from_utf8_lossy(&text),
                            self.type_names()
                        ),
                    })?;
                let f = self.family_mut(family, &name);
                if f.typed {
                    return error(0, format!("second TYPE line for {name}"));
                }
                f.typed = true;
                f.kind = kind;
            }
            Descriptor::Unit => {
                let unit = String::from_utf8_lossy(&text).into_owned();
                if !unit.is_empty() && !name.ends_with(&format!("_{unit}")) {
                    return error(
                        value_at,
                        format!("unit {unit:?} is not a suffix of the family name {name}"),
                    );
                }
                let f = self.family_mut(family, &name);
                if f.unit.is_some() {
                    return error(0, format!("second UNIT line for {name}"));
                }
                f.unit = Some(unit);
            }
        }
        Ok(())
    }

    /// The types of the format, by name.
    fn type_named(&self, name: &str) -> Option<MetricType> {
        match self.format {
            Format::Prometheus => match name {
                "counter" | "gauge" | "histogram" | "summary" | "untyped" => {
                    MetricType::from_name(name)
                }
                _ => None,
            },
            Format::OpenMetrics => match name {
                "untyped" => None,
                _ => MetricType::from_name(name),
            },
        }
    }

    /// The type names, for messages.
    fn type_names(&self) -> &'static str {
        match self.format {
            Format::Prometheus => "counter, gauge, histogram, summary or untyped",
            Format::OpenMetrics => {
                "counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown"
            }
        }
    }

    /// The family a descriptor for `name` describes: the current one, an earlier one without
    /// samples (0.0.4), or a new one (`None`: made by [`State::family_mut`]). A descriptor
    /// after the family's samples, or (OpenMetrics) for a family left earlier, is an error.
    fn descriptor_family(&mut self, name: &str, at: usize) -> LexResult<Option<u32>> {
        let Some(&index) = self.family_by_name.get(name) else {
            return Ok(None);
        };
        let seen = self.seen[index as usize];
        if seen.samples {
            return error(at, format!("metadata for {name} after its samples"));
        }
        if self.strict && self.current != Some(index) {
            return error(
                at,
                format!("metadata for {name} is not next to its other metadata"),
            );
        }
        Ok(Some(index))
    }

    /// Family `index`, or a new one named `name` (made current either way).
    fn family_mut(&mut self, index: Option<u32>, name: &str) -> &mut Family {
        let index = match index {
            Some(index) => index,
            None => self.new_family(name.to_string()),
        };
        self.make_current(index);
        &mut self.out.families[index as usize]
    }

    /// Adds an untyped family.
    fn new_family(&mut self, name: String) -> u32 {
        let index = self.out.families.len() as u32;
        self.family_by_name.insert(name.clone(), index);
        self.out.families.push(Family {
            name,
            kind: MetricType::Unknown,
            typed: false,
            help: None,
            unit: None,
        });
        self.seen.push(Seen::default());
        index
    }

    /// Makes `index` the current family; in OpenMetrics the one before is closed.
    fn make_current(&mut self, index: u32) {
        if let Some(previous) = self.current
            && previous != index
        {
            self.seen[previous as usize].closed = true;
        }
        self.current = Some(index);
    }

    /// The family of a sample named `name`.
    fn family_of(&self, name: &[u8]) -> FamilyOf {
        if let Some(current) = self.current {
            let family = &self.out.families[current as usize];
            if let Some(rest) = name.strip_prefix(family.name.as_bytes())
                && let Some(suffix) = Suffix::of(rest, family.kind, self.format)
            {
                return FamilyOf::Found(current, suffix);
            }
        }
        let lookup = |family_name: &[u8]| {
            let family_name = std::str::from_utf8(family_name).ok()?;
            let &index = self.family_by_name.get(family_name)?;
            let family = &self.out.families[index as usize];
            let rest = &name[family_name.len()..];
            Suffix::of(rest, family.kind, self.format).map(|s| (index, s))
        };
        if let Some((index, suffix)) = lookup(name) {
            return FamilyOf::Found(index, suffix);
        }
        for suffix in SUFFIXES {
            if let Some(base) = name.strip_suffix(suffix)
                && let Some((index, suffix)) = lookup(base)
            {
                return FamilyOf::Found(index, suffix);
            }
        }
        FamilyOf::New
    }

    /// A sample line, at its metric name.
    fn sample(
        &mut self,
        mut cursor: Cursor<'_>,
        start: usize,
        line_no: u32,
        input: &[u8],
    ) -> LexResult<()> {
        // Fast path: the previous sample line's series again, its family still current.
        if let Some((s, e, index, family, suffix)) = self.last_series
            && self.current == Some(family)
        {
            let text = &input[s..e];
            let rest = &cursor.line[cursor.pos..];
            if rest.len() > text.len()
                && rest.starts_with(text)
                && (rest[text.len()] == b' ' || (!self.strict && rest[text.len()] == b'\t'))
            {
                cursor.pos += text.len();
                let kind = self.out.families[family as usize].kind;
                let name = self.out.series[index as usize].name.as_bytes();
                let (value, timestamp, exemplar) = self.values(&mut cursor, name, kind, suffix)?;
                self.record(index, line_no, value, timestamp, exemplar);
                return Ok(());
            }
        }
        let name_at = cursor.pos;
        let name = cursor.metric_name()?;
        let name_end = cursor.pos;
        if !self.strict {
            // 0.0.4 allows blanks between the name and its label block.
            cursor.skip_blanks();
            if cursor.peek() != Some(b'{') {
                cursor.pos = name_end;
            }
        }
        let (text_end, has_labels) = if cursor.peek() == Some(b'{') {
            match label_block_end(cursor.line, cursor.pos) {
                Some(end) => (end, true),
                None => return error(cursor.pos, "label block not closed by '}'"),
            }
        } else {
            (name_end, false)
        };
        let text = &cursor.line[name_at..text_end];
        let family_of = self.family_of(name);
        let (family, suffix) = match family_of {
            FamilyOf::Found(family, suffix) => {
                let seen = self.seen[family as usize];
                if self.strict && seen.closed {
                    return error(
                        name_at,
                        format!(
                            "sample of family {} after another family's (OpenMetrics keeps a family's lines together)",
                            self.out.families[family as usize].name
                        ),
                    );
                }
                (Some(family), suffix)
            }
            FamilyOf::New => {
                if let Some(&index) = std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| self.family_by_name.get(n))
                {
                    let family = &self.out.families[index as usize];
                    return error(
                        name_at,
                        format!(
                            "sample {} does not fit family {} of type {}",
                            family.name,
                            family.name,
                            super::render::type_name(family.kind, self.format)
                        ),
                    );
                }
                (None, Suffix::None)
            }
        };
        // The series: by its text when seen before, else parsed.
        let known = match self.last_series {
            Some((s, e, index, _, _)) if &input[s..e] == text => Some(index),
            _ => self.series_by_text.get(text).copied(),
        };
        let new_labels = match known {
            Some(_) => {
                cursor.pos = text_end;
                None
            }
            None if has_labels => Some(cursor.labels()?),
            None => Some(Vec::new()),
        };
        let kind = family.map_or(MetricType::Unknown, |f| self.out.families[f as usize].kind);
        if let Some(labels) = &new_labels
            && self.strict
        {
            let has = |n: &str| labels.iter().any(|(name, _)| name == n);
            if suffix == Suffix::Bucket && !has("le") {
                return error(name_at, "histogram bucket without an le label");
            }
            if kind == MetricType::Summary && suffix == Suffix::None && !has("quantile") {
                return error(name_at, "summary quantile sample without a quantile label");
            }
        }
        let (value, timestamp, exemplar) = self.values(&mut cursor, name, kind, suffix)?;
        // Every check passed: record the line.
        let family = match family {
            Some(family) => family,
            None => self.new_family(String::from_utf8_lossy(name).into_owned()),
        };
        self.make_current(family);
        self.seen[family as usize].samples = true;
        if suffix == Suffix::Created && self.strict {
            let labels = match new_labels {
                Some(labels) => labels,
                None => self.out.series[known.unwrap_or_default() as usize]
                    .labels
                    .clone(),
            };
            self.created.push(Created {
                family,
                key: created_key(&labels),
                start_ms: (value * 1000.0).round() as i64,
            });
            return Ok(());
        }
        let series = match (known, new_labels) {
            (Some(index), _) => index,
            (None, labels) => {
                let index = self.out.series.len() as u32;
                self.out.series.push(Series {
                    name: String::from_utf8_lossy(name).into_owned(),
                    labels: labels.unwrap_or_default(),
                    family,
                    start_ms: 0,
                    first: Position {
                        line: line_no,
                        column: column_of(cursor.line, name_at),
                    },
                });
                self.suffixes.push(suffix);
                self.series_by_text.insert(text.into(), index);
                index
            }
        };
        self.last_series = Some((start + name_at, start + text_end, series, family, suffix));
        self.record(series, line_no, value, timestamp, exemplar);
        Ok(())
    }

    /// Records a sample of `series` (and its exemplar).
    fn record(
        &mut self,
        series: u32,
        line_no: u32,
        value: f64,
        timestamp: Option<i64>,
        exemplar: Option<ExemplarParts>,
    ) {
        if let Some((labels, value, timestamp_ms)) = exemplar {
            self.out.exemplars.push(ParsedExemplar {
                sample: self.out.samples.len() as u32,
                labels,
                value,
                timestamp_ms,
            });
        }
        self.out.samples.push(Sample {
            series,
            line: line_no,
            timestamp_ms: timestamp.unwrap_or(self.options.default_timestamp_ms),
            value,
        });
    }

    /// A sample line's value, timestamp and (OpenMetrics) exemplar, after its series.
    fn values(
        &self,
        cursor: &mut Cursor<'_>,
        name: &[u8],
        kind: MetricType,
        suffix: Suffix,
    ) -> LexResult<(f64, Option<i64>, Option<ExemplarParts>)> {
        cursor.separator("a value")?;
        let value_at = cursor.pos;
        let value = parse_value(cursor.token(), value_at)?;
        if self.strict
            && matches!(
                suffix,
                Suffix::Total | Suffix::Bucket | Suffix::Count | Suffix::Created
            )
            && (value.is_nan() || value < 0.0)
        {
            return error(
                value_at,
                format!(
                    "{} must not be negative or NaN",
                    String::from_utf8_lossy(name)
                ),
            );
        }
        let mut timestamp = None;
        let mut exemplar = None;
        if self.strict {
            if !cursor.at_end() {
                cursor.separator("a timestamp or an exemplar")?;
                if cursor.peek() != Some(b'#') {
                    let at = cursor.pos;
                    timestamp = Some(parse_seconds_timestamp(cursor.token(), at)?);
                    if !cursor.at_end() {
                        cursor.separator("an exemplar")?;
                    }
                }
                if !cursor.at_end() {
                    exemplar = Some(self.exemplar(cursor, kind, suffix)?);
                }
            }
        } else {
            cursor.skip_blanks();
            if !cursor.at_end() {
                let at = cursor.pos;
                let token = cursor.token();
                if token.first() == Some(&b'#') {
                    return error(
                        at,
                        "exemplars are OpenMetrics only (the input has no \"# EOF\" line)",
                    );
                }
                timestamp = Some(parse_ms_timestamp(token, at)?);
                cursor.skip_blanks();
                if !cursor.at_end() {
                    return error(cursor.pos, "unexpected text after the timestamp");
                }
            }
        }
        Ok((value, timestamp, exemplar))
    }

    /// An OpenMetrics exemplar at its `#`: `# {labels} value [timestamp]`, only on a counter's
    /// `_total` and a histogram's `_bucket`, labels at most 128 characters together.
    fn exemplar(
        &self,
        cursor: &mut Cursor<'_>,
        kind: MetricType,
        suffix: Suffix,
    ) -> LexResult<ExemplarParts> {
        let at = cursor.pos;
        if cursor.peek() != Some(b'#') {
            return error(at, "expected '#' starting an exemplar");
        }
        let allowed = matches!(
            (kind, suffix),
            (MetricType::Counter, Suffix::Total)
                | (
                    MetricType::Histogram | MetricType::GaugeHistogram,
                    Suffix::Bucket
                )
        );
        if !allowed {
            return error(
                at,
                "exemplars are allowed only on counters' _total and histograms' _bucket samples",
            );
        }
        cursor.pos += 1;
        cursor.separator("the exemplar's labels")?;
        let labels_at = cursor.pos;
        let labels = cursor.labels()?;
        let runes: usize = labels
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum();
        if runes > EXEMPLAR_MAX_LABEL_RUNES {
            return error(
                labels_at,
                format!(
                    "exemplar labels hold {runes} characters, more than {EXEMPLAR_MAX_LABEL_RUNES}"
                ),
            );
        }
        cursor.separator("the exemplar's value")?;
        let value_at = cursor.pos;
        let value = parse_value(cursor.token(), value_at)?;
        let mut timestamp = None;
        if !cursor.at_end() {
            cursor.separator("the exemplar's timestamp")?;
            let ts_at = cursor.pos;
            timestamp = Some(parse_seconds_timestamp(cursor.token(), ts_at)?);
            if !cursor.at_end() {
                return error(cursor.pos, "unexpected text after the exemplar");
            }
        }
        Ok((labels, value, timestamp))
    }

    /// Gives each series of a family with `_created` samples its start timestamp: the
    /// `_created` of the same labels (`le` and `quantile` aside), when not after every
    /// sample of the series (that is checked when sending).
    fn resolve_created(&mut self) {
        if self.created.is_empty() {
            return;
        }
        let by_key: FxHashMap<(u32, &str), i64> = self
            .created
            .iter()
            .map(|c| ((c.family, c.key.as_str()), c.start_ms))
            .collect();
        for (series, suffix) in self.out.series.iter_mut().zip(&self.suffixes) {
            if *suffix == Suffix::Created {
                continue;
            }
            let labels: Vec<(String, String)> = series
                .labels
                .iter()
                .filter(|(n, _)| n != "le" && n != "quantile")
                .cloned()
                .collect();
            let key = created_key(&labels);
            if let Some(&start) = by_key.get(&(series.family, key.as_str())) {
                series.start_ms = start;
            }
        }
    }
}

/// An exemplar's labels, value and timestamp, as parsed.
type ExemplarParts = (Vec<(String, String)>, f64, Option<i64>);

/// The kinds of descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Descriptor {
    Help,
    Type,
    Unit,
}

/// Labels as a key that ignores their order: sorted `name=value` joined by `\0`.
fn created_key(labels: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    pairs.sort();
    pairs.join("\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large input of `families` families, each split in a way that parses in halves.
    fn large(format: Format, clash: bool) -> String {
        let mut out = String::new();
        let mut f = 0;
        while out.len() < PARALLEL_FROM + (1 << 20) {
            let name = if clash && f % 50 == 49 {
                // Same family name again: 0.0.4 takes it as the earlier family's samples.
                "fam_again".to_string()
            } else {
                format!("fam{f}")
            };
            if !(clash && f % 50 == 49 && f > 49) {
                out.push_str(&format!(
                    "# HELP {name} Help of {name}.\n# TYPE {name} counter\n"
                ));
            }
            let sample = if format == Format::OpenMetrics {
                format!("{name}_total")
            } else {
                name.clone()
            };
            for s in 0..20 {
                for p in 0..20 {
                    let ts = if format == Format::OpenMetrics {
                        format!("{}.{:03}", 1_700_000_000 + p, f % 1000)
                    } else {
                        format!("{}", 1_700_000_000_000i64 + p * 1000 + f as i64)
                    };
                    out.push_str(&format!(
                        "{sample}{{instance=\"host{s}\",job=\"j\"}} {} {ts}\n",
                        p * 3 + s
                    ));
                }
            }
            f += 1;
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }

    fn assert_same(a: &Exposition, b: &Exposition) {
        assert_eq!(a.families, b.families);
        assert_eq!(a.series, b.series);
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.exemplars, b.exemplars);
    }

    #[test]
    fn halves_on_two_threads_give_what_one_pass_gives() {
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let text = large(format, false);
            let options = ParseOptions {
                format: None,
                default_timestamp_ms: 0,
                skip_invalid: false,
            };
            assert!(split_point(text.as_bytes()).is_some());
            let halves = parse(text.as_bytes(), &options).unwrap();
            let whole = run(text.as_bytes(), format, &options, Part::Whole)
                .unwrap()
                .exposition;
            assert_same(&halves, &whole);
            let (head, tail) = text
                .as_bytes()
                .split_at(split_point(text.as_bytes()).unwrap());
            let mut joiner = Joiner::default();
            assert!(joiner.add(run(head, format, &options, Part::Head).unwrap()));
            assert!(
                joiner.add(run(tail, format, &options, Part::Tail).unwrap()),
                "{format:?}: the halves should join"
            );
        }
    }

    #[test]
    fn halves_that_share_a_family_are_parsed_again_in_one_pass() {
        let text = large(Format::Prometheus, true);
        let options = ParseOptions {
            format: None,
            default_timestamp_ms: 0,
            skip_invalid: false,
        };
        let split = split_point(text.as_bytes()).unwrap();
        let (head, tail) = text.as_bytes().split_at(split);
        let head = run(head, Format::Prometheus, &options, Part::Head).unwrap();
        let tail = run(tail, Format::Prometheus, &options, Part::Tail).unwrap();
        let mut joiner = Joiner::default();
        assert!(joiner.add(head));
        assert!(!joiner.add(tail), "fam_again is in both halves");
        let parsed = parse(text.as_bytes(), &options).unwrap();
        let whole = run(text.as_bytes(), Format::Prometheus, &options, Part::Whole)
            .unwrap()
            .exposition;
        assert_same(&parsed, &whole);
        // Errors are the one pass's: an error in the tail has its line in the whole input.
        let mut broken = text.clone();
        broken.push_str("bad{ 1\n");
        let lines = text.lines().count() as u32;
        let e = parse(broken.as_bytes(), &options).unwrap_err();
        assert_eq!(e.position.line, lines + 1);
    }
}
