//! Tokens of one line: names, label blocks, quoted values with their escapes, numbers and
//! timestamps. Errors carry the byte offset in the line; the parser turns it into a column.

/// A token error: the byte offset in the line and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// Byte offset in the line.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// The result of a token.
pub type LexResult<T> = Result<T, LexError>;

/// A `LexError` at `offset`.
pub fn error<T>(offset: usize, message: impl Into<String>) -> LexResult<T> {
    Err(LexError {
        offset,
        message: message.into(),
    })
}

/// True for the first byte of a metric name: `[a-zA-Z_:]`.
fn is_metric_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

/// True for the other bytes of a metric name: `[a-zA-Z0-9_:]`.
fn is_metric_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// True for the first byte of a label name: `[a-zA-Z_]`.
fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// True for the other bytes of a label name: `[a-zA-Z0-9_]`.
fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// True for a 0.0.4 blank (space or tab).
pub fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A position in one line.
pub struct Cursor<'a> {
    /// The line, without its line feed.
    pub line: &'a [u8],
    /// The byte offset of the next token.
    pub pos: usize,
    /// OpenMetrics: tokens are separated by exactly one space, label blocks have no blanks.
    pub strict: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `line`.
    pub fn new(line: &'a [u8], strict: bool) -> Cursor<'a> {
        Cursor {
            line,
            pos: 0,
            strict,
        }
    }

    /// The byte at the cursor, if any.
    pub fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    /// True at the end of the line.
    pub fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Skips 0.0.4 blanks (none in strict mode).
    pub fn skip_blanks(&mut self) {
        if !self.strict {
            while self.peek().is_some_and(is_blank) {
                self.pos += 1;
            }
        }
    }

    /// The separator between two tokens: one space in strict mode, one or more blanks
    /// otherwise. `what` names the token expected after it.
    pub fn separator(&mut self, what: &str) -> LexResult<()> {
        match self.peek() {
            Some(b' ') if self.strict => {
                self.pos += 1;
                if self.peek().is_some_and(is_blank) {
                    return error(self.pos, format!("expected {what}, found a second blank"));
                }
                Ok(())
            }
            Some(b) if !self.strict && is_blank(b) => {
                self.skip_blanks();
                Ok(())
            }
            Some(_) => error(self.pos, format!("expected a space before {what}")),
            None => error(self.pos, format!("expected a space and {what}")),
        }
    }

    /// A metric name.
    pub fn metric_name(&mut self) -> LexResult<&'a [u8]> {
        let start = self.pos;
        match self.peek() {
            Some(b) if is_metric_start(b) => self.pos += 1,
            Some(b) => {
                return error(
                    start,
                    format!("expected a metric name, found {}", describe_byte(b)),
                );
            }
            None => return error(start, "expected a metric name"),
        }
        while self.peek().is_some_and(is_metric_char) {
            self.pos += 1;
        }
        Ok(&self.line[start..self.pos])
    }

    /// A label name.
    fn label_name(&mut self) -> LexResult<&'a [u8]> {
        let start = self.pos;
        match self.peek() {
            Some(b) if is_label_start(b) => self.pos += 1,
            Some(b) => {
                return error(
                    start,
                    format!("expected a label name, found {}", describe_byte(b)),
                );
            }
            None => return error(start, "expected a label name"),
        }
        while self.peek().is_some_and(is_label_char) {
            self.pos += 1;
        }
        Ok(&self.line[start..self.pos])
    }

    /// A token: the bytes up to the next blank or the end of the line.
    pub fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(|b| !is_blank(b)) {
            self.pos += 1;
        }
        &self.line[start..self.pos]
    }

    /// Expects byte `b`.
    fn expect(&mut self, b: u8, what: &str) -> LexResult<()> {
        match self.peek() {
            Some(found) if found == b => {
                self.pos += 1;
                Ok(())
            }
            Some(found) => error(
                self.pos,
                format!("expected {what}, found {}", describe_byte(found)),
            ),
            None => error(self.pos, format!("expected {what}")),
        }
    }

    /// A quoted label value (at its opening quote), unescaped: `\\`, `\"` and `\n` are
    /// escapes; a backslash before any other character is kept with it, as Prometheus does.
    fn label_value(&mut self) -> LexResult<String> {
        let open = self.pos;
        self.expect(b'"', "'\"' opening the label value")?;
        let start = self.pos;
        let end = match quoted_end(self.line, start) {
            Some(end) => end,
            None => return error(open, "label value not closed by '\"'"),
        };
        self.pos = end + 1;
        unescape(&self.line[start..end], true).map_err(|offset| LexError {
            offset: start + offset,
            message: "label value is not valid UTF-8".into(),
        })
    }

    /// A label block at its `{`: the labels in the order written. 0.0.4 allows blanks
    /// around names, `=`, values and commas, and a trailing comma; OpenMetrics neither.
    /// A repeated label name is an error.
    pub fn labels(&mut self) -> LexResult<Vec<(String, String)>> {
        self.expect(b'{', "'{'")?;
        let mut labels: Vec<(String, String)> = Vec::new();
        self.skip_blanks();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(labels);
        }
        loop {
            self.skip_blanks();
            if !self.strict && self.peek() == Some(b'}') && !labels.is_empty() {
                // 0.0.4's trailing comma.
                self.pos += 1;
                return Ok(labels);
            }
            let name_at = self.pos;
            let name = self.label_name()?;
            self.skip_blanks();
            self.expect(b'=', "'=' after the label name")?;
            self.skip_blanks();
            let value = self.label_value()?;
            // Label names are ASCII by the grammar.
            let name = String::from_utf8_lossy(name).into_owned();
            if labels.iter().any(|(n, _)| *n == name) {
                return error(name_at, format!("label {name} appears twice"));
            }
            labels.push((name, value));
            self.skip_blanks();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(labels);
                }
                Some(b) => {
                    return error(
                        self.pos,
                        format!(
                            "expected ',' or '}}' after a label, found {}",
                            describe_byte(b)
                        ),
                    );
                }
                None => return error(self.pos, "label block not closed by '}'"),
            }
        }
    }
}

/// The index of the closing quote of a quoted string whose text starts at `start` (after
/// the opening quote), skipping escaped characters; `None` when the line ends first.
pub fn quoted_end(line: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    loop {
        let found = memchr::memchr2(b'"', b'\\', &line[i..])?;
        let at = i + found;
        if line[at] == b'"' {
            return Some(at);
        }
        // A backslash: the next byte is escaped (a quote there does not close).
        i = at + 2;
        if i > line.len() {
            return None;
        }
    }
}

/// The end (index after the `}`) of the label block whose `{` is at `open`, found without
/// parsing: quotes are skipped with their escapes. `None` when the line ends first.
pub fn label_block_end(line: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        let found = memchr::memchr2(b'"', b'}', &line[i..])?;
        let at = i + found;
        if line[at] == b'}' {
            return Some(at + 1);
        }
        i = quoted_end(line, at + 1)? + 1;
    }
}

/// `raw` with its escapes replaced: `\\` and `\n` always, `\"` when `quote` (label values,
/// and OpenMetrics help); a backslash before anything else, or last, is kept. `Err(offset)`
/// of the first byte that is not valid UTF-8.
pub fn unescape(raw: &[u8], quote: bool) -> Result<String, usize> {
    let text = std::str::from_utf8(raw).map_err(|e| e.valid_up_to())?;
    if !text.contains('\\') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            Some('"') if quote => {
                out.push('"');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Ok(out)
}

/// A sample or exemplar value: a float as Rust reads it (`1`, `-1.5e3`, `.5`), `NaN`,
/// `+Inf`, `-Inf` (any case, as Go's `ParseFloat`).
pub fn parse_value(token: &[u8], offset: usize) -> LexResult<f64> {
    if token.is_empty() {
        return error(offset, "expected a value");
    }
    // Fast path: plain integers, the most common values.
    if token.len() <= 15 && token.iter().all(u8::is_ascii_digit) {
        let mut v: u64 = 0;
        for &b in token {
            v = v * 10 + u64::from(b - b'0');
        }
        return Ok(v as f64);
    }
    let text = std::str::from_utf8(token).ok();
    match text.and_then(|t| t.parse::<f64>().ok()) {
        // Rust also reads "infinity"; Go does too.
        Some(v) => Ok(v),
        None => error(
            offset,
            format!(
                "invalid value {:?}: expected a number, NaN, +Inf or -Inf",
                String::from_utf8_lossy(token)
            ),
        ),
    }
}

/// A 0.0.4 timestamp: an integer number of milliseconds, optionally signed.
pub fn parse_ms_timestamp(token: &[u8], offset: usize) -> LexResult<i64> {
    let (negative, digits) = match token.first() {
        Some(b'-') => (true, &token[1..]),
        Some(b'+') => (false, &token[1..]),
        _ => (false, token),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return error(
            offset,
            format!(
                "invalid timestamp {:?}: expected integer milliseconds",
                String::from_utf8_lossy(token)
            ),
        );
    }
    let mut v: i64 = 0;
    for &b in digits {
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
        {
            Some(v) => v,
            None => return error(offset, "timestamp out of range"),
        };
    }
    Ok(if negative { -v } else { v })
}

/// An OpenMetrics timestamp: seconds, maybe with a fraction or an exponent, rounded to the
/// millisecond. NaN and infinities are errors.
pub fn parse_seconds_timestamp(token: &[u8], offset: usize) -> LexResult<i64> {
    let bad = || {
        error(
            offset,
            format!(
                "invalid timestamp {:?}: expected seconds",
                String::from_utf8_lossy(token)
            ),
        )
    };
    // Only digits, sign, point and exponent: Rust would read "inf" and "nan" too.
    if token.is_empty()
        || !token
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return bad();
    }
    let Some(seconds) = std::str::from_utf8(token)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
    else {
        return bad();
    };
    let ms = (seconds * 1000.0).round();
    // Within i64 (and finite): 2^63 ms is about 292 million years.
    if !ms.is_finite() || ms.abs() >= 9.2e18 {
        return error(offset, "timestamp out of range");
    }
    Ok(ms as i64)
}

/// A byte as error messages show it.
pub fn describe_byte(b: u8) -> String {
    match b {
        b' ' => "a space".into(),
        b'\t' => "a tab".into(),
        0x21..=0x7e => format!("'{}'", b as char),
        _ => format!("byte 0x{b:02x}"),
    }
}
