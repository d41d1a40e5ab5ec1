//! Go standard-library behaviour that relabeling depends on, reimplemented: `Regexp.Expand`
//! (the `$1`/`${name}` templates of `replacement` and `target_label`), `Regexp.ReplaceAllString`
//! (the `labelmap` action), `strings.ToLower`/`strings.ToUpper` (simple case mapping) and
//! `strconv.Quote` (the `%q` of Prometheus's error messages).

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::parse::GoRegex;

/// A character of a template variable's name: Go's `unicode.IsLetter || unicode.IsDigit || '_'`
/// (general categories L and Nd). Only consulted for non-ASCII characters.
static NAME_CHAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Nd}_]$").expect("static regex"));

/// Go's `unicode.IsPrint` without ASCII space: categories L, M, N, P and S.
static PRINTABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").expect("static regex"));

/// True for a character Go's `extract` accepts in a `$name`.
fn is_name_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    let mut buf = [0u8; 4];
    NAME_CHAR.is_match(c.encode_utf8(&mut buf))
}

/// A parsed template variable: a group number, or a name that is not a number.
enum Var<'t> {
    Number(usize),
    Name(&'t str),
}

/// Go's `extract`: the variable at the start of `s` (the text after a `$`), `$name` or
/// `${name}`, and the rest of the template; `None` when malformed (no name, or a missing `}`).
fn extract(s: &str) -> Option<(Var<'_>, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|&c| is_name_char(c))
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let mut rest = &body[len..];
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    Some((parse_var(name), rest))
}

/// A purely numeric name of at most nine digits without a leading zero is a group number (Go
/// stops accumulating at 10^8); anything else is a group name.
fn parse_var(name: &str) -> Var<'_> {
    let numeric = name.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = name.len() > 1 && name.starts_with('0');
    match name.parse::<usize>() {
        Ok(n) if numeric && !leading_zero && name.len() <= 9 => Var::Number(n),
        _ => Var::Name(name),
    }
}

/// Appends `template` to `dst` with Go's `Regexp.Expand` rules: `$$` is a literal `$`; `$name`
/// takes the longest run of letters, digits and `_` (so `$1x` is the group named `1x`);
/// `${name}` delimits the name; a malformed `$` is copied as is; an unknown name, an
/// out-of-range number or a group that did not participate expands to nothing.
/// `names` are the groups' Go names by number (Go allows a name twice: the first group of that
/// name that participated is used).
pub(super) fn expand_into(
    dst: &mut String,
    template: &str,
    caps: &Captures<'_>,
    names: &[Option<String>],
) {
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        dst.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((var, after)) = extract(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        let group = match var {
            Var::Number(n) => caps.get(n),
            Var::Name(name) => names
                .iter()
                .enumerate()
                .filter(|(_, n)| n.as_deref() == Some(name))
                .find_map(|(i, _)| caps.get(i)),
        };
        if let Some(m) = group {
            dst.push_str(m.as_str());
        }
    }
    dst.push_str(rest);
}

/// `template` expanded against `caps`; see [`expand_into`].
pub(super) fn expand(template: &str, caps: &Captures<'_>, names: &[Option<String>]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    expand_into(&mut out, template, caps, names);
    out
}

/// Go's `Regexp.ReplaceAllString(src, template)`: every non-overlapping match replaced by the
/// expanded template, an empty match right after a previous match skipped, the search
/// advancing at least one character each step.
pub(super) fn replace_all(re: &GoRegex, src: &str, template: &str) -> String {
    let mut out = String::with_capacity(src.len() + template.len());
    let mut last_end = 0;
    let mut search = 0;
    while search <= src.len() {
        let Some(caps) = re.regex.captures_at(src, search) else {
            break;
        };
        let m = caps.get(0).expect("group 0 always participates");
        out.push_str(&src[last_end..m.start()]);
        if m.end() > last_end || m.start() == 0 {
            expand_into(&mut out, template, &caps, &re.names);
        }
        last_end = m.end();
        let width = src[search..].chars().next().map_or(0, char::len_utf8);
        search = if search + width > m.end() {
            search + width
        } else if search + 1 > m.end() {
            search + 1
        } else {
            m.end()
        };
    }
    out.push_str(&src[last_end..]);
    out
}

/// Go's `strings.ToLower`: per character, Unicode simple lower-case mapping (no special casing,
/// no final-sigma rule).
pub(super) fn to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(simple_lower).collect()
}

/// Go's `strings.ToUpper`: per character, Unicode simple upper-case mapping (`ß` stays `ß`).
pub(super) fn to_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(simple_upper).collect()
}

/// One character's simple lower-case mapping. Rust's `char::to_lowercase` is the full mapping;
/// it differs from the simple one only where it yields several characters, which for lower
/// case is U+0130 alone (Go maps it to `i`).
fn simple_lower(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ if c == '\u{130}' => 'i',
        _ => c,
    }
}

/// One character's simple upper-case mapping: the full mapping where it is one character; where
/// it is several (`ß`, ligatures, Greek with ypogegrammeni, ...), Go's simple mapping, which is
/// the character itself except for the Greek letters with ypogegrammeni listed here (checked
/// against Go 1.19's `unicode.ToUpper` over every code point).
fn simple_upper(c: char) -> char {
    let mut it = c.to_uppercase();
    if let (Some(u), None) = (it.next(), it.next()) {
        return u;
    }
    let shifted = |c: char| char::from_u32(c as u32 + 8).unwrap_or(c);
    match c {
        '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => shifted(c),
        '\u{1FB3}' => '\u{1FBC}',
        '\u{1FC3}' => '\u{1FCC}',
        '\u{1FF3}' => '\u{1FFC}',
        _ => c,
    }
}

/// Go's `strconv.Quote` (the `%q` verb), for error messages that read like Prometheus's.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_quoted_char(&mut out, c);
    }
    out.push('"');
    out
}

/// One character of [`go_quote`].
fn push_quoted_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        ' ' => out.push(' '),
        c if is_go_printable(c) => out.push(c),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `unicode.IsPrint`, less the space handled by the caller.
fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_graphic();
    }
    let mut buf = [0u8; 4];
    PRINTABLE.is_match(c.encode_utf8(&mut buf))
}
