//! Relabeling tests. Where a case or an expected value comes from Prometheus, the comment says
//! where: "TestRelabel" is `model/relabel/relabel_test.go` at Prometheus v3.14.0. Values marked
//! "Go 1.19" are outputs of Go's standard library (`regexp`, `strings`, `strconv`, `crypto/md5`)
//! printed by a throwaway program, the same calls Prometheus makes. Validation messages marked
//! "promtool 2.42" were checked with `promtool check config` of Prometheus 2.42.0.

use proptest::prelude::*;

use super::expand::{expand, go_quote, replace_all, to_lower, to_upper};
use super::parse::compile_go_regex;
use super::*;

/// Labels from pairs, sorted by name.
fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    let mut out: Vec<Label> = pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Rules from a YAML list, as `write_relabel_configs` would hold them.
fn rules(yaml: &str) -> Vec<RelabelRule> {
    let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).expect("valid YAML");
    compile_rules(&raw).unwrap_or_else(|e| panic!("rules should compile: {e}\n{yaml}"))
}

/// The error for a YAML list of rules.
fn compile_error(yaml: &str) -> RelabelConfigError {
    let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).expect("valid YAML");
    match compile_rules(&raw) {
        Ok(_) => panic!("rules should not compile:\n{yaml}"),
        Err(e) => e,
    }
}

/// What a case expects.
enum Want {
    Kept(&'static [(&'static str, &'static str)]),
    Dropped(usize),
}

/// One application case: rules (YAML), input labels, outcome.
struct Case {
    name: &'static str,
    rules: &'static str,
    input: &'static [(&'static str, &'static str)],
    want: Want,
}

fn run_cases(cases: &[Case]) {
    for case in cases {
        let got = relabel(&labels(case.input), &rules(case.rules));
        let want = match case.want {
            Want::Kept(pairs) => RelabelOutcome::Kept(labels(pairs)),
            Want::Dropped(rule) => RelabelOutcome::Dropped { rule },
        };
        assert_eq!(got, want, "case {:?}", case.name);
    }
}

const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];
const PORTS: &[(&str, &str)] = &[
    ("__tmp_port", "1234"),
    ("__port1", "1234"),
    ("__port2", "5678"),
];

/// Cases of Prometheus's own TestRelabel (v3.14.0), rules written as YAML.
#[test]
fn prometheus_test_relabel_cases() {
    run_cases(&[
        Case {
            name: "TestRelabel: replace ch${1}-ch${1}",
            rules: r#"[{source_labels: [a], regex: "f(.*)", target_label: d, replacement: "ch${1}-ch${1}"}]"#,
            input: ABC,
            want: Want::Kept(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
        },
        Case {
            name: "TestRelabel: two replaces, the second reading the first's write",
            rules: r#"
              - {source_labels: [a, b], regex: "f(.*);(.*)r", target_label: a, replacement: "b${1}${2}m"}
              - {source_labels: [c, a], regex: "(b).*b(.*)ba(.*)", target_label: d, replacement: "$1$2$2$3"}"#,
            input: ABC,
            want: Want::Kept(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
        },
        Case {
            name: "TestRelabel: drop before replace",
            rules: r#"
              - {source_labels: [a], regex: ".*o.*", action: drop}
              - {source_labels: [a], regex: "f(.*)", target_label: d, replacement: "ch$1-ch$1"}"#,
            input: &[("a", "foo")],
            want: Want::Dropped(0),
        },
        Case {
            name: "TestRelabel: replace .*(b).*",
            rules: r#"[{source_labels: [a], regex: ".*(b).*", target_label: d}]"#,
            input: &[("a", "abc")],
            want: Want::Kept(&[("a", "abc"), ("d", "b")]),
        },
        Case {
            name: "TestRelabel: drop no-match",
            rules: "[{source_labels: [a], regex: no-match, action: drop}]",
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "TestRelabel: drop f|o is anchored, foo does not match",
            rules: "[{source_labels: [a], regex: f|o, action: drop}]",
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "TestRelabel: keep no-match",
            rules: "[{source_labels: [a], regex: no-match, action: keep}]",
            input: &[("a", "foo")],
            want: Want::Dropped(0),
        },
        Case {
            name: "TestRelabel: keep f.*",
            rules: "[{source_labels: [a], regex: f.*, action: keep}]",
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "TestRelabel: no replacement without a match",
            rules: "[{source_labels: [a], regex: f, target_label: b, replacement: bar}]",
            input: &[("a", "boo")],
            want: Want::Kept(&[("a", "boo")]),
        },
        Case {
            name: "TestRelabel: blank replacement deletes the (expanded) target",
            rules: r#"[{source_labels: [a], regex: "(f).*", target_label: "$1", replacement: "$2"}]"#,
            input: &[("a", "foo"), ("f", "baz")],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            // TestRelabel's HashMod case: c=baz, modulus 1000 gives d=976.
            name: "TestRelabel: hashmod of baz",
            rules: "[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}]",
            input: ABC,
            want: Want::Kept(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
        },
        Case {
            // TestRelabel's HashMod case with a newline: a="foo\nbar", modulus 1000 gives 734.
            name: "TestRelabel: hashmod of foo\\nbar",
            rules: "[{source_labels: [a], target_label: b, action: hashmod, modulus: 1000}]",
            input: &[("a", "foo\nbar")],
            want: Want::Kept(&[("a", "foo\nbar"), ("b", "734")]),
        },
        Case {
            name: "TestRelabel: labelmap bar_${1}",
            rules: r#"[{regex: "(b.*)", replacement: "bar_${1}", action: labelmap}]"#,
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            want: Want::Kept(&[
                ("a", "foo"),
                ("b1", "bar"),
                ("b2", "baz"),
                ("bar_b1", "bar"),
                ("bar_b2", "baz"),
            ]),
        },
        Case {
            name: "TestRelabel: labelmap __meta_(my.*)",
            rules: r#"[{regex: "__meta_(my.*)", replacement: "${1}", action: labelmap}]"#,
            input: &[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
            ],
            want: Want::Kept(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ]),
        },
        Case {
            name: "TestRelabel: templated target and value",
            rules: r#"[{source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${2}", target_label: "${1}"}]"#,
            input: &[("a", "some-name-value")],
            want: Want::Kept(&[("a", "some-name-value"), ("name", "value")]),
        },
        Case {
            name: "TestRelabel: replacement ${3} expands to nothing",
            rules: r#"[{source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${3}", target_label: "${1}"}]"#,
            input: &[("a", "some-name-value")],
            want: Want::Kept(&[("a", "some-name-value")]),
        },
        Case {
            name: "TestRelabel: target ${3} expands to an invalid name",
            rules: r#"
              - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${1}", target_label: "${3}"}
              - {source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "${1}", target_label: "${3}"}
              - {source_labels: [a], regex: "some-([^-]+)(-[^,]+)", replacement: "${1}", target_label: "${3}"}"#,
            input: &[("a", "some-name-0")],
            want: Want::Kept(&[("a", "some-name-0")]),
        },
        Case {
            name: "TestRelabel: service-discovery tags",
            rules: r#"
              - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)path:(/[^,]+).*", replacement: "${1}", target_label: __metrics_path__}
              - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)job:([^,]+).*", replacement: "${1}", target_label: job}
              - {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)label:([^=]+)=([^,]+).*", replacement: "${2}", target_label: "${1}"}"#,
            input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
            want: Want::Kept(&[
                ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
                ("__metrics_path__", "/secret"),
                ("job", "some-job"),
                ("foo", "bar"),
            ]),
        },
        Case {
            name: "TestRelabel: prometheus/prometheus#12283 (drop, re-add, keep)",
            rules: r#"
              - {regex: "^__meta_kubernetes_pod_container_port_name$", action: labeldrop}
              - {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: "(.+)", replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
              - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: "^metrics$", action: keep}"#,
            input: &[
                ("__meta_kubernetes_pod_container_port_name", "foo"),
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ],
            want: Want::Kept(&[
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ]),
        },
        Case {
            name: "TestRelabel: labelkeep (b.*)",
            rules: r#"[{regex: "(b.*)", action: labelkeep}]"#,
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            want: Want::Kept(&[("b1", "bar"), ("b2", "baz")]),
        },
        Case {
            name: "TestRelabel: labeldrop (b.*)",
            rules: r#"[{regex: "(b.*)", action: labeldrop}]"#,
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "TestRelabel: uppercase and lowercase",
            rules: r#"
              - {source_labels: [foo], action: uppercase, target_label: foo_uppercase}
              - {source_labels: [foo], action: lowercase, target_label: foo_lowercase}"#,
            input: &[("foo", "bAr123Foo")],
            want: Want::Kept(&[
                ("foo", "bAr123Foo"),
                ("foo_lowercase", "bar123foo"),
                ("foo_uppercase", "BAR123FOO"),
            ]),
        },
        Case {
            name: "TestRelabel: keepequal, equal",
            rules: "[{source_labels: [__tmp_port], action: keepequal, target_label: __port1}]",
            input: PORTS,
            want: Want::Kept(PORTS),
        },
        Case {
            name: "TestRelabel: dropequal, equal",
            rules: "[{source_labels: [__tmp_port], action: dropequal, target_label: __port1}]",
            input: PORTS,
            want: Want::Dropped(0),
        },
        Case {
            name: "TestRelabel: dropequal, different",
            rules: "[{source_labels: [__tmp_port], action: dropequal, target_label: __port2}]",
            input: PORTS,
            want: Want::Kept(PORTS),
        },
        Case {
            name: "TestRelabel: keepequal, different",
            rules: "[{source_labels: [__tmp_port], action: keepequal, target_label: __port2}]",
            input: PORTS,
            want: Want::Dropped(0),
        },
        Case {
            name: "TestRelabel: . matches a newline",
            rules: r#"[{source_labels: [a], regex: "line1.*line2", target_label: d, replacement: "match${1}"}]"#,
            input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            want: Want::Kept(&[
                ("a", "line1\nline2"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "match"),
            ]),
        },
        Case {
            name: "TestRelabel: replace on __name__",
            rules: r#"[{source_labels: [__name__], regex: ".*_total$", target_label: __type__, replacement: counter}]"#,
            input: &[("__name__", "http_requests_total")],
            want: Want::Kept(&[("__name__", "http_requests_total"), ("__type__", "counter")]),
        },
    ]);
}

/// Defaults, separators, missing labels, anchoring, chains.
#[test]
fn defaults_joining_anchoring_and_chains() {
    run_cases(&[
        Case {
            name: "default action replace, regex (.*), replacement $1: copy a label",
            rules: "[{source_labels: [a], target_label: x}]",
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo"), ("x", "foo")]),
        },
        Case {
            name: "no source labels: (.*) matches the empty string, literal replacement",
            rules: "[{target_label: env, replacement: prod}]",
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo"), ("env", "prod")]),
        },
        Case {
            name: "a missing source label is empty: $1 is empty, the target is deleted",
            rules: "[{source_labels: [missing], target_label: x}]",
            input: &[("a", "foo"), ("x", "old")],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "missing labels join as empty strings with the default separator",
            rules: "[{source_labels: [a, missing, b], target_label: x}]",
            input: &[("a", "foo"), ("b", "bar")],
            want: Want::Kept(&[("a", "foo"), ("b", "bar"), ("x", "foo;;bar")]),
        },
        Case {
            name: "custom separator",
            rules: "[{source_labels: [a, b], separator: '-', target_label: x}]",
            input: &[("a", "foo"), ("b", "bar")],
            want: Want::Kept(&[("a", "foo"), ("b", "bar"), ("x", "foo-bar")]),
        },
        Case {
            name: "empty separator",
            rules: "[{source_labels: [a, b], separator: '', target_label: x}]",
            input: &[("a", "foo"), ("b", "bar")],
            want: Want::Kept(&[("a", "foo"), ("b", "bar"), ("x", "foobar")]),
        },
        Case {
            name: "anchored: keep a does not match ba",
            rules: "[{source_labels: [a], regex: a, action: keep}]",
            input: &[("a", "ba")],
            want: Want::Dropped(0),
        },
        Case {
            name: "anchored: drop b does not match ab",
            rules: "[{source_labels: [a], regex: b, action: drop}]",
            input: &[("a", "ab")],
            want: Want::Kept(&[("a", "ab")]),
        },
        Case {
            name: "the empty regex matches only the empty string",
            rules: "[{source_labels: [a], regex: '', action: keep}, {source_labels: [b], regex: '', action: keep}]",
            input: &[("a", "")],
            want: Want::Kept(&[]),
        },
        Case {
            name: "the empty regex against a value",
            rules: "[{source_labels: [a], regex: '', action: keep}]",
            input: &[("a", "x")],
            want: Want::Dropped(0),
        },
        Case {
            name: "the index of the dropping rule",
            rules: "[{source_labels: [a], regex: x, action: drop}, {source_labels: [a], regex: foo, action: drop}]",
            input: &[("a", "foo")],
            want: Want::Dropped(1),
        },
        Case {
            name: "a chain: write a temporary label, filter on it, drop it",
            rules: r#"
              - {source_labels: [__name__], regex: "(.+)_total", target_label: __tmp_base}
              - {source_labels: [__tmp_base], regex: "http_.*", action: keep}
              - {regex: __tmp_base, action: labeldrop}"#,
            input: &[("__name__", "http_requests_total"), ("job", "api")],
            want: Want::Kept(&[("__name__", "http_requests_total"), ("job", "api")]),
        },
        Case {
            name: "keepequal with both labels missing: equal empty strings",
            rules: "[{source_labels: [x], action: keepequal, target_label: y}]",
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "dropequal compares with the value an earlier rule wrote",
            rules: "[{target_label: y, replacement: foo}, {source_labels: [a], action: dropequal, target_label: y}]",
            input: &[("a", "foo")],
            want: Want::Dropped(1),
        },
        Case {
            name: "action names ignore case",
            rules: "[{source_labels: [a], regex: foo, action: KEEP}, {source_labels: [a], target_label: b, action: UpperCase}]",
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo"), ("b", "FOO")]),
        },
        Case {
            name: "lowercase of an empty joined value deletes the target",
            rules: "[{source_labels: [missing], target_label: a, action: lowercase}]",
            input: &[("a", "foo"), ("b", "bar")],
            want: Want::Kept(&[("b", "bar")]),
        },
        Case {
            name: "case mapping is Go's simple mapping",
            rules: "[{source_labels: [a], target_label: up, action: uppercase}, {source_labels: [a], target_label: low, action: lowercase}]",
            input: &[("a", "Straße İ")],
            want: Want::Kept(&[("a", "Straße İ"), ("low", "straße i"), ("up", "STRAßE İ")]),
        },
        Case {
            name: "labeldrop of everything leaves no labels (check_result reports it)",
            rules: "[{regex: '.*', action: labeldrop}]",
            input: &[("a", "foo"), ("b", "bar")],
            want: Want::Kept(&[]),
        },
        Case {
            name: "labelkeep and labeldrop match whole names",
            rules: "[{regex: 'a', action: labelkeep}]",
            input: &[("a", "1"), ("ab", "2"), ("ba", "3")],
            want: Want::Kept(&[("a", "1")]),
        },
    ]);
}

/// `replace` details: templates in the value and the target, invalid targets, overwrites.
#[test]
fn replace_templates() {
    run_cases(&[
        Case {
            name: "$$ is a literal dollar",
            rules: r#"[{source_labels: [a], target_label: x, replacement: "$$1=$1"}]"#,
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo"), ("x", "$1=foo")]),
        },
        Case {
            name: "$1x names group 1x, which does not exist: empty, the target is deleted",
            rules: r#"[{source_labels: [a], target_label: x, replacement: "$1x"}]"#,
            input: &[("a", "foo"), ("x", "old")],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "${1}x",
            rules: r#"[{source_labels: [a], target_label: x, replacement: "${1}x"}]"#,
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo"), ("x", "foox")]),
        },
        Case {
            name: "named groups",
            rules: r#"[{source_labels: [a], regex: "(?P<host>[^:]+):(?P<port>\\d+)", target_label: "${host}_port", replacement: "$port"}]"#,
            input: &[("a", "db:5432")],
            want: Want::Kept(&[("a", "db:5432"), ("db_port", "5432")]),
        },
        Case {
            name: "a target expanding to an invalid name does nothing",
            rules: r#"[{source_labels: [a], target_label: "${1}", replacement: x}]"#,
            input: &[("a", "1abc")],
            want: Want::Kept(&[("a", "1abc")]),
        },
        Case {
            name: "a target expanding to an existing label overwrites it",
            rules: r#"[{source_labels: [a], regex: "(.*)=(.*)", target_label: "$1", replacement: "$2"}]"#,
            input: &[("a", "b=new"), ("b", "old")],
            want: Want::Kept(&[("a", "b=new"), ("b", "new")]),
        },
        Case {
            name: "the replacement may hold any characters",
            rules: r#"[{source_labels: [a], target_label: x, replacement: "{$1} (ok) 😀"}]"#,
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo"), ("x", "{foo} (ok) 😀")]),
        },
        Case {
            name: "an unmatched optional group is empty",
            rules: r#"[{source_labels: [a], regex: "(x)?(.*)", target_label: y, replacement: "[$1][$2]"}]"#,
            input: &[("a", "foo")],
            want: Want::Kept(&[("a", "foo"), ("y", "[][foo]")]),
        },
    ]);
}

/// `labelmap` and the order Prometheus's `Builder.Range` visits labels in.
#[test]
fn labelmap_details() {
    run_cases(&[
        Case {
            name: "a copy overwrites an existing label",
            rules: r#"[{regex: "__meta_(.+)", replacement: "$1", action: labelmap}]"#,
            input: &[("__meta_job", "new"), ("job", "old")],
            want: Want::Kept(&[("__meta_job", "new"), ("job", "new")]),
        },
        Case {
            // Builder.Range: input labels first, then those set since, in the order set. b_x
            // (input) maps to c first, a_x (added by rule 0) last, so c takes a_x's value.
            name: "collisions: the label set later by an earlier rule wins",
            rules: r#"
              - {target_label: a_x, replacement: "2"}
              - {regex: "(a|b)_x", replacement: c, action: labelmap}"#,
            input: &[("b_x", "1")],
            want: Want::Kept(&[("a_x", "2"), ("b_x", "1"), ("c", "2")]),
        },
        Case {
            name: "collisions among input labels: the last in name order wins",
            rules: r#"[{regex: "(a|b)_x", replacement: c, action: labelmap}]"#,
            input: &[("a_x", "1"), ("b_x", "2")],
            want: Want::Kept(&[("a_x", "1"), ("b_x", "2"), ("c", "2")]),
        },
        Case {
            name: "each label is read before any is written",
            rules: r#"[{regex: "(a|b)", replacement: "b", action: labelmap}]"#,
            input: &[("a", "1"), ("b", "2")],
            want: Want::Kept(&[("a", "1"), ("b", "2")]),
        },
        Case {
            name: "the new name is not checked",
            rules: r#"[{regex: "x(.*)", replacement: "$1", action: labelmap}]"#,
            input: &[("x1", "v")],
            want: Want::Kept(&[("1", "v"), ("x1", "v")]),
        },
    ]);
    let out = relabel(
        &labels(&[("x1", "v")]),
        &rules(r#"[{regex: "x(.*)", replacement: "$1", action: labelmap}]"#),
    );
    let RelabelOutcome::Kept(out) = out else {
        panic!("kept")
    };
    assert_eq!(
        check_result(&out).unwrap_err(),
        r#"invalid label name "1" after relabeling: must match [a-zA-Z_][a-zA-Z0-9_]*"#
    );
}

/// hashmod values: Prometheus's own numbers (TestRelabel), then values from Go 1.19's
/// `crypto/md5` with Prometheus's formula (`binary.BigEndian.Uint64(sum[8:]) % modulus`).
#[test]
fn hashmod_values() {
    let cases: &[(&str, u64, u64)] = &[
        ("baz", 1000, 976),         // TestRelabel, HashMod case on c=baz.
        ("foo\nbar", 1000, 734),    // TestRelabel, HashMod case on a="foo\nbar".
        ("", 10, 8),                // Go 1.19.
        ("10.132.183.40:80", 3, 1), // Go 1.19 (the address of Prometheus's relabel benchmark).
        ("foo;bar", u64::MAX, 15_973_639_978_189_266_750), // Go 1.19: the whole lower half.
        ("é", 7, 3),                // Go 1.19.
        ("a", 1, 0),                // Anything modulo 1.
    ];
    for &(value, modulus, want) in cases {
        assert_eq!(
            hashmod(value, modulus),
            want,
            "hashmod({value:?}, {modulus})"
        );
    }
    let rules = rules("[{source_labels: [a, b], target_label: h, action: hashmod, modulus: 1000}]");
    let got = relabel(&labels(&[("a", "foo"), ("b", "bar")]), &rules);
    let want = hashmod("foo;bar", 1000).to_string();
    assert_eq!(
        got,
        RelabelOutcome::Kept(labels(&[("a", "foo"), ("b", "bar"), ("h", &want)]))
    );
}

/// Go's `Regexp.ExpandString` on Prometheus's anchored regexes: (regex, input, template,
/// output), every output printed by Go 1.19.
#[test]
fn expand_matches_go() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("(.*)", "foo", "$1", "foo"),
        ("(.*)", "foo", "${1}", "foo"),
        ("(.*)", "foo", "$1x", ""),
        ("(.*)", "foo", "${1}x", "foox"),
        ("(.*)", "foo", "$$1", "$1"),
        ("(.*)", "foo", "$$$1", "$foo"),
        ("(.*)", "foo", "a$", "a$"),
        ("(.*)", "foo", "$", "$"),
        ("(.*)", "foo", "${", "${"),
        ("(.*)", "foo", "${1", "${1"),
        ("(.*)", "foo", "${}", "${}"),
        ("(.*)", "foo", "$-1", "$-1"),
        ("(.*)", "foo", "$ 1", "$ 1"),
        ("(.*)", "foo", "$0", "foo"),
        ("(.*)", "foo", "$00", ""),
        ("(.*)", "foo", "$01", ""),
        ("(.*)", "foo", "$2", ""),
        ("(.*)", "foo", "$10", ""),
        ("(.*)", "foo", "$999999999", ""),
        ("(.*)", "foo", "$1234567890", ""),
        ("(.*)", "foo", "${x}", ""),
        ("(.*)", "foo", "$é", ""),
        ("(.*)", "foo", "$1é", ""),
        ("(.*)", "foo", "${1}é", "fooé"),
        ("(.*)", "foo", "$١", ""),
        (
            "(?P<name>f)(o+)",
            "foo",
            "${name}-$name-$2-${2}",
            "f-f-oo-oo",
        ),
        ("(?P<name>f)(o+)", "foo", "$name_x", ""),
        ("(?P<name>f)(o+)", "foo", "${name}_x", "f_x"),
        ("(?P<n>a)|(?P<n>b)", "b", "[$n]", "[b]"),
        ("(?P<n>a)|(?P<n>b)", "a", "[$n]", "[a]"),
        ("(a)|(b)", "b", "[$1][$2]", "[][b]"),
        ("(a)?(b)", "b", "[$1][$2]", "[][b]"),
        ("(?P<1a>x)", "x", "[$1a][${1a}][$1]", "[x][x][x]"),
        ("f(.*);(.*)r", "foo;bar", "b${1}${2}m", "boobam"),
        ("(b).*b(.*)ba(.*)", "baz;boobam", "$1$2$2$3", "boooom"),
    ];
    for &(re, input, template, want) in cases {
        let re = compile_go_regex(re).unwrap();
        let caps = re.regex.captures(input).expect("matches");
        assert_eq!(expand(template, &caps, &re.names), want, "{template:?}");
    }
}

/// Go's `Regexp.ReplaceAllString` (labelmap): (regex, name, template, MatchString, result),
/// printed by Go 1.19. The odd regexes break out of Prometheus's anchors.
#[test]
fn replace_all_matches_go() {
    let cases: &[(&str, &str, &str, bool, &str)] = &[
        ("__meta_(.+)", "__meta_foo", "$1", true, "foo"),
        ("(.*)", "abc", "x$1", true, "xabc"),
        ("a)|(b", "xab", "[$1]", true, "xa[b]"),
        ("a)|(?:b", "abab", "[$0]", true, "[a]ba[b]"),
        ("b*)|(?:", "abba", "<$0>", true, "<>abba<>"),
        ("(.*)", "", "n$1", true, "n"),
    ];
    for &(re, name, template, matches, want) in cases {
        let re = compile_go_regex(re).unwrap();
        assert_eq!(re.regex.is_match(name), matches, "{name:?}");
        assert_eq!(replace_all(&re, name, template), want, "{name:?}");
    }
}

/// Go's `strings.ToLower` / `strings.ToUpper`, printed by Go 1.19.
#[test]
fn case_mapping_matches_go() {
    let cases: &[(&str, &str, &str)] = &[
        ("ABCdef", "abcdef", "ABCDEF"),
        ("Straße", "straße", "STRAßE"),
        ("İstanbul", "istanbul", "İSTANBUL"),
        ("ΣΑΣ", "σασ", "ΣΑΣ"),
        ("ǅ", "ǆ", "Ǆ"),
        ("ᾳ", "ᾳ", "ᾼ"),
        ("ﬁ", "ﬁ", "ﬁ"),
        ("ÀÉÎ", "àéî", "ÀÉÎ"),
        ("ᾈ", "ᾀ", "ᾈ"),
        ("ŉ", "ŉ", "ŉ"),
        ("ǰ", "ǰ", "ǰ"),
        ("\u{212A}", "k", "\u{212A}"),
    ];
    for &(s, lower, upper) in cases {
        assert_eq!(to_lower(s), lower, "lower {s:?}");
        assert_eq!(to_upper(s), upper, "upper {s:?}");
    }
}

/// Go's `%q`, printed by Go 1.19.
#[test]
fn quoting_matches_go() {
    let cases: &[(&str, &str)] = &[
        ("a-b", r#""a-b""#),
        ("a\"b", r#""a\"b""#),
        ("a\\b", r#""a\\b""#),
        ("tab\there", r#""tab\there""#),
        ("nl\n", r#""nl\n""#),
        ("\x00\x7f", r#""\x00\x7f""#),
        ("é", r#""é""#),
        ("\u{200b}", r#""\u200b""#),
        ("😀", r#""😀""#),
        ("\u{a0}", r#""\u00a0""#),
        ("\u{feff}", r#""\ufeff""#),
    ];
    for &(s, want) in cases {
        assert_eq!(go_quote(s), want);
    }
}

/// Go's regex syntax and meaning: (regex, input, whole-string match?), each checked against Go
/// 1.19's `regexp` (same submatches for 11000 regex and input pairs, these among them, with
/// a throwaway program).
#[test]
fn regex_meaning_matches_go() {
    let cases: &[(&str, &str, bool)] = &[
        (r"\w+", "a1_", true),
        (r"\w+", "é", false), // \w is ASCII in Go.
        (r"\W", "é", true),
        (r"\d+", "123", true),
        (r"\d", "\u{664}", false), // ARABIC-INDIC DIGIT FOUR: not \d in Go.
        (r"\s", "\u{b}", false),   // Go's \s has no \v.
        (r"\s", "\t", true),
        (r"\S+", "foo", true),
        (r".*\bfoo\b.*", "a foo b", true),
        (r".*\bfoo\b.*", "éfooé", true), // é is not a word character for Go's \b.
        (r"(?i)k", "\u{212A}", true),    // Kelvin sign folds to k.
        (r"(?i)\w", "\u{17F}", true),    // long s folds to s, in \w under (?i).
        (r"(?i)\W", "\u{212A}", false),
        (r"\Qa.b\E", "a.b", true),
        (r"\Qa.b\E", "a-b", false),
        (r"a{,2}", "a{,2}", true), // Not a repetition in Go: literal.
        (r"a{01}", "a{01}", true),
        (r"x{", "x{", true),
        (r"a{2,}", "aaa", true),
        (r"\101\102", "AB", true), // Octal.
        (r"\0", "\0", true),
        (r"\x41\x{42}", "AB", true),
        (r"\p{^L}+", "123", true),
        (r"\P{^L}+", "abc", true),
        (r"\p{Greek}+", "αβγ", true),
        (r"\p{C}", "\u{378}", false), // Unassigned: not in Go's C.
        (r"\p{C}", "\u{1}", true),
        (r"[a&&b]+", "a&&b", true), // No class intersection in Go.
        (r"[a~~b]+", "a~~b", true),
        (r"[[a]+", "[a", true),
        (r"[]a]+", "]", true),
        (r"[^]a]+", "b", true),
        (r"[\d-z]+", "1-z", true), // \d, then - and z as literals.
        (r"[\d-z]+", "d", false),
        (r"[[:alpha:]]+", "abc", true),
        (r"(?i)[[:upper:]]+", "abc", true),
        (r".", "\n", true), // Prometheus 3.x compiles ^(?s:...)$.
        (r"(?-s).", "\n", false),
        (r"(?m)^a$", "a", true),
        (r"a(?i)*", "aaa", true), // Go repeats a, the flag group between.
        (r"(?U)a(?-U)*?", "aaa", true),
        (r"(a)(?P<x>b)(c)", "abc", true),
        (r"(?P<1a>x)", "x", true), // A name the crate would refuse.
        (r"a)|(b", "xb", true),    // Breaks out of the anchors, as in Prometheus.
    ];
    for &(re, input, want) in cases {
        let compiled = compile_go_regex(re).unwrap_or_else(|e| panic!("{re}: {e}"));
        assert_eq!(compiled.regex.is_match(input), want, "{re:?} on {input:?}");
    }
}

/// Regexes Go rejects, with Go 1.19's messages (the expression shows Prometheus 3.x's
/// `^(?s:...)$` where Go quotes the whole expression).
#[test]
fn regex_errors_match_go() {
    let cases: &[(&str, &str)] = &[
        (r"a(b", "missing closing ): `^(?s:a(b)$`"),
        (r"a)", "unexpected ): `^(?s:a))$`"),
        (r"[a", "missing closing ]: `[a)$`"),
        (r"\Qa.b", "missing closing ): `^(?s:\\Qa.b)$`"),
        (r"a{3,2}", "invalid repeat count: `{3,2}`"),
        (r"a{1001}", "invalid repeat count: `{1001}`"),
        (r"(a{10}){200}", "invalid repeat count: `{200}`"),
        (r"a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
        (r"a**", "invalid nested repetition operator: `**`"),
        (r"a*??", "invalid nested repetition operator: `*??`"),
        (r"*a", "missing argument to repetition operator: `*`"),
        (r"|*", "missing argument to repetition operator: `*`"),
        (r"(?i)*", "missing argument to repetition operator: `*`"),
        (r"\1", "invalid escape sequence: `\\1`"),
        (r"\8", "invalid escape sequence: `\\8`"),
        (r"\x{}", "invalid escape sequence: `\\x{}`"),
        (r"\xZ", "invalid escape sequence: `\\xZ)`"),
        (r"\x{110000}", "invalid escape sequence: `\\x{110000`"),
        (r"\C", "invalid escape sequence: `\\C`"),
        (r"\e", "invalid escape sequence: `\\e`"),
        (r"[\b]", "invalid escape sequence: `\\b`"),
        (r"[a-\d]", "invalid escape sequence: `\\d`"),
        (r"[z-a]", "invalid character class range: `z-a`"),
        (r"[a--b]", "invalid character class range: `a--`"),
        (r"[[:foo:]]", "invalid character class range: `[:foo:]`"),
        (r"\p{Foo}", "invalid character class range: `\\p{Foo}`"),
        (r"\p", "invalid character class range: `\\p)`"),
        (r"(?x)a b", "invalid or unsupported Perl syntax: `(?x`"),
        (r"(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
        (r"(?P<>x)", "invalid named capture: `(?P<>`"),
        (r"(?P<n", "invalid named capture: `(?P<n)$`"),
    ];
    for &(re, want) in cases {
        let err = compile_go_regex(re).expect_err(re);
        assert_eq!(err, format!("error parsing regexp: {want}"), "{re}");
    }
}

/// Every `\p{...}` name Go knows compiles.
#[test]
fn go_unicode_class_names_compile() {
    for name in parse::UNICODE_CLASS_NAMES {
        compile_go_regex(&format!(r"\p{{{name}}}[\P{{{name}}}]"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Invalid rules and Prometheus's messages for them.
const INVALID: &[(&str, &str)] = &[
    // promtool 2.42 and Prometheus's config_test.go (target_label_missing.bad.yml).
    (
        "{action: replace}",
        "relabel configuration for replace action requires 'target_label' value",
    ),
    (
        "{}",
        "relabel configuration for replace action requires 'target_label' value",
    ),
    // config_test.go: modulus_missing.bad.yml; the modulus is checked before the target.
    (
        "{action: hashmod}",
        "relabel configuration for hashmod requires non-zero modulus",
    ),
    (
        "{action: hashmod, target_label: x, modulus: 0}",
        "relabel configuration for hashmod requires non-zero modulus",
    ),
    (
        "{action: hashmod, modulus: 2}",
        "relabel configuration for hashmod action requires 'target_label' value",
    ),
    // promtool 2.42.
    (
        r#"{action: hashmod, target_label: "${1}", modulus: 2}"#,
        r#""${1}" is invalid 'target_label' for hashmod action"#,
    ),
    (
        "{action: lowercase}",
        "relabel configuration for lowercase action requires 'target_label' value",
    ),
    (
        "{action: uppercase}",
        "relabel configuration for uppercase action requires 'target_label' value",
    ),
    (
        "{action: keepequal}",
        "relabel configuration for keepequal action requires 'target_label' value",
    ),
    (
        "{action: dropequal}",
        "relabel configuration for dropequal action requires 'target_label' value",
    ),
    // Prometheus 3.x (2.42 accepted a template here).
    (
        r#"{action: lowercase, target_label: "${1}"}"#,
        r#""${1}" is invalid 'target_label' for lowercase action"#,
    ),
    (
        "{action: uppercase, target_label: a-b}",
        r#""a-b" is invalid 'target_label' for uppercase action"#,
    ),
    (
        "{action: keepequal, target_label: 1a}",
        r#""1a" is invalid 'target_label' for keepequal action"#,
    ),
    // config_test.go: lowercase3.bad.yml, uppercase3.bad.yml.
    (
        "{action: lowercase, target_label: x, replacement: bar}",
        "'replacement' can not be set for lowercase action",
    ),
    (
        "{action: uppercase, target_label: x, replacement: bar}",
        "'replacement' can not be set for uppercase action",
    ),
    (
        "{action: dropequal, target_label: x, replacement: bar}",
        "'replacement' can not be set for dropequal action",
    ),
    // promtool 2.42.
    (
        "{target_label: 1x}",
        r#""1x" is invalid 'target_label' for replace action"#,
    ),
    (
        r#"{target_label: "$1-x"}"#,
        r#""$1-x" is invalid 'target_label' for replace action"#,
    ),
    (
        r#"{target_label: "${1"}"#,
        r#""${1" is invalid 'target_label' for replace action"#,
    ),
    (
        r#"{target_label: "$$"}"#,
        r#""$$" is invalid 'target_label' for replace action"#,
    ),
    (
        "{target_label: a-b}",
        r#""a-b" is invalid 'target_label' for replace action"#,
    ),
    (
        "{action: labelmap, replacement: a-b}",
        r#""a-b" is invalid 'replacement' for labelmap action"#,
    ),
    (
        "{action: labelmap, replacement: ''}",
        r#""" is invalid 'replacement' for labelmap action"#,
    ),
    // config_test.go: keepequal1.bad.yml, dropequal1.bad.yml; promtool 2.42 for (.*).
    (
        "{action: keepequal, target_label: x, regex: foo}",
        "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
    ),
    (
        "{action: keepequal, target_label: x, regex: '(.*)'}",
        "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
    ),
    (
        "{action: dropequal, target_label: x, separator: ','}",
        "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
    ),
    (
        "{action: dropequal, target_label: x, modulus: 3}",
        "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
    ),
    // config_test.go: labelkeep*.bad.yml, labeldrop*.bad.yml; promtool 2.42 for [].
    (
        "{action: labelkeep, source_labels: [abcdef]}",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "{action: labelkeep, source_labels: []}",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "{action: labelkeep, modulus: 8}",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "{action: labelkeep, separator: ','}",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "{action: labelkeep, replacement: 'yolo-{1}'}",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "{action: labelkeep, target_label: yolo}",
        "labelkeep action requires only 'regex', and no other fields",
    ),
    (
        "{action: labeldrop, source_labels: [abcdef]}",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "{action: labeldrop, modulus: 8}",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "{action: labeldrop, separator: ','}",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "{action: labeldrop, replacement: 'yolo-{1}'}",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    (
        "{action: labeldrop, target_label: yolo}",
        "labeldrop action requires only 'regex', and no other fields",
    ),
    // promtool 2.42; config_test.go: empty_scrape_config_action.bad.yml for null.
    ("{action: foo}", r#"unknown relabel action "foo""#),
    (
        "{action: REPLACEX, target_label: x}",
        r#"unknown relabel action "REPLACEX""#,
    ),
    ("{action: null}", "relabel action cannot be empty"),
    (
        "{action: ~, target_label: x}",
        "relabel action cannot be empty",
    ),
    // promtool 2.42 (Prometheus 2.x's label-name check while decoding).
    (
        "{source_labels: [a-b], target_label: x}",
        r#""a-b" is not a valid label name"#,
    ),
    (
        r#"{source_labels: [""], target_label: x}"#,
        r#""" is not a valid label name"#,
    ),
    // promtool 2.42 gives the same with `^(?:` (Prometheus 3.x: `^(?s:`).
    (
        "{target_label: x, regex: a(b}",
        "error parsing regexp: missing closing ): `^(?s:a(b)$`",
    ),
    (
        r#"{target_label: x, regex: "\\C"}"#,
        "error parsing regexp: invalid escape sequence: `\\C`",
    ),
];

/// Validation: the rule and Prometheus's message.
#[test]
fn validation_errors() {
    for &(rule, want) in INVALID {
        let err = compile_error(&format!("[{rule}]"));
        assert_eq!(err.message(), want, "{rule}");
        assert_eq!(err.index(), 0);
    }
}

/// Rules Prometheus accepts even though they look odd (promtool 2.42).
const ACCEPTED: &[&str] = &[
    r#"{source_labels: [a], target_label: x, action: keepequal, separator: ";", replacement: $1}"#,
    "{source_labels: ~, action: labeldrop}",
    r#"{target_label: "", action: labeldrop, modulus: 0}"#,
    "{action: Replace, target_label: x}",
    "{target_label: x, regex: 123}",
    "{target_label: x, regex: 1.50}",
    "{target_label: x, regex: true}",
    "{target_label: x, regex: ~}",
    "{target_label: x, separator: ~, replacement: ~}",
    r#"{target_label: "${1}x"}"#,
    "{action: labelmap}",
    r#"{action: labelmap, replacement: "prefix_${1}_$name"}"#,
    r#"{target_label: "$1"}"#,
];

/// The odd but valid rules compile.
#[test]
fn valid_edge_configs() {
    for rule in ACCEPTED {
        rules(&format!("[{rule}]"));
    }
}

/// How null, absent and scalar keys are read.
#[test]
fn raw_config_reading() {
    let raw: RawRelabelConfig = serde_yaml_ng::from_str(
        "{regex: ~, separator: ~, replacement: ~, modulus: ~, source_labels: ~}",
    )
    .unwrap();
    assert_eq!(raw.regex.as_deref(), Some(""));
    assert_eq!(raw.separator.as_deref(), Some(""));
    assert_eq!(raw.replacement.as_deref(), Some(""));
    assert_eq!(raw.modulus, Some(0));
    assert_eq!(raw.source_labels, None);
    assert_eq!(raw.action, None);
    let raw: RawRelabelConfig = serde_yaml_ng::from_str("{regex: 1.50}").unwrap();
    assert_eq!(raw.regex.as_deref(), Some("1.50"));
    let err = serde_yaml_ng::from_str::<RawRelabelConfig>("{regexp: a}").unwrap_err();
    assert!(err.to_string().contains("unknown field `regexp`"), "{err}");
    // JSON has no untyped scalars: strings must be strings there.
    let raw: RawRelabelConfig = serde_json::from_str(r#"{"regex": "12", "action": null}"#).unwrap();
    assert_eq!(raw.regex.as_deref(), Some("12"));
    assert_eq!(raw.action.as_deref(), Some(""));
    assert!(serde_json::from_str::<RawRelabelConfig>(r#"{"regex": 12}"#).is_err());
    // Null regex: the empty regex, which matches only the empty string.
    let rule = rules("[{source_labels: [a], regex: ~, action: keep}]");
    assert_eq!(rule[0].regex(), "");
    assert_eq!(
        relabel(&labels(&[("a", "x")]), &rule),
        RelabelOutcome::Dropped { rule: 0 }
    );
}

/// Effective settings and the builder-style constructor.
#[test]
fn rule_accessors_and_builder() {
    let raw = RawRelabelConfig::new("hashmod")
        .source_labels(["a", "b"])
        .target_label("shard")
        .modulus(4);
    let rule = &compile_rules(&[raw]).unwrap()[0];
    assert_eq!(rule.action(), RelabelAction::HashMod);
    assert_eq!(rule.source_labels(), ["a", "b"]);
    assert_eq!(rule.separator(), ";");
    assert_eq!(rule.regex(), "(.*)");
    assert_eq!(rule.replacement(), "$1");
    assert_eq!(rule.target_label(), "shard");
    assert_eq!(rule.modulus(), 4);
    let raw = RawRelabelConfig::new("replace")
        .source_labels(["a"])
        .regex("(x)")
        .separator("-")
        .replacement("$1")
        .target_label("y");
    assert!(compile_rules(&[raw]).is_ok());
    for action in RelabelAction::ALL {
        assert_eq!(RelabelAction::from_name(action.as_str()), Some(action));
        assert_eq!(action.to_string(), action.as_str());
    }
    assert_eq!(
        RelabelAction::from_name("LabelMap"),
        Some(RelabelAction::LabelMap)
    );
    assert_eq!(RelabelAction::from_name("label_map"), None);
}

/// The error carries the index and displays with the `write_relabel_configs[i]` prefix.
#[test]
fn error_index_and_display() {
    let err = compile_error(
        "[{source_labels: [a], regex: x, action: keep}, {target_label: y}, {action: replace}]",
    );
    assert_eq!(err.index(), 2);
    assert_eq!(
        err.to_string(),
        "write_relabel_configs[2]: relabel configuration for replace action requires 'target_label' value"
    );
}

/// Rules are shared by the sender's threads.
#[test]
fn rules_are_send_and_sync() {
    fn shared<T: Send + Sync + Clone>() {}
    shared::<RelabelRule>();
    shared::<RelabelOutcome>();
}

/// check_result's verdicts.
#[test]
fn check_result_verdicts() {
    assert_eq!(
        check_result(&[]).unwrap_err(),
        "no labels left after relabeling"
    );
    assert!(check_result(&labels(&[("__name__", "up"), ("job", "a")])).is_ok());
    assert!(check_result(&labels(&[("job", "a")])).is_ok());
    assert_eq!(
        check_result(&labels(&[("a-b", "x")])).unwrap_err(),
        r#"invalid label name "a-b" after relabeling: must match [a-zA-Z_][a-zA-Z0-9_]*"#
    );
    assert_eq!(
        check_result(&labels(&[("__name__", "a-b")])).unwrap_err(),
        r#"invalid metric name "a-b" after relabeling: must match [a-zA-Z_:][a-zA-Z0-9_:]*"#
    );
    assert_eq!(
        check_result(&[Label::new("a", "1"), Label::new("a", "2")]).unwrap_err(),
        r#"duplicate label name "a""#
    );
    assert_eq!(
        check_result(&[Label::new("b", "1"), Label::new("a", "2")]).unwrap_err(),
        r#"labels not sorted: "b" before "a""#
    );
    assert_eq!(
        check_result(&[Label::new("a", "")]).unwrap_err(),
        r#"label "a" has an empty value"#
    );
}

/// Unsorted input, duplicates and empty values are normalised first.
#[test]
fn input_is_normalised() {
    let input = vec![
        Label::new("b", "2"),
        Label::new("a", "1"),
        Label::new("a", "dup"),
        Label::new("c", ""),
    ];
    assert_eq!(
        relabel(&input, &[]),
        RelabelOutcome::Kept(labels(&[("a", "1"), ("b", "2")]))
    );
}

/// A varied pool of valid rules for the property tests.
const POOL: &str = r#"
- {source_labels: [a], target_label: b}
- {source_labels: [a, b], separator: "", regex: "(.)(.*)", target_label: "${1}x", replacement: "$2"}
- {source_labels: [c], regex: "a.*", action: keep}
- {source_labels: [b], regex: "b+", action: drop}
- {source_labels: [a], target_label: c, action: keepequal}
- {source_labels: [a], target_label: b, action: dropequal}
- {source_labels: [a, c], target_label: h, action: hashmod, modulus: 3}
- {regex: "(.)", replacement: "l_$1", action: labelmap}
- {regex: "(.*)", replacement: "$1", action: labelmap}
- {regex: "l_.*", action: labeldrop}
- {regex: "[a-c]|__name__|h", action: labelkeep}
- {source_labels: [a], target_label: a, action: uppercase}
- {source_labels: [b], target_label: c, action: lowercase}
- {target_label: a, replacement: ""}
- {target_label: "$1", regex: "(.*)", source_labels: [c]}
"#;

/// Rules that make invalid results: an empty label name (from labelmap), a metric name that
/// is not one.
const INVALID_MAKERS: &str = r#"
- {regex: "(b?)a.*", replacement: "$1", action: labelmap}
- {source_labels: [b], target_label: __name__, replacement: "9$1"}
- {regex: ".*", action: labeldrop}
"#;

fn label_strategy() -> impl Strategy<Value = Vec<Label>> {
    let name = prop::sample::select(vec!["a", "b", "c", "ax", "l_a", "__name__", "h"]);
    let value = "[abAB]{0,3}";
    prop::collection::vec((name, value), 0..6)
        .prop_map(|pairs| pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
}

/// `relabelTargetLegacy` as Prometheus writes it, for checking the hand-written matcher.
fn relabel_target_legacy() -> regex::Regex {
    regex::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// Any sequence of pool rules on any labels: no panic; kept labels sorted, names unique,
    /// no empty value; a drop names a rule that exists.
    #[test]
    fn relabel_output_is_sorted_and_unique(
        input in label_strategy(),
        picks in prop::collection::vec(0usize..15, 0..8),
    ) {
        let pool = rules(POOL);
        let chosen: Vec<RelabelRule> = picks.iter().map(|&i| pool[i].clone()).collect();
        match relabel(&input, &chosen) {
            RelabelOutcome::Kept(out) => {
                prop_assert!(out.windows(2).all(|w| w[0].name < w[1].name), "{:?}", out);
                prop_assert!(out.iter().all(|l| !l.value.is_empty()), "{:?}", out);
            }
            RelabelOutcome::Dropped { rule } => prop_assert!(rule < chosen.len()),
        }
    }

    /// `relabel_pairs` calls a result invalid exactly when `check_pairs` does, checking only
    /// what the rules set (the input labels being valid).
    #[test]
    fn relabel_pairs_flags_exactly_the_invalid_results(
        input in label_strategy(),
        picks in prop::collection::vec(0usize..18, 0..8),
    ) {
        let mut pool = rules(POOL);
        pool.extend(rules(INVALID_MAKERS));
        let chosen: Vec<RelabelRule> = picks.iter().map(|&i| pool[i].clone()).collect();
        let base = normalized(&input);
        let pairs: Vec<(&str, &str)> = base.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        if let PairsOutcome::Kept { labels, invalid, .. } = relabel_pairs(&pairs, &chosen) {
            prop_assert_eq!(invalid.is_some(), check_pairs(&labels).is_err(), "{:?} -> {:?}: {:?}", pairs, labels, invalid);
        }
    }

    /// The translator never panics, whatever the pattern.
    #[test]
    fn go_regex_translation_never_panics(pattern in r"[\\()\[\]{}^$.*+?|:,\-PpQEx0-9a-cé]{0,14}") {
        let _ = compile_go_regex(&pattern);
    }

    /// Expansion never panics and leaves text without `$` as it is.
    #[test]
    fn expand_never_panics(template in r"[$\{\}a-c0-9_é ]{0,12}", input in "[a-c]{0,4}") {
        let re = compile_go_regex("(?P<a>a*)(b*)(.*)").unwrap();
        let caps = re.regex.captures(&input).unwrap();
        let out = expand(&template, &caps, &re.names);
        if !template.contains('$') {
            prop_assert_eq!(out, template);
        }
    }

    /// The hand-written `relabelTargetLegacy` matcher agrees with the regex.
    #[test]
    fn target_template_check_agrees_with_prometheus_regex(s in r"[a-b0-9_${}\-]{0,8}") {
        let raw = RawRelabelConfig::new("labelmap").replacement(s.clone());
        prop_assert_eq!(compile_rules(&[raw]).is_ok(), relabel_target_legacy().is_match(&s));
    }

    /// The shortcuts for `.*`, `.+` and literal alternations answer as the regex does.
    #[test]
    fn regex_shortcuts_agree_with_the_regex(
        pattern in r"(\(\.[*+]\)|\.[*+]|[ab|é\n.*+()\[\]\\-]{0,6})",
        value in r"[ab|é\n.*+\-]{0,4}",
    ) {
        if let Ok(re) = compile_go_regex(&pattern) {
            prop_assert_eq!(re.is_match(&value), re.regex.is_match(&value), "{:?} on {:?}", pattern, value);
        }
    }
}

/// The shortcut each common pattern gets, and matches at the edges.
#[test]
fn regex_shortcuts_of_common_patterns() {
    use super::shortcut::Shortcut;
    assert_eq!(Shortcut::of("(.*)"), Shortcut::Any);
    assert_eq!(Shortcut::of(".+"), Shortcut::NonEmpty);
    assert_eq!(
        Shortcut::of("__tmp_shard|container"),
        Shortcut::Literals(vec!["__tmp_shard".into(), "container".into()])
    );
    assert_eq!(Shortcut::of("5.."), Shortcut::Regex);
    assert_eq!(Shortcut::of("(?i)up"), Shortcut::Regex);
    let either = compile_go_regex("a|").unwrap();
    assert!(either.is_match("") && either.is_match("a") && !either.is_match("aa"));
    let any = compile_go_regex(".*").unwrap();
    assert!(any.is_match("line\nbreak"), "(?s): . matches a newline");
    let non_empty = compile_go_regex(".+").unwrap();
    assert!(!non_empty.is_match("") && non_empty.is_match("\n"));
}

/// More input labels than the builder keeps in one word: deletions and sets past index 64
/// count as for the first ones, and `changed` says whether anything differs.
#[test]
fn label_sets_longer_than_64_labels() {
    let names: Vec<String> = (0..70).map(|i| format!("l{i:02}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    let unchanged = rules("- {action: replace, target_label: l66, replacement: v}");
    match relabel_pairs(&pairs, &unchanged) {
        PairsOutcome::Kept {
            labels, changed, ..
        } => {
            assert!(!changed, "l66 set to the value it has");
            assert_eq!(labels.len(), 70);
        }
        other => panic!("{other:?}"),
    }
    let rules = rules(
        "- {action: labeldrop, regex: 'l6[5-9]|l01'}\n\
         - {action: replace, target_label: l03, replacement: x}\n\
         - {action: replace, target_label: l64, replacement: y}",
    );
    let PairsOutcome::Kept {
        labels, changed, ..
    } = relabel_pairs(&pairs, &rules)
    else {
        panic!("kept");
    };
    assert!(changed);
    let got: Vec<(&str, &str)> = labels
        .iter()
        .map(|(n, v)| (n.as_ref(), v.as_ref()))
        .collect();
    let mut want: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(n, _)| !matches!(*n, "l01" | "l65" | "l66" | "l67" | "l68" | "l69"))
        .collect();
    for (name, value) in want.iter_mut() {
        match *name {
            "l03" => *value = "x",
            "l64" => *value = "y",
            _ => {}
        }
    }
    assert_eq!(got, want);
}
