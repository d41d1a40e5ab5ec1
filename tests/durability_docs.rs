//! The durability contract is stated once, in docs/DURABILITY.md; the C header
//! (`promrw_sender_sync`), the Python docstring (`Sender.sync`) and the Go doc comment
//! (`(*Sender).Sync`) point to it and state the same contract in the same words. This test
//! reads the three and fails when their contract paragraphs differ, when one stops pointing
//! to docs/DURABILITY.md, or when the paragraph and the document part ways.

use std::fs;
use std::path::Path;

/// The text of a file relative to the crate root.
fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The words of `text` joined by single spaces, without code markup (backticks).
fn words(text: &str) -> String {
    text.replace('`', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first paragraph of a comment's lines (already stripped of their comment markers).
fn first_paragraph<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    let lines: Vec<&str> = lines
        .into_iter()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .collect();
    words(&lines.join("\n"))
}

/// The contract paragraph of the C header: the first paragraph of the `/** ... */` comment
/// right before the declaration of `promrw_sender_sync`.
fn c_paragraph() -> String {
    let header = read("include/promrw.h");
    let at = header
        .find("promrw_status promrw_sender_sync(")
        .expect("include/promrw.h declares promrw_sender_sync");
    let before = &header[..at];
    let end = before
        .rfind("*/")
        .expect("a comment before promrw_sender_sync");
    let start = before[..end].rfind("/**").expect("the comment's start");
    assert!(
        before[end + 2..].trim().is_empty(),
        "the comment before promrw_sender_sync is not its doc comment"
    );
    first_paragraph(
        before[start + 3..end]
            .lines()
            .map(|l| l.trim_start().trim_start_matches('*')),
    )
}

/// The contract paragraph of the Python docstring of `Sender.sync`.
fn python_paragraph() -> String {
    let source = read("bindings/python/src/promrw/_sender.py");
    let at = source
        .find("    def sync(")
        .expect("bindings/python/src/promrw/_sender.py defines Sender.sync");
    let rest = &source[at..];
    let open = rest.find("\"\"\"").expect("Sender.sync has a docstring") + 3;
    let close = open + rest[open..].find("\"\"\"").expect("the docstring's end");
    first_paragraph(rest[open..close].lines())
}

/// The contract paragraph of the Go doc comment of `(*Sender).Sync`, without the leading
/// name Go's convention puts first ("Sync makes ..." is "Makes ...").
fn go_paragraph() -> String {
    let source = read("bindings/go/promrw.go");
    let at = source
        .find("\nfunc (s *Sender) Sync(")
        .expect("bindings/go/promrw.go defines (*Sender).Sync");
    let comment: Vec<&str> = source[..at]
        .lines()
        .rev()
        .take_while(|l| l.starts_with("//"))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|l| l.trim_start_matches("//"))
        .collect();
    let paragraph = first_paragraph(comment);
    let rest = paragraph
        .strip_prefix("Sync makes ")
        .unwrap_or_else(|| panic!("the Go doc comment starts with \"Sync makes\": {paragraph}"));
    format!("Makes {rest}")
}

#[test]
fn header_python_and_go_state_the_sync_contract_in_the_same_words() {
    let c = c_paragraph();
    let python = python_paragraph();
    let go = go_paragraph();
    assert_eq!(c, python, "the C header and the Python docstring differ");
    assert_eq!(c, go, "the C header and the Go doc comment differ");
    assert!(
        c.ends_with("The durability contract is stated in docs/DURABILITY.md."),
        "the paragraph does not point to docs/DURABILITY.md: {c}"
    );
}

#[test]
fn the_sync_contract_paragraph_says_what_docs_durability_md_says() {
    let doc = words(&read("docs/DURABILITY.md"));
    let c = c_paragraph();
    // The document names the three places that point to it.
    for name in ["promrw_sender_sync", "Sender.sync", "(*Sender).Sync"] {
        assert!(
            doc.contains(name),
            "docs/DURABILITY.md does not name {name}"
        );
    }
    // WAL mode: written to the log files and fsync'd, whatever the policy, else a timeout.
    // Memory mode: at once, guaranteeing nothing.
    for phrase in [
        "every sample accepted before the call is written to the log files and fsync'd \
         (whatever the fsync policy), else",
        "at once and guarantees nothing",
    ] {
        assert!(doc.contains(phrase), "docs/DURABILITY.md lacks {phrase:?}");
        assert!(
            c.contains(phrase),
            "the sync paragraph lacks {phrase:?}: {c}"
        );
    }
}
