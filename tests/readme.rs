//! The README's Python (quickstart, prometheus_client bridge), Go (quickstart, client_golang
//! bridge), C++ and `promrw push` examples are the example files CI runs, word for word.

use std::path::Path;

/// The contents of a file of the repository.
fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The code blocks of `markdown` fenced with ```` ```lang ````.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    let mut found = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("\n```").expect("every code block is closed");
        found.push(body[..end].to_string());
        rest = &body[end..];
    }
    found
}

#[test]
fn python_example_is_examples_quickstart_py() {
    let readme = read("README.md");
    let example = read("bindings/python/examples/quickstart.py");
    let shown = blocks(&readme, "python");
    assert!(
        shown.iter().any(|b| b.trim_end() == example.trim_end()),
        "README.md must show bindings/python/examples/quickstart.py verbatim; python blocks: {shown:#?}"
    );
}

#[test]
fn python_bridge_example_is_examples_bridge_py() {
    let readme = read("README.md");
    let example = read("bindings/python/examples/bridge.py");
    let shown = blocks(&readme, "python");
    assert!(
        shown.iter().any(|b| b.trim_end() == example.trim_end()),
        "README.md must show bindings/python/examples/bridge.py verbatim; python blocks: {shown:#?}"
    );
}

#[test]
fn go_example_is_the_main_function_of_examples_quickstart() {
    let readme = read("README.md");
    let example = read("bindings/go/examples/quickstart/main.go");
    let shown = blocks(&readme, "go");
    let main = shown
        .iter()
        .find(|b| b.starts_with("func main() {"))
        .unwrap_or_else(|| panic!("README.md has no Go block with func main: {shown:#?}"));
    assert!(
        example.contains(main.as_str()),
        "README's Go main is not the text of bindings/go/examples/quickstart/main.go:\n{main}"
    );
    let body_lines = main.lines().count() - 2;
    assert!(
        body_lines <= 10,
        "the Go example's main has {body_lines} lines"
    );
}

#[test]
fn go_bridge_example_is_the_main_function_of_bridge_examples_bridge() {
    let example = read("bindings/go/bridge/examples/bridge/main.go");
    for markdown in ["README.md", "bindings/go/README.md"] {
        let shown = blocks(&read(markdown), "go");
        let main = shown
            .iter()
            .find(|b| b.starts_with("func main() {") && b.contains("bridge.New("))
            .unwrap_or_else(|| {
                panic!("{markdown} has no Go block with the bridge's main: {shown:#?}")
            });
        assert!(
            example.contains(&format!("{main}\n")),
            "{markdown}'s bridge main is not the text of bindings/go/bridge/examples/bridge/main.go:\n{main}"
        );
    }
}

#[test]
fn cpp_example_is_examples_c_cpp_example_cpp() {
    let readme = read("README.md");
    let example = read("examples-c/cpp/example.cpp");
    let shown = blocks(&readme, "cpp");
    assert!(
        shown.iter().any(|b| b.trim_end() == example.trim_end()),
        "README.md must show examples-c/cpp/example.cpp verbatim; cpp blocks: {shown:#?}"
    );
}

#[test]
fn push_example_is_examples_push_push_sh() {
    // tools/tests/push.rs runs examples/push/push.sh against a sink.
    let readme = read("README.md");
    let example = read("examples/push/push.sh");
    let shown = blocks(&readme, "sh");
    assert!(
        shown.iter().any(|b| b.trim_end() == example.trim_end()),
        "README.md must show examples/push/push.sh verbatim; sh blocks: {shown:#?}"
    );
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/push/backup.prom")
            .is_file()
    );
}

#[test]
fn blocks_finds_fenced_code() {
    let md = "x\n```go\na\nb\n```\ny\n```python\nc\n```\n```go\nd\n```\n";
    assert_eq!(blocks(md, "go"), vec!["a\nb".to_string(), "d".to_string()]);
    assert_eq!(blocks(md, "python"), vec!["c".to_string()]);
    assert!(blocks(md, "rust").is_empty());
}
