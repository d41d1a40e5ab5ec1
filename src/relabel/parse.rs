//! Relabel rules from configuration: the serde struct, Prometheus's defaults and validation,
//! and the translation of Go's regular-expression syntax into the `regex` crate's.

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};

use super::expand::go_quote;
use super::shortcut::Shortcut;
use super::{RelabelAction, RelabelConfigError, RelabelRule};
use crate::model::is_valid_label_name;

/// Prometheus's default `separator`.
pub(super) const DEFAULT_SEPARATOR: &str = ";";
/// Prometheus's default `regex`.
pub(super) const DEFAULT_REGEX: &str = "(.*)";
/// Prometheus's default `replacement`.
pub(super) const DEFAULT_REPLACEMENT: &str = "$1";

/// One entry of `write_relabel_configs` as written, with Prometheus's keys.
///
/// `None` means the key is absent and Prometheus's default applies (`separator: ";"`,
/// `regex: "(.*)"`, `replacement: "$1"`, `action: replace`, `modulus: 0`, no `target_label`,
/// no `source_labels`). A key given as YAML null takes Go's zero value, as in Prometheus: `""`
/// for the strings (so `regex: ~` is the empty regex, matching only the empty string, and
/// `action: ~` is the error "relabel action cannot be empty"; so is `action: ""`, for which
/// Prometheus says `unknown relabel action ""`) and 0 for `modulus`;
/// `source_labels: ~` is the same as leaving it out. Scalars are read as strings where a
/// string is expected in YAML (`regex: 123` is the regex `123`). Unknown keys are errors.
///
/// Build one in Rust with [`RawRelabelConfig::new`] and the chained setters, then compile it
/// with [`compile_rules`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelabelConfig {
    /// Labels whose values are joined with `separator` (a missing label counts as `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<Vec<String>>,
    /// Put between the joined source values; default `;`.
    #[serde(
        default,
        deserialize_with = "null_is_zero_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub separator: Option<String>,
    /// RE2 regular expression, anchored at both ends; default `(.*)`.
    #[serde(
        default,
        deserialize_with = "null_is_zero_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub regex: Option<String>,
    /// Divisor of the hash for `hashmod`.
    #[serde(
        default,
        deserialize_with = "null_is_zero_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub modulus: Option<u64>,
    /// The label written (or compared, for `keepequal`/`dropequal`).
    #[serde(
        default,
        deserialize_with = "null_is_zero_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_label: Option<String>,
    /// Template of the value written by `replace` (and of the name, for `labelmap`); default `$1`.
    #[serde(
        default,
        deserialize_with = "null_is_zero_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub replacement: Option<String>,
    /// One of Prometheus's action names (case-insensitive); default `replace`.
    #[serde(
        default,
        deserialize_with = "null_is_zero_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub action: Option<String>,
}

impl RawRelabelConfig {
    /// A rule with `action` set and every other key absent.
    pub fn new(action: impl Into<String>) -> Self {
        RawRelabelConfig {
            action: Some(action.into()),
            ..RawRelabelConfig::default()
        }
    }

    /// Sets `source_labels`.
    pub fn source_labels<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.source_labels = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `separator`.
    pub fn separator(mut self, separator: impl Into<String>) -> Self {
        self.separator = Some(separator.into());
        self
    }

    /// Sets `regex`.
    pub fn regex(mut self, regex: impl Into<String>) -> Self {
        self.regex = Some(regex.into());
        self
    }

    /// Sets `modulus`.
    pub fn modulus(mut self, modulus: u64) -> Self {
        self.modulus = Some(modulus);
        self
    }

    /// Sets `target_label`.
    pub fn target_label(mut self, target_label: impl Into<String>) -> Self {
        self.target_label = Some(target_label.into());
        self
    }

    /// Sets `replacement`.
    pub fn replacement(mut self, replacement: impl Into<String>) -> Self {
        self.replacement = Some(replacement.into());
        self
    }
}

/// A present key: its string, or `""` for null. In YAML any plain scalar is read as its text
/// (`regex: 1.50` is `"1.50"`), as Go's YAML decoder does for string fields.
fn null_is_zero_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?.unwrap_or_default()))
}

/// A present key: its number, or 0 for null.
fn null_is_zero_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Some(Option::<u64>::deserialize(d)?.unwrap_or(0)))
}

/// Compiles and validates `raw` in order. The first invalid rule is reported with its index
/// in `raw` and Prometheus's message for it.
pub fn compile_rules(raw: &[RawRelabelConfig]) -> Result<Vec<RelabelRule>, RelabelConfigError> {
    raw.iter()
        .enumerate()
        .map(|(index, rule)| compile(rule).map_err(|message| RelabelConfigError { index, message }))
        .collect()
}

/// One rule with Prometheus's defaults filled in, before validation.
struct Resolved<'a> {
    action: RelabelAction,
    source_labels: Option<&'a [String]>,
    separator: &'a str,
    /// `None` when the key was absent: Prometheus tells its default regex from any given one,
    /// even `(.*)` written out.
    regex: Option<&'a str>,
    modulus: u64,
    target_label: &'a str,
    replacement: &'a str,
}

/// Compiles one rule: the action, the source label names and the regex are checked first
/// (Prometheus rejects those while decoding), then [`validate`].
fn compile(raw: &RawRelabelConfig) -> Result<RelabelRule, String> {
    let action = match raw.action.as_deref() {
        None => RelabelAction::Replace,
        Some("") => return Err("relabel action cannot be empty".to_owned()),
        Some(name) => RelabelAction::from_name(name)
            .ok_or_else(|| format!("unknown relabel action {}", go_quote(name)))?,
    };
    let source_labels = raw.source_labels.as_deref();
    if let Some(bad) = source_labels
        .unwrap_or_default()
        .iter()
        .find(|n| !is_valid_label_name(n))
    {
        return Err(format!("{} is not a valid label name", go_quote(bad)));
    }
    let regex = compile_go_regex(raw.regex.as_deref().unwrap_or(DEFAULT_REGEX))?;
    let rule = Resolved {
        action,
        source_labels,
        separator: raw.separator.as_deref().unwrap_or(DEFAULT_SEPARATOR),
        regex: raw.regex.as_deref(),
        modulus: raw.modulus.unwrap_or(0),
        target_label: raw.target_label.as_deref().unwrap_or(""),
        replacement: raw.replacement.as_deref().unwrap_or(DEFAULT_REPLACEMENT),
    };
    validate(&rule)?;
    Ok(RelabelRule {
        action,
        source_labels: source_labels.unwrap_or_default().to_vec(),
        separator: rule.separator.to_owned(),
        regex_source: rule.regex.unwrap_or(DEFAULT_REGEX).to_owned(),
        regex,
        modulus: rule.modulus,
        target_label: rule.target_label.to_owned(),
        replacement: rule.replacement.to_owned(),
    })
}

/// Prometheus's `Config.Validate`, in its order, with the legacy label-name rules.
fn validate(rule: &Resolved<'_>) -> Result<(), String> {
    use RelabelAction::*;
    let action = rule.action;
    let name = action.as_str();
    let target = rule.target_label;
    if action == HashMod && rule.modulus == 0 {
        return Err("relabel configuration for hashmod requires non-zero modulus".to_owned());
    }
    let needs_target = matches!(
        action,
        Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
    );
    if needs_target && target.is_empty() {
        return Err(format!(
            "relabel configuration for {name} action requires 'target_label' value"
        ));
    }
    let invalid_target = || {
        format!(
            "{} is invalid 'target_label' for {name} action",
            go_quote(target)
        )
    };
    if action == Replace && !is_valid_target_template(target) {
        return Err(invalid_target());
    }
    let plain_target = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
    if plain_target && !is_valid_label_name(target) {
        return Err(invalid_target());
    }
    if plain_target && rule.replacement != DEFAULT_REPLACEMENT {
        return Err(format!("'replacement' can not be set for {name} action"));
    }
    if action == LabelMap && !is_label_name_template(rule.replacement) {
        return Err(format!(
            "{} is invalid 'replacement' for {name} action",
            go_quote(rule.replacement)
        ));
    }
    if action == HashMod && !is_valid_label_name(target) {
        return Err(invalid_target());
    }
    validate_unused_fields(rule)
}

/// `keepequal`/`dropequal` and `labeldrop`/`labelkeep` reject the keys they do not use.
fn validate_unused_fields(rule: &Resolved<'_>) -> Result<(), String> {
    use RelabelAction::*;
    let name = rule.action.as_str();
    let common_set = rule.modulus != 0
        || rule.separator != DEFAULT_SEPARATOR
        || rule.replacement != DEFAULT_REPLACEMENT;
    match rule.action {
        KeepEqual | DropEqual if common_set || rule.regex.is_some() => Err(format!(
            "{name} action requires only 'source_labels' and `target_label`, and no other fields"
        )),
        LabelDrop | LabelKeep
            if common_set || rule.source_labels.is_some() || !rule.target_label.is_empty() =>
        {
            Err(format!(
                "{name} action requires only 'regex', and no other fields"
            ))
        }
        _ => Ok(()),
    }
}

/// A `replace` target: a valid label name, or, when it contains `$`, a label name built of
/// letters, digits, `_` and `$name`/`${name}` references (Prometheus's `relabelTargetLegacy`).
fn is_valid_target_template(target: &str) -> bool {
    if target.contains('$') {
        is_label_name_template(target)
    } else {
        is_valid_label_name(target)
    }
}

/// Prometheus's `relabelTargetLegacy`, `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` (`\w`
/// ASCII), which amounts to: not starting with a digit, and made of word characters and
/// well-formed `$word` / `${word}` references (a property test checks the two agree).
fn is_label_name_template(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes[0].is_ascii_digit() {
        return false;
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                let len = bytes[i + 2..].iter().take_while(|&&b| word(b)).count();
                if len == 0 || bytes.get(i + 2 + len) != Some(&b'}') {
                    return false;
                }
                i += len + 3;
            }
            b'$' => {
                let len = bytes[i + 1..].iter().take_while(|&&b| word(b)).count();
                if len == 0 {
                    return false;
                }
                i += len + 1;
            }
            b if word(b) => i += 1,
            _ => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Go's regular-expression syntax.
//
// Prometheus compiles `^(?s:<regex>)$` with Go's regexp (RE2 syntax). The `regex` crate reads
// almost the same syntax but differs in meaning in a few places, so the pattern is rewritten
// before compiling: `\d \s \w \b` and their negations are ASCII-only in Go (Unicode in the
// crate; Go's `\s` also lacks `\v`); `\Q...\E` literals, octal escapes, `\p{^Name}`, a `{` that
// does not start a valid repetition (a literal in Go), `&&`, `--`, `~~` or `[` inside a class
// (literals in Go) and a repetition right after a flag group (`a(?i)*` repeats `a` in Go) are
// rewritten; group names are kept aside (Go allows `(?P<1a>...)`), the groups numbered as in
// Go; constructs Go rejects (`\C`, `a**`, flags other than `imsU`, unknown `\p{...}` names,
// counted repetitions nested beyond 1000, unbalanced parentheses...) are reported with Go's
// messages. What remains (`.`, `(?i)` case folding, `\pL`, POSIX classes, leftmost-first
// submatches) means the same in both.
// ---------------------------------------------------------------------------------------------

/// A regex compiled with Go's syntax and meaning, and its capture groups' Go names.
#[derive(Debug, Clone)]
pub(super) struct GoRegex {
    pub(super) regex: Regex,
    /// Name of each capture group by number (`[0]`, the whole match, has none).
    pub(super) names: Vec<Option<String>>,
    /// How [`GoRegex::is_match`] can answer without the regex.
    shortcut: Shortcut,
}

impl GoRegex {
    /// Whether the whole of `value` matches.
    pub(super) fn is_match(&self, value: &str) -> bool {
        self.shortcut
            .is_match(value)
            .unwrap_or_else(|| self.regex.is_match(value))
    }
}

/// Compiles a relabel regex as Prometheus does: `^(?s:<regex>)$`, Go's syntax and meaning.
/// The error reads like Go's: `error parsing regexp: WHAT: EXPRESSION`, the expression in backquotes.
pub(super) fn compile_go_regex(regex_source: &str) -> Result<GoRegex, String> {
    let whole = format!("^(?s:{regex_source})$");
    let (translated, names) = Translator::new(&whole)
        .run()
        .map_err(|(code, expr)| format!("error parsing regexp: {code}: `{expr}`"))?;
    let regex = Regex::new(&translated).map_err(|e| {
        let text = e.to_string();
        let last = text.lines().last().unwrap_or_default();
        let what = last.strip_prefix("error: ").unwrap_or(last);
        format!("error parsing regexp: {what}: `{whole}`")
    })?;
    Ok(GoRegex {
        regex,
        names,
        shortcut: Shortcut::of(regex_source),
    })
}

/// A syntax error: Go's error code text and the offending part of the expression.
type SyntaxError = (&'static str, String);

/// What an open group saves of its enclosing group.
struct Saved {
    group_weight: u64,
    weight: u64,
    ungreedy: bool,
}

/// Where a run of flag-only groups (`(?i)`) began in the output, and whether `(?U)` was in
/// effect there.
#[derive(Clone, Copy)]
struct FlagRun {
    at: usize,
    ungreedy: bool,
}

/// Rewrites a Go regular expression into the `regex` crate's syntax, same meaning.
struct Translator<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    /// Capture group names by number.
    names: Vec<Option<String>>,
    /// The enclosing groups.
    stack: Vec<Saved>,
    /// Whether something a repetition could apply to precedes (Go: the parse stack's top is
    /// not a `(` or `|` marker).
    operand: bool,
    /// Where the previous token began, when it was a repetition (Go rejects `a**`).
    last_repeat: Option<usize>,
    /// Largest product of nested counted repetitions in the current group's finished items
    /// (Go's `repeatIsValid` allows at most 1000).
    group_weight: u64,
    /// The same for the last operand.
    weight: u64,
    /// Whether `(?U)` is in effect.
    ungreedy: bool,
    /// Set while the previous tokens were flag-only groups.
    flag_run: Option<FlagRun>,
}

/// Go's POSIX classes (`[:alpha:]`, `[:^alpha:]`, ...), all ASCII, same in the crate.
const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

impl<'a> Translator<'a> {
    fn new(src: &'a str) -> Self {
        Translator {
            src,
            pos: 0,
            out: String::with_capacity(src.len() * 2),
            names: vec![None],
            stack: Vec::new(),
            operand: false,
            last_repeat: None,
            group_weight: 0,
            weight: 0,
            ungreedy: false,
            flag_run: None,
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn run(mut self) -> Result<(String, Vec<Option<String>>), SyntaxError> {
        while let Some(c) = self.rest().chars().next() {
            let start = self.pos;
            let run = self.flag_run.take();
            let mut repeat = None;
            match c {
                '(' => self.open_group(run)?,
                ')' => self.close_group()?,
                '|' => self.alternation(),
                '*' | '+' | '?' => {
                    self.repetition(start, 1, None, run)?;
                    repeat = Some(start);
                }
                '{' => match parse_braces(self.rest()) {
                    Some((min, max, len)) => {
                        let text = &self.src[start..start + len];
                        check_repeat_size(min, max, text)?;
                        self.repetition(start, len, Some((min, max)), run)?;
                        repeat = Some(start);
                    }
                    None => {
                        self.pos += 1;
                        self.literal('{');
                    }
                },
                '[' => self.class()?,
                '\\' => self.escape()?,
                '^' | '$' | '.' => {
                    self.pos += 1;
                    self.out.push(c);
                    self.atom();
                }
                c => {
                    self.pos += c.len_utf8();
                    self.literal(c);
                }
            }
            self.last_repeat = repeat;
        }
        if !self.stack.is_empty() {
            return Err(("missing closing )", self.src.to_owned()));
        }
        Ok((self.out, self.names))
    }

    /// An operand ends and a new one (weight 1) begins.
    fn atom(&mut self) {
        self.group_weight = self.group_weight.max(self.weight);
        self.weight = 1;
        self.operand = true;
    }

    /// A literal character, escaped for the crate where needed.
    fn literal(&mut self, c: char) {
        push_escaped(&mut self.out, c);
        self.atom();
    }

    fn alternation(&mut self) {
        self.pos += 1;
        self.out.push('|');
        self.group_weight = self.group_weight.max(self.weight);
        self.weight = 0;
        self.operand = false;
    }

    /// `*`, `+`, `?` or `{n,m}` (`len` bytes at `start`, `counts` for the braces), with an
    /// optional non-greedy `?`. Right after flag-only groups it goes before them, greediness
    /// kept as Go reads it.
    fn repetition(
        &mut self,
        start: usize,
        len: usize,
        counts: Option<(i64, i64)>,
        run: Option<FlagRun>,
    ) -> Result<(), SyntaxError> {
        let lazy = self.src[start + len..].starts_with('?');
        let end = start + len + usize::from(lazy);
        let text = &self.src[start..end];
        if let Some(prev) = self.last_repeat {
            return Err((
                "invalid nested repetition operator",
                self.src[prev..end].to_owned(),
            ));
        }
        if !self.operand {
            return Err(("missing argument to repetition operator", text.to_owned()));
        }
        if let Some((min, max)) = counts {
            self.count_weight(min, max, text)?;
        }
        match run {
            None => self.out.push_str(text),
            Some(run) => {
                let op = &self.src[start..start + len];
                let flip = (self.ungreedy != lazy) != run.ungreedy;
                let inserted = format!("{op}{}", if flip { "?" } else { "" });
                self.out.insert_str(run.at, &inserted);
            }
        }
        self.pos = end;
        Ok(())
    }

    /// Go's `repeatIsValid`: along any chain of nested counted repetitions the counts'
    /// product is at most 1000 (a count of 0 ends the chain).
    fn count_weight(&mut self, min: i64, max: i64, text: &str) -> Result<(), SyntaxError> {
        let count = u64::try_from(if max < 0 { min } else { max }).unwrap_or(0);
        if count == 0 {
            self.weight = 1;
            return Ok(());
        }
        self.weight = count * self.weight.max(1);
        if (min >= 2 || max >= 2) && self.weight > 1000 {
            return Err(("invalid repeat count", text.to_owned()));
        }
        Ok(())
    }

    /// Enters a group (the token text already written).
    fn push_group(&mut self) {
        self.stack.push(Saved {
            group_weight: self.group_weight,
            weight: self.weight,
            ungreedy: self.ungreedy,
        });
        self.group_weight = 0;
        self.weight = 0;
        self.operand = false;
    }

    fn close_group(&mut self) -> Result<(), SyntaxError> {
        let Some(saved) = self.stack.pop() else {
            return Err(("unexpected )", self.src.to_owned()));
        };
        let inner = self.group_weight.max(self.weight).max(1);
        self.group_weight = saved.group_weight.max(saved.weight);
        self.weight = inner;
        self.ungreedy = saved.ungreedy;
        self.operand = true;
        self.pos += 1;
        self.out.push(')');
        Ok(())
    }

    /// `(`, `(?P<name>`, `(?<name>`, `(?flags:` or `(?flags)`.
    fn open_group(&mut self, run: Option<FlagRun>) -> Result<(), SyntaxError> {
        let rest = self.rest();
        if !rest.starts_with("(?") {
            self.pos += 1;
            self.out.push('(');
            self.names.push(None);
            self.push_group();
            return Ok(());
        }
        if rest.starts_with("(?P<") && rest.len() > 4 {
            return self.named_group(4);
        }
        if rest.starts_with("(?<") && rest.len() > 3 {
            return self.named_group(3);
        }
        self.flag_group(run)
    }

    /// A named capture (the name `begin` bytes into the rest): a plain group for the crate,
    /// the name kept in `names`.
    fn named_group(&mut self, begin: usize) -> Result<(), SyntaxError> {
        let rest = self.rest();
        let Some(end) = rest.find('>') else {
            return Err(("invalid named capture", rest.to_owned()));
        };
        let name = &rest[begin..end];
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(("invalid named capture", rest[..=end].to_owned()));
        }
        self.names.push(Some(name.to_owned()));
        self.pos += end + 1;
        self.out.push('(');
        self.push_group();
        Ok(())
    }

    /// `(?imsU-imsU:` or `(?imsU-imsU)` as Go reads them (a later `-x` wins over `x`).
    fn flag_group(&mut self, run: Option<FlagRun>) -> Result<(), SyntaxError> {
        let rest = self.rest();
        let (mut on, mut off) = (String::new(), String::new());
        let mut negated = false;
        let mut saw_flag = false;
        for (i, c) in rest.char_indices().skip(2) {
            let bad = || {
                let text = rest[..i + c.len_utf8()].to_owned();
                ("invalid or unsupported Perl syntax", text)
            };
            match c {
                'i' | 'm' | 's' | 'U' => {
                    let (set, other) = if negated {
                        (&mut off, &mut on)
                    } else {
                        (&mut on, &mut off)
                    };
                    other.retain(|x| x != c);
                    if !set.contains(c) {
                        set.push(c);
                    }
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if negated && !saw_flag => return Err(bad()),
                ':' | ')' => {
                    self.pos += i + 1;
                    self.emit_flags(&on, &off, c == ':', run);
                    return Ok(());
                }
                _ => return Err(bad()),
            }
        }
        Err(("invalid or unsupported Perl syntax", rest.to_owned()))
    }

    /// Writes a flag group and applies its `U`.
    fn emit_flags(&mut self, on: &str, off: &str, group: bool, run: Option<FlagRun>) {
        let flags = match (on.is_empty(), off.is_empty()) {
            (true, true) => String::new(),
            (false, true) => on.to_owned(),
            (_, false) => format!("{on}-{off}"),
        };
        let run = run.unwrap_or(FlagRun {
            at: self.out.len(),
            ungreedy: self.ungreedy,
        });
        if group {
            self.out.push_str(&format!("(?{flags}:"));
            self.push_group();
        } else if !flags.is_empty() {
            self.out.push_str(&format!("(?{flags})"));
        }
        if on.contains('U') {
            self.ungreedy = true;
        } else if off.contains('U') {
            self.ungreedy = false;
        }
        if !group {
            self.flag_run = Some(run);
        }
    }

    /// A backslash sequence outside a class.
    fn escape(&mut self) -> Result<(), SyntaxError> {
        let rest = self.rest();
        let Some(c) = rest[1..].chars().next() else {
            return Err(("trailing backslash at end of expression", String::new()));
        };
        let text = match c {
            'A' => r"\A".to_owned(),
            'z' => r"\z".to_owned(),
            'b' => r"(?-u:\b)".to_owned(),
            'B' => r"(?-u:\B)".to_owned(),
            'C' => return Err(("invalid escape sequence", r"\C".to_owned())),
            'Q' => {
                self.quoted_literal();
                return Ok(());
            }
            'p' | 'P' => {
                let (class, len) = unicode_class(rest)?;
                self.pos += len - 2;
                class
            }
            c => match perl_class(c) {
                Some(class) => class.outside.to_owned(),
                None => {
                    let (ch, len) = parse_escape(rest)?;
                    self.pos += len;
                    self.literal(ch);
                    return Ok(());
                }
            },
        };
        self.pos += 2;
        self.out.push_str(&text);
        self.atom();
        Ok(())
    }

    /// `\Q...\E` (or to the end): every character literal.
    fn quoted_literal(&mut self) {
        let body = &self.rest()[2..];
        let (lit, consumed) = match body.find(r"\E") {
            Some(i) => (&body[..i], i + 2),
            None => (body, body.len()),
        };
        for c in lit.chars() {
            self.literal(c);
        }
        self.pos += 2 + consumed;
    }

    /// A bracketed class, Go's rules: `]` first is literal, `[` is literal unless it starts a
    /// POSIX class, `-` makes a range unless last.
    fn class(&mut self) -> Result<(), SyntaxError> {
        let whole = self.rest();
        self.out.push('[');
        self.pos += 1;
        if self.rest().starts_with('^') {
            self.out.push('^');
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(("missing closing ]", whole.to_owned()));
            }
            if rest.starts_with(']') && !first {
                break;
            }
            first = false;
            if !self.class_group()? {
                self.class_range(whole)?;
            }
        }
        self.out.push(']');
        self.pos += 1;
        self.atom();
        Ok(())
    }

    /// A POSIX, Unicode or Perl class inside a class; false when the next item is a character.
    fn class_group(&mut self) -> Result<bool, SyntaxError> {
        let rest = self.rest();
        if rest.len() > 2
            && rest.starts_with("[:")
            && let Some(i) = rest[2..].find(":]")
        {
            let name = &rest[..i + 4];
            let inner = &name[2..name.len() - 2];
            if !POSIX_CLASSES.contains(&inner.strip_prefix('^').unwrap_or(inner)) {
                return Err(("invalid character class range", name.to_owned()));
            }
            self.out.push_str(name);
            self.pos += name.len();
            return Ok(true);
        }
        if rest.starts_with(r"\p") || rest.starts_with(r"\P") {
            let (class, len) = unicode_class(rest)?;
            self.out.push_str(&class);
            self.pos += len;
            return Ok(true);
        }
        let perl = rest.strip_prefix('\\').and_then(|r| r.chars().next());
        if let Some(class) = perl.and_then(perl_class) {
            self.out.push_str(class.inside);
            self.pos += 2;
            return Ok(true);
        }
        Ok(false)
    }

    /// One character or `lo-hi` range inside a class.
    fn class_range(&mut self, whole: &str) -> Result<(), SyntaxError> {
        let start = self.pos;
        let lo = self.class_char(whole)?;
        let mut hi = lo;
        let rest = self.rest().as_bytes();
        if rest.len() >= 2 && rest[0] == b'-' && rest[1] != b']' {
            self.pos += 1;
            hi = self.class_char(whole)?;
            if hi < lo {
                let text = self.src[start..self.pos].to_owned();
                return Err(("invalid character class range", text));
            }
        }
        push_escaped(&mut self.out, lo);
        if hi != lo {
            self.out.push('-');
            push_escaped(&mut self.out, hi);
        }
        Ok(())
    }

    fn class_char(&mut self, whole: &str) -> Result<char, SyntaxError> {
        let rest = self.rest();
        match rest.chars().next() {
            None => Err(("missing closing ]", whole.to_owned())),
            Some('\\') => {
                let (c, len) = parse_escape(rest)?;
                self.pos += len;
                Ok(c)
            }
            Some(c) => {
                self.pos += c.len_utf8();
                Ok(c)
            }
        }
    }
}

/// Go's `{n}`, `{n,}`, `{n,m}` at the start of `s`: (min, max or -1, length); `None` when it
/// is not a repetition (Go then reads `{` as a literal). A number that overflows makes min -1,
/// as in Go, so that the caller reports an invalid count.
fn parse_braces(s: &str) -> Option<(i64, i64, usize)> {
    let body = s.strip_prefix('{')?;
    let (mut min, rest) = parse_go_int(body)?;
    let (max, rest) = match rest.strip_prefix(',') {
        None => (min, rest),
        Some(r) if r.starts_with('}') => (-1, r),
        Some(r) => {
            let (max, r) = parse_go_int(r)?;
            if max < 0 {
                min = -1;
            }
            (max, r)
        }
    };
    let after = rest.strip_prefix('}')?;
    Some((min, max, s.len() - after.len()))
}

/// Go's `parseInt`: digits without a leading zero; -1 when the value reaches 10^8.
fn parse_go_int(s: &str) -> Option<(i64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits >= 2 && s.starts_with('0')) {
        return None;
    }
    let mut n: i64 = 0;
    for b in s[..digits].bytes() {
        if n >= 100_000_000 {
            n = -1;
            break;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some((n, &s[digits..]))
}

/// Go's bounds on a counted repetition: at most 1000, and min <= max.
fn check_repeat_size(min: i64, max: i64, text: &str) -> Result<(), SyntaxError> {
    if !(0..=1000).contains(&min) || max > 1000 || (max >= 0 && min > max) {
        return Err(("invalid repeat count", text.to_owned()));
    }
    Ok(())
}

/// Go's ASCII Perl classes, written for the crate outside and inside brackets.
struct PerlClass {
    outside: &'static str,
    inside: &'static str,
}

fn perl_class(c: char) -> Option<PerlClass> {
    let (outside, inside) = match c {
        'd' => ("[0-9]", "0-9"),
        'D' => ("[^0-9]", "[^0-9]"),
        's' => (r"[\t\n\f\r ]", r"\t\n\f\r "),
        'S' => (r"[^\t\n\f\r ]", r"[^\t\n\f\r ]"),
        'w' => ("[0-9A-Za-z_]", "0-9A-Za-z_"),
        'W' => ("[^0-9A-Za-z_]", "[^0-9A-Za-z_]"),
        _ => return None,
    };
    Some(PerlClass { outside, inside })
}

/// The names Go's `\p{...}` knows: `Any`, the general categories and the scripts (Go's
/// `unicode.Categories` and `unicode.Scripts`, Unicode 15 as in the Go releases Prometheus 3.x
/// is built with).
pub(super) const UNICODE_CLASS_NAMES: [&str; 200] = [
    "Any",
    "C",
    "Cc",
    "Cf",
    "Co",
    "Cs",
    "L",
    "Ll",
    "Lm",
    "Lo",
    "Lt",
    "Lu",
    "M",
    "Mc",
    "Me",
    "Mn",
    "N",
    "Nd",
    "Nl",
    "No",
    "P",
    "Pc",
    "Pd",
    "Pe",
    "Pf",
    "Pi",
    "Po",
    "Ps",
    "S",
    "Sc",
    "Sk",
    "Sm",
    "So",
    "Z",
    "Zl",
    "Zp",
    "Zs",
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];

/// `\pX`, `\p{Name}`, `\P{Name}`, `\p{^Name}` at the start of `s`: the crate's spelling and the
/// length read.
fn unicode_class(s: &str) -> Result<(String, usize), SyntaxError> {
    let mut negated = s.as_bytes()[1] == b'P';
    let after = &s[2..];
    let (name, len) = match after.chars().next() {
        None => return Err(("invalid character class range", s.to_owned())),
        Some('{') => match s.find('}') {
            Some(end) => (&s[3..end], end + 1),
            None => return Err(("invalid character class range", s.to_owned())),
        },
        Some(c) => (&after[..c.len_utf8()], 2 + c.len_utf8()),
    };
    let name = match name.strip_prefix('^') {
        Some(n) => {
            negated = !negated;
            n
        }
        None => name,
    };
    if !UNICODE_CLASS_NAMES.contains(&name) {
        return Err(("invalid character class range", s[..len].to_owned()));
    }
    let neg = if negated { "^" } else { "" };
    let class = match name {
        // Go's C is Cc, Cf, Co and Cs, without the unassigned Cn the crate's C includes.
        "C" => format!(r"[{neg}\p{{Cc}}\p{{Cf}}\p{{Co}}]"),
        // Surrogates (Go's Cs) never occur in a Rust string; the crate has no Cs.
        "Cs" if negated => r"[\x{0}-\x{10FFFF}]".to_owned(),
        "Cs" => r"[^\x{0}-\x{10FFFF}]".to_owned(),
        _ => format!(r"\{}{{{name}}}", if negated { 'P' } else { 'p' }),
    };
    Ok((class, len))
}

/// Go's `parseEscape` for a single character: `\` + punctuation, octal, `\x..`, `\x{...}`,
/// `\a \f \n \r \t \v`. Returns the character and the length read.
fn parse_escape(s: &str) -> Result<(char, usize), SyntaxError> {
    let t = &s[1..];
    let Some(c) = t.chars().next() else {
        return Err(("trailing backslash at end of expression", String::new()));
    };
    let invalid = |len: usize| ("invalid escape sequence", s[..len.min(s.len())].to_owned());
    let next_is_octal = || t[1..].starts_with(|c: char| ('0'..='7').contains(&c));
    match c {
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, 2)),
        '1'..='7' if !next_is_octal() => Err(invalid(2)),
        '0'..='7' => {
            let more = t[1..]
                .bytes()
                .take(2)
                .take_while(|b| (b'0'..=b'7').contains(b));
            let digits = 1 + more.count();
            let value = u32::from_str_radix(&t[..digits], 8).expect("octal digits");
            Ok((char::from_u32(value).expect("at most 0o777"), 1 + digits))
        }
        'x' => parse_hex_escape(s),
        'a' => Ok(('\u{7}', 2)),
        'f' => Ok(('\u{c}', 2)),
        'n' => Ok(('\n', 2)),
        'r' => Ok(('\r', 2)),
        't' => Ok(('\t', 2)),
        'v' => Ok(('\u{b}', 2)),
        c => Err(invalid(1 + c.len_utf8())),
    }
}

/// `\xHH` or `\x{H...}` at the start of `s`; the error covers what Go had read when it gave up.
fn parse_hex_escape(s: &str) -> Result<(char, usize), SyntaxError> {
    let invalid = |len: usize| ("invalid escape sequence", s[..len.min(s.len())].to_owned());
    let body = &s[2..];
    if let Some(inner) = body.strip_prefix('{') {
        let mut value: u32 = 0;
        for (i, c) in inner.char_indices() {
            let read = 4 + i;
            match c.to_digit(16) {
                Some(d) => value = value * 16 + d,
                None if c == '}' && i > 0 => {
                    return char::from_u32(value)
                        .map(|c| (c, read))
                        .ok_or(invalid(read));
                }
                None => return Err(invalid(read + c.len_utf8() - 1)),
            }
            if value > 0x10_FFFF {
                return Err(invalid(read));
            }
        }
        return Err(invalid(s.len()));
    }
    let mut chars = body.chars();
    let (x, y) = (chars.next(), chars.next());
    let len = 2 + x.map_or(0, char::len_utf8) + y.map_or(0, char::len_utf8);
    match (
        x.and_then(|c| c.to_digit(16)),
        y.and_then(|c| c.to_digit(16)),
    ) {
        (Some(x), Some(y)) => Ok((char::from_u32(x * 16 + y).expect("below 256"), 4)),
        _ => Err(invalid(len)),
    }
}

/// A literal, in or out of a class: ASCII letters, digits and non-ASCII as they are, other
/// ASCII as a hex escape (never a metacharacter of either syntax, so `&&`, `--`, `~~` and `[`
/// in a class stay literal too).
fn push_escaped(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || !c.is_ascii() {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    }
}
