//! Matching without the regex engine for the patterns relabel rules use most: `.*`, `.+` and
//! alternations of plain literals (`__tmp_shard|container`, `5..` is not one). Relabel regexes
//! are anchored at both ends, so a literal alternation matches exactly the strings equal to one
//! of its alternatives, `.*` (with `(?s)`, as Prometheus compiles it) matches every string and
//! `.+` every non-empty one. Anything else goes to the regex.

/// How a pattern can be matched without the regex engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shortcut {
    /// `.*` or `(.*)`: every string.
    Any,
    /// `.+` or `(.+)`: every non-empty string.
    NonEmpty,
    /// `a|b|...` of plain literals (an empty alternative matches the empty string).
    Literals(Vec<String>),
    /// Only the regex knows.
    Regex,
}

impl Shortcut {
    /// The shortcut for relabel regex `source` (as written, without the anchors).
    pub(super) fn of(source: &str) -> Shortcut {
        match source {
            ".*" | "(.*)" => return Shortcut::Any,
            ".+" | "(.+)" => return Shortcut::NonEmpty,
            _ => {}
        }
        if source.chars().any(is_meta) {
            return Shortcut::Regex;
        }
        Shortcut::Literals(source.split('|').map(str::to_owned).collect())
    }

    /// Whether `value` matches, or `None` when only the regex can say.
    pub(super) fn is_match(&self, value: &str) -> Option<bool> {
        match self {
            Shortcut::Any => Some(true),
            Shortcut::NonEmpty => Some(!value.is_empty()),
            Shortcut::Literals(literals) => Some(literals.iter().any(|l| l == value)),
            Shortcut::Regex => None,
        }
    }
}

/// A character with a meaning in RE2 syntax other than itself (`|` separates alternatives,
/// which the caller handles).
fn is_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$'
    )
}
