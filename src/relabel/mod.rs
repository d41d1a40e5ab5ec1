//! Relabeling with Prometheus's semantics (`write_relabel_configs`): parse and validate rules
//! ([`compile_rules`]), then apply them to a series' labels ([`relabel`]).
//!
//! # Which Prometheus
//!
//! The rules are those of Prometheus 3.x's `model/relabel` (read at v3.14.0) with the legacy
//! name validation scheme (`metric_name_validation_scheme: legacy`, the only one Remote Write
//! 1.0 and this crate's labels allow): label names are `[a-zA-Z_][a-zA-Z0-9_]*`. Error messages
//! are Prometheus's, identical in 2.42 and 3.x. Where Prometheus 2.42 (the Debian package
//! `.ci/receivers.sh` installs; its `promtool check config` confirmed the validation rules the
//! two share) differs, 3.x wins:
//!
//! - the regex is compiled as `^(?s:<regex>)$`, so `.` also matches a newline (2.42: `^(?:...)$`);
//! - `lowercase`, `uppercase`, `keepequal` and `dropequal` need a plain label name as
//!   `target_label` (2.42 also accepted `$` templates there);
//! - `replace` with an expanded target that is not a valid label name does nothing, and an
//!   empty expanded value deletes the *expanded* target (2.42 deleted the unexpanded name);
//! - `labelmap` visits the labels in `labels.Builder.Range` order, the input labels by name
//!   then those set by earlier rules in the order set (2.42: all by name), which decides
//!   which copy wins when two map to one name.
//!
//! Source label names must be valid legacy names (`"a-b" is not a valid label name`), as in
//! Prometheus 2.x.
//!
//! # Semantics
//!
//! Rules apply in order to one label set, which Prometheus keeps in a `labels.Builder`:
//! a label set to the empty value is deleted, reads see earlier rules' writes. The values of
//! `source_labels` are joined with `separator`, a missing label giving `""`. Then:
//!
//! - `replace`: if `regex` matches the joined value, `target_label` and `replacement` are
//!   expanded with Go's `Regexp.Expand` rules (`$1`, `${1}`, `${name}`, `$$`; `$1x` is the group
//!   named `1x`; unknown groups expand to nothing). An expanded name that is not a valid label
//!   name makes the rule do nothing; an empty expanded value deletes the label.
//! - `keep` / `drop`: the series is dropped unless / if `regex` matches the joined value.
//! - `keepequal` / `dropequal`: dropped unless / if the joined value equals `target_label`'s.
//! - `hashmod`: MD5 of the joined value, the last 8 of its 16 bytes read big-endian, modulo
//!   `modulus`, written in decimal to `target_label`.
//! - `labelmap`: every label whose name matches `regex` is copied (the original stays) to the
//!   name `replacement` expands to against that name (Go's `ReplaceAllString`). The new name
//!   is not checked: [`check_result`] reports it if it is invalid.
//! - `labeldrop` / `labelkeep`: labels whose names match / do not match `regex` are removed.
//! - `lowercase` / `uppercase`: `target_label` is set to the joined value in lower / upper case
//!   (Go's simple case mapping: `ß` stays `ß`).
//!
//! Regexes are anchored at both ends and use Go's RE2 syntax and meaning (`\w`, `\d`, `\s`, `\b`
//! are ASCII-only, `\p{...}` takes Go's names, a `{` that starts no repetition is a literal,
//! ...), compiled with the `regex` crate after a rewrite (see `parse.rs`); errors read like
//! Go's. Differences left: limits (Go allows nesting 1000 deep, the crate 250; program size
//! limits differ), surrogate escapes such as `\x{D800}` (accepted by Go, never matching), and
//! Unicode versions (Go 1.21+ has Unicode 15, the crate 16).
//!
//! Invalid input to [`relabel`] never panics; the module does no I/O and keeps no state.

mod expand;
mod parse;
mod shortcut;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use md5::{Digest, Md5};

use crate::model::{Label, is_valid_label_name, is_valid_metric_name};

use parse::GoRegex;
pub use parse::{RawRelabelConfig, compile_rules};

/// What a rule does; Prometheus's `action` names in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelabelAction {
    /// `replace`: write the expanded `replacement` to the expanded `target_label` on a match.
    Replace,
    /// `keep`: drop the series unless `regex` matches the joined source values.
    Keep,
    /// `drop`: drop the series if `regex` matches the joined source values.
    Drop,
    /// `keepequal`: drop the series unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// `dropequal`: drop the series if the joined source values equal `target_label`'s value.
    DropEqual,
    /// `hashmod`: write the MD5-based hash of the joined source values modulo `modulus`.
    HashMod,
    /// `labelmap`: copy labels whose names match `regex` to the names `replacement` gives.
    LabelMap,
    /// `labeldrop`: remove labels whose names match `regex`.
    LabelDrop,
    /// `labelkeep`: remove labels whose names do not match `regex`.
    LabelKeep,
    /// `lowercase`: write the joined source values in lower case.
    Lowercase,
    /// `uppercase`: write the joined source values in upper case.
    Uppercase,
}

impl RelabelAction {
    /// Every action, in the order of Prometheus's documentation.
    const ALL: [RelabelAction; 11] = [
        RelabelAction::Replace,
        RelabelAction::Keep,
        RelabelAction::Drop,
        RelabelAction::KeepEqual,
        RelabelAction::DropEqual,
        RelabelAction::HashMod,
        RelabelAction::LabelMap,
        RelabelAction::LabelDrop,
        RelabelAction::LabelKeep,
        RelabelAction::Lowercase,
        RelabelAction::Uppercase,
    ];

    /// The name as Prometheus spells it (`keepequal`, `hashmod`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RelabelAction::Replace => "replace",
            RelabelAction::Keep => "keep",
            RelabelAction::Drop => "drop",
            RelabelAction::KeepEqual => "keepequal",
            RelabelAction::DropEqual => "dropequal",
            RelabelAction::HashMod => "hashmod",
            RelabelAction::LabelMap => "labelmap",
            RelabelAction::LabelDrop => "labeldrop",
            RelabelAction::LabelKeep => "labelkeep",
            RelabelAction::Lowercase => "lowercase",
            RelabelAction::Uppercase => "uppercase",
        }
    }

    /// The action named `name`, ignoring case as Prometheus does (`Replace` is `replace`).
    pub fn from_name(name: &str) -> Option<RelabelAction> {
        let lower = expand::to_lower(name);
        Self::ALL.into_iter().find(|a| a.as_str() == lower)
    }
}

impl fmt::Display for RelabelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An invalid rule: its index in the list given to [`compile_rules`] and Prometheus's message.
/// Displays as `write_relabel_configs[2]: relabel configuration for replace action requires
/// 'target_label' value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelabelConfigError {
    index: usize,
    message: String,
}

impl RelabelConfigError {
    /// The index of the invalid rule.
    pub fn index(&self) -> usize {
        self.index
    }

    /// What is wrong with it, in Prometheus's words.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RelabelConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "write_relabel_configs[{}]: {}", self.index, self.message)
    }
}

impl std::error::Error for RelabelConfigError {}

/// A compiled, validated rule; made by [`compile_rules`]. The accessors give the effective
/// settings, Prometheus's defaults filled in.
#[derive(Debug, Clone)]
pub struct RelabelRule {
    action: RelabelAction,
    source_labels: Vec<String>,
    separator: String,
    /// The regex as written (without the anchors).
    regex_source: String,
    /// `^(?s:<regex>)$`, rewritten to the crate's syntax.
    regex: GoRegex,
    modulus: u64,
    target_label: String,
    replacement: String,
}

impl RelabelRule {
    /// The action.
    pub fn action(&self) -> RelabelAction {
        self.action
    }

    /// The source label names (empty when none were given).
    pub fn source_labels(&self) -> &[String] {
        &self.source_labels
    }

    /// The separator of the joined source values.
    pub fn separator(&self) -> &str {
        &self.separator
    }

    /// The regex as written, without the implicit anchors.
    pub fn regex(&self) -> &str {
        &self.regex_source
    }

    /// The modulus (0 unless `hashmod`).
    pub fn modulus(&self) -> u64 {
        self.modulus
    }

    /// The target label (a template for `replace`; empty when not given).
    pub fn target_label(&self) -> &str {
        &self.target_label
    }

    /// The replacement template.
    pub fn replacement(&self) -> &str {
        &self.replacement
    }
}

/// What the rules decided for one label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelabelOutcome {
    /// The series is kept with these labels, sorted by name, names unique, no empty value.
    /// They may still be unusable (no labels at all, a name made invalid by `labelmap`):
    /// see [`check_result`].
    Kept(Vec<Label>),
    /// A `keep`, `drop`, `keepequal` or `dropequal` rule dropped the series.
    Dropped {
        /// Index of that rule in the slice given to [`relabel`].
        rule: usize,
    },
}

/// A label of [`relabel_pairs`]' result: borrowed from the input or a rule where it can be,
/// computed otherwise.
pub type LabelPair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// What the rules decided for one label set given as borrowed pairs ([`relabel_pairs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairsOutcome<'a> {
    /// The series is kept with these labels (as in [`RelabelOutcome::Kept`]); `changed` is
    /// false when they are the input labels.
    Kept {
        /// The labels, sorted by name.
        labels: Vec<LabelPair<'a>>,
        /// Whether they differ from the input.
        changed: bool,
        /// What makes them unusable, as [`check_result`] says it, when something does. Only
        /// what the rules changed is checked: the input labels are taken to be valid.
        invalid: Option<String>,
    },
    /// A `keep`, `drop`, `keepequal` or `dropequal` rule dropped the series.
    Dropped {
        /// Index of that rule in the slice given to [`relabel_pairs`].
        rule: usize,
    },
}

/// Applies `rules` in order to `labels`, as Prometheus's `relabel.ProcessBuilder` does.
///
/// `labels` should be sorted by name (byte order) with unique names and no empty values, as a
/// [`crate::Labels`] is; otherwise a sorted copy is used, keeping the first label of each name
/// and leaving out empty values. The kept labels come back sorted by name.
pub fn relabel(labels: &[Label], rules: &[RelabelRule]) -> RelabelOutcome {
    let base = normalized(labels);
    let pairs: Vec<(&str, &str)> = base
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    match relabel_pairs(&pairs, rules) {
        PairsOutcome::Kept { labels, .. } => RelabelOutcome::Kept(
            labels
                .into_iter()
                .map(|(name, value)| Label::new(name, value))
                .collect(),
        ),
        PairsOutcome::Dropped { rule } => RelabelOutcome::Dropped { rule },
    }
}

/// [`relabel`] over borrowed labels, which must be sorted by name with unique names and no
/// empty values (as the labels of a registered series are): labels that the rules leave alone
/// stay borrowed, so a series costs a few allocations however many labels it has.
pub fn relabel_pairs<'a>(
    labels: &'a [(&'a str, &'a str)],
    rules: &'a [RelabelRule],
) -> PairsOutcome<'a> {
    let mut builder = Builder::new(labels);
    for (index, rule) in rules.iter().enumerate() {
        if !apply(rule, &mut builder) {
            return PairsOutcome::Dropped { rule: index };
        }
    }
    let changed = builder.changed();
    let invalid = builder.check_set().err();
    let labels = builder.finish();
    let invalid = match invalid {
        None if labels.is_empty() => Some(NO_LABELS_LEFT.to_owned()),
        other => other,
    };
    PairsOutcome::Kept {
        labels,
        changed,
        invalid,
    }
}

/// Says what makes a relabeled label set unusable for Remote Write 1.0, by the rules of
/// [`crate::Labels::new`]: no labels left, a label name that is not `[a-zA-Z_][a-zA-Z0-9_]*`, a
/// `__name__` value that is not a valid metric name, an empty value, or names not sorted and
/// unique. A set without `__name__` passes, as in Prometheus (receivers may refuse it).
pub fn check_result(labels: &[Label]) -> Result<(), String> {
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    check_pairs(&pairs)
}

/// [`check_result`] over (name, value) pairs.
pub fn check_pairs<N: AsRef<str>, V: AsRef<str>>(labels: &[(N, V)]) -> Result<(), String> {
    if labels.is_empty() {
        return Err(NO_LABELS_LEFT.to_owned());
    }
    for (name, value) in labels {
        check_label(name.as_ref(), value.as_ref())?;
    }
    if let Some(pair) = labels
        .windows(2)
        .find(|w| w[0].0.as_ref() >= w[1].0.as_ref())
    {
        let (first, second) = (pair[0].0.as_ref(), pair[1].0.as_ref());
        return Err(if first == second {
            format!("duplicate label name {first:?}")
        } else {
            format!("labels not sorted: {first:?} before {second:?}")
        });
    }
    Ok(())
}

/// The verdict on a relabeled set without labels.
const NO_LABELS_LEFT: &str = "no labels left after relabeling";

/// What makes one label unusable: its name, an empty value, or a `__name__` value that is not a
/// metric name.
fn check_label(name: &str, value: &str) -> Result<(), String> {
    if !is_valid_label_name(name) {
        return Err(format!(
            "invalid label name {name:?} after relabeling: must match [a-zA-Z_][a-zA-Z0-9_]*"
        ));
    }
    if value.is_empty() {
        return Err(format!("label {name:?} has an empty value"));
    }
    if name == "__name__" && !is_valid_metric_name(value) {
        return Err(format!(
            "invalid metric name {value:?} after relabeling: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
        ));
    }
    Ok(())
}

/// `labels` if sorted with unique names and no empty values, else a copy that is.
fn normalized(labels: &[Label]) -> Cow<'_, [Label]> {
    let sorted = labels.windows(2).all(|w| w[0].name < w[1].name);
    if sorted && labels.iter().all(|l| !l.value.is_empty()) {
        return Cow::Borrowed(labels);
    }
    let mut copy: Vec<Label> = labels
        .iter()
        .filter(|l| !l.value.is_empty())
        .cloned()
        .collect();
    copy.sort_by(|a, b| a.name.cmp(&b.name));
    copy.dedup_by(|later, first| later.name == first.name);
    Cow::Owned(copy)
}

/// Prometheus's `labels.Builder`: the input labels, the labels set since (in the order first
/// set), and which input labels are gone (deleted, or overwritten by a set one).
struct Builder<'a> {
    base: &'a [(&'a str, &'a str)],
    add: Vec<LabelPair<'a>>,
    gone: GoneLabels,
}

/// Which input labels are gone, by index: a bit each, in one word for up to 64 labels (no
/// allocation), in a vector beyond.
struct GoneLabels {
    word: u64,
    many: Vec<bool>,
}

impl GoneLabels {
    fn new(len: usize) -> Self {
        let many = if len > 64 {
            vec![false; len]
        } else {
            Vec::new()
        };
        GoneLabels { word: 0, many }
    }

    fn contains(&self, index: usize) -> bool {
        match self.many.get(index) {
            Some(&gone) => gone,
            None => index < 64 && self.word & (1 << index) != 0,
        }
    }

    fn insert(&mut self, index: usize) {
        match self.many.get_mut(index) {
            Some(gone) => *gone = true,
            None => self.word |= 1 << index,
        }
    }

    fn len(&self) -> usize {
        if self.many.is_empty() {
            self.word.count_ones() as usize
        } else {
            self.many.iter().filter(|&&g| g).count()
        }
    }
}

/// Up to this many input labels, a name is looked up by a linear scan (most comparisons stop
/// at the length), beyond it by binary search.
const LINEAR_LOOKUP_MAX: usize = 16;

impl<'a> Builder<'a> {
    fn new(base: &'a [(&'a str, &'a str)]) -> Self {
        Builder {
            base,
            add: Vec::with_capacity(4),
            gone: GoneLabels::new(base.len()),
        }
    }

    fn base_index(&self, name: &str) -> Option<usize> {
        if self.base.len() <= LINEAR_LOOKUP_MAX {
            return self.base.iter().position(|l| l.0 == name);
        }
        self.base.binary_search_by(|l| l.0.cmp(name)).ok()
    }

    /// The current value of `name`, `""` when absent.
    fn get(&self, name: &str) -> &str {
        if let Some((_, value)) = self.add.iter().find(|l| l.0 == name) {
            return value;
        }
        match self.base_index(name) {
            Some(i) if !self.gone.contains(i) => self.base[i].1,
            _ => "",
        }
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    fn set(&mut self, name: Cow<'a, str>, value: Cow<'a, str>) {
        if value.is_empty() {
            return self.del(&name);
        }
        if let Some(label) = self.add.iter_mut().find(|l| l.0 == name) {
            label.1 = value;
            return;
        }
        if let Some(i) = self.base_index(&name) {
            self.gone.insert(i);
        }
        self.add.push((name, value));
    }

    fn del(&mut self, name: &str) {
        self.add.retain(|l| l.0 != name);
        if let Some(i) = self.base_index(name) {
            self.gone.insert(i);
        }
    }

    /// The current labels in Prometheus's `Builder.Range` order: the remaining input labels,
    /// then the set ones in the order first set.
    fn current(&self) -> impl Iterator<Item = (Cow<'a, str>, &str)> + '_ {
        let base = self.base;
        (0..base.len())
            .filter(|&i| !self.gone.contains(i))
            .map(move |i| (Cow::Borrowed(base[i].0), base[i].1))
            .chain(self.add.iter().map(|(n, v)| (n.clone(), v.as_ref())))
    }

    /// Whether the labels differ from the input: an input label deleted, or a label set that
    /// the input lacks or has with another value. Every set label the input has marks that
    /// input label gone, so the labels are the input's when each gone one was set again to
    /// its own value.
    fn changed(&self) -> bool {
        self.gone.len() != self.add.len()
            || self.add.iter().any(|(name, value)| {
                self.base_index(name)
                    .is_none_or(|i| self.base[i].1 != value.as_ref())
            })
    }

    /// [`check_label`] of each label the rules set. With the input labels valid, that and a
    /// non-empty result make the result valid: the builder keeps names unique and sorted, and
    /// deletes a label set to the empty value.
    fn check_set(&self) -> Result<(), String> {
        self.add
            .iter()
            .try_for_each(|(name, value)| check_label(name, value))
    }

    /// The labels, sorted by name: the remaining input labels (sorted) merged with the set
    /// ones (sorted here).
    fn finish(self) -> Vec<LabelPair<'a>> {
        let mut out: Vec<LabelPair<'a>> = Vec::with_capacity(self.base.len() + self.add.len());
        let mut add = self.add;
        add.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut added = add.into_iter().peekable();
        for (i, &(name, value)) in self.base.iter().enumerate() {
            if self.gone.contains(i) {
                continue;
            }
            while let Some(next) = added.next_if(|l| l.0.as_ref() < name) {
                out.push(next);
            }
            out.push((Cow::Borrowed(name), Cow::Borrowed(value)));
        }
        out.extend(added);
        out
    }
}

/// Applies one rule; false when it drops the series.
fn apply<'a>(rule: &'a RelabelRule, b: &mut Builder<'a>) -> bool {
    use RelabelAction::*;
    match rule.action {
        Keep | Drop | KeepEqual | DropEqual => return decide(rule, b),
        LabelMap => label_map(rule, b),
        LabelDrop => delete_names(b, |name| rule.regex.is_match(name)),
        LabelKeep => delete_names(b, |name| !rule.regex.is_match(name)),
        Replace | Lowercase | Uppercase | HashMod => {
            if let Some((name, value)) = rewrite(rule, &joined_source(rule, b)) {
                b.set(name, value);
            }
        }
    }
    true
}

/// `keep`, `drop`, `keepequal`, `dropequal`: whether the series stays.
fn decide(rule: &RelabelRule, b: &Builder<'_>) -> bool {
    use RelabelAction::*;
    let value = joined_source(rule, b);
    match rule.action {
        Keep => rule.regex.is_match(&value),
        Drop => !rule.regex.is_match(&value),
        KeepEqual => b.get(&rule.target_label) == value,
        DropEqual => b.get(&rule.target_label) != value,
        _ => true,
    }
}

/// `replace`, `lowercase`, `uppercase`, `hashmod`: the label to set from the joined source
/// values, if any.
fn rewrite<'a>(rule: &'a RelabelRule, value: &str) -> Option<LabelPair<'a>> {
    use RelabelAction::*;
    let target = Cow::Borrowed(rule.target_label.as_str());
    match rule.action {
        Replace => replace(rule, value),
        Lowercase => Some((target, Cow::Owned(expand::to_lower(value)))),
        Uppercase => Some((target, Cow::Owned(expand::to_upper(value)))),
        HashMod => Some((target, Cow::Owned(hashmod(value, rule.modulus).to_string()))),
        _ => None,
    }
}

/// The source labels' current values joined with the separator (borrowed for one label).
fn joined_source<'b>(rule: &RelabelRule, b: &'b Builder<'_>) -> Cow<'b, str> {
    if let [name] = rule.source_labels.as_slice() {
        return Cow::Borrowed(b.get(name));
    }
    let mut out = String::new();
    for (i, name) in rule.source_labels.iter().enumerate() {
        if i > 0 {
            out.push_str(&rule.separator);
        }
        out.push_str(b.get(name));
    }
    Cow::Owned(out)
}

/// `replace`: the label to set, if the regex matches and the target is a valid name.
/// Templates without a `$` need no capture groups, only a match.
fn replace<'a>(rule: &'a RelabelRule, value: &str) -> Option<LabelPair<'a>> {
    let literal = |template: &str| !template.contains('$');
    if literal(&rule.target_label) && literal(&rule.replacement) {
        let valid = rule.regex.is_match(value) && is_valid_label_name(&rule.target_label);
        return valid.then_some((
            Cow::Borrowed(rule.target_label.as_str()),
            Cow::Borrowed(rule.replacement.as_str()),
        ));
    }
    let caps = rule.regex.regex.captures(value)?;
    let names = &rule.regex.names;
    let target = expand::expand(&rule.target_label, &caps, names);
    if !is_valid_label_name(&target) {
        return None;
    }
    let result = expand::expand(&rule.replacement, &caps, names);
    Some((Cow::Owned(target), Cow::Owned(result)))
}

/// `hashmod`: the last 8 bytes of the MD5 sum, big-endian, modulo `modulus` (non-zero).
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let sum = Md5::digest(value.as_bytes());
    let mut low = [0u8; 8];
    low.copy_from_slice(&sum[8..16]);
    u64::from_be_bytes(low) % modulus
}

/// `labelmap`: reads every current label first, then sets, in `Builder.Range` order.
fn label_map<'a>(rule: &RelabelRule, b: &mut Builder<'a>) {
    let copies: Vec<LabelPair<'a>> = b
        .current()
        .filter(|(name, _)| rule.regex.is_match(name))
        .map(|(name, value)| {
            let name = expand::replace_all(&rule.regex, &name, &rule.replacement);
            (Cow::Owned(name), Cow::Owned(value.to_owned()))
        })
        .collect();
    for (name, value) in copies {
        b.set(name, value);
    }
}

/// `labeldrop` / `labelkeep`: deletes the current labels whose names `doomed` accepts.
fn delete_names<'a>(b: &mut Builder<'a>, doomed: impl Fn(&str) -> bool) {
    let names: Vec<Cow<'a, str>> = b
        .current()
        .filter(|(name, _)| doomed(name))
        .map(|(name, _)| name)
        .collect();
    for name in names {
        b.del(&name);
    }
}
