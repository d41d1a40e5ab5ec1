//! Checks the checked-in C header `include/promrw.h` against the crate: its version macros
//! equal Cargo's version, and every exported `promrw_*` function of `src/ffi/` is declared.
//! (`.ci/c-abi.sh` also regenerates the header with the pinned cbindgen and compares the
//! shared library's symbols with the header; this test needs neither.)

use std::fs;
use std::path::Path;

/// The text of a file relative to the crate root.
fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The value of `#define NAME value` in `header`, as an integer.
fn define(header: &str, name: &str) -> u64 {
    let values: Vec<&str> = header
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("#define") && words.next() == Some(name))
                .then(|| words.next())
                .flatten()
        })
        .collect();
    assert_eq!(values.len(), 1, "{name} is defined {} times", values.len());
    values[0]
        .parse()
        .unwrap_or_else(|e| panic!("{name} is {:?}, not a number: {e}", values[0]))
}

/// The numeric value of a Cargo version component.
fn cargo(component: &str) -> u64 {
    component.parse().unwrap()
}

#[test]
fn version_macros_match_cargo_version() {
    let header = read("include/promrw.h");
    let major = cargo(env!("CARGO_PKG_VERSION_MAJOR"));
    let minor = cargo(env!("CARGO_PKG_VERSION_MINOR"));
    let patch = cargo(env!("CARGO_PKG_VERSION_PATCH"));
    assert_eq!(define(&header, "PROMRW_VERSION_MAJOR"), major);
    assert_eq!(define(&header, "PROMRW_VERSION_MINOR"), minor);
    assert_eq!(define(&header, "PROMRW_VERSION_PATCH"), patch);
    assert_eq!(
        define(&header, "PROMRW_VERSION_NUMBER"),
        major * 10000 + minor * 100 + patch,
        "PROMRW_VERSION_NUMBER must be MAJOR * 10000 + MINOR * 100 + PATCH"
    );
    // The run-time version agrees with the header too.
    // SAFETY: `promrw_version` returns a static NUL-terminated string.
    let runtime = unsafe { std::ffi::CStr::from_ptr(promrw::ffi::promrw_version()) };
    assert_eq!(runtime.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

/// The names of the `extern "C"` functions defined in `source`.
fn exported_functions(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in source.lines() {
        let line = line.trim_start();
        for prefix in ["pub unsafe extern \"C\" fn ", "pub extern \"C\" fn "] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.starts_with("promrw_") {
                    names.push(name);
                }
            }
        }
    }
    names
}

/// True when `header` declares a function called `name` (the name followed by `(`).
fn declares(header: &str, name: &str) -> bool {
    header.match_indices(name).any(|(at, _)| {
        let before = header[..at].chars().next_back();
        let after = &header[at + name.len()..];
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && after.starts_with('(')
    })
}

#[test]
fn every_exported_function_is_declared_in_the_header() {
    let header = read("include/promrw.h");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for file in &files {
        all.extend(exported_functions(&fs::read_to_string(file).unwrap()));
    }
    assert!(
        all.len() >= 20,
        "found only {} exports in src/ffi: {all:?}",
        all.len()
    );
    let missing: Vec<&String> = all.iter().filter(|name| !declares(&header, name)).collect();
    assert!(
        missing.is_empty(),
        "functions exported by src/ffi but missing from include/promrw.h \
         (regenerate it with the pinned cbindgen, see cbindgen.toml): {missing:?}"
    );
}
