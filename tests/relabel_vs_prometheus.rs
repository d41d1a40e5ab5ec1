//! Differential test of `write_relabel_configs`: promrw relabels exactly as the real
//! Prometheus 2.42 does.
//!
//! The test serves a static text exposition on 127.0.0.1 and starts Prometheus as a *sender*:
//! it scrapes that page (`honor_labels: true`, every second) and remote-writes through several
//! `remote_write` entries, each with its own `write_relabel_configs` (one entry per group of
//! cases, see [`CONFIG`]), each to its own validating receiver (`promrw_tools::receiver`; the
//! entry's name is the URL path). promrw gets the very same `prometheus.yml` text (only the
//! receivers' addresses differ; it ignores `scrape_configs` and applies
//! `global.external_labels`) and is given the label sets Prometheus holds after the scrape:
//! every exposed series with the target labels `job` and `instance` added where the exposition
//! has none, and Prometheus's own report series (`up`, `scrape_duration_seconds`, ...), which
//! go through the same rules. For every entry, the set of label sets Prometheus put on the wire
//! must equal the set promrw put on the wire; on a mismatch both sets and their difference are
//! printed. Values and timestamps are not compared: only what relabeling decides.
//!
//! Cases are listed in the comments of [`CONFIG`] and [`SERIES`]. Cases where Prometheus 2.42
//! and 3.x (whose rules promrw follows, see `src/relabel/mod.rs`) differ are kept out, each
//! with a comment saying why ("KEPT OUT", below [`CONFIG`]).
//!
//! Prometheus comes from the Debian package installed by `.ci/receivers.sh`, is started on a
//! free port with its own temporary directory and stopped by PID (`tests/real_receivers`);
//! `PROMRW_SKIP_REAL_RECEIVERS=1` skips the test loudly, except with `CI=true`. Only
//! 127.0.0.1 is used. Takes about 9 s (Prometheus scrapes first 5 s after it starts).

mod real_receivers;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use promrw::{Config, Sender};
use promrw_tools::receiver::{Receiver, Reply, RequestInfo, SampleStore};
use real_receivers::{RealReceiver, now_ms, skip};

/// The scrape job's name: the `job` target label.
const JOB: &str = "relabel_vs_prometheus";

/// How long Prometheus may take to deliver everything once it is ready.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the sets must stay equal before the comparison is final: longer than a scrape
/// interval plus `batch_send_deadline`, so a late, different series would show.
const STABLE_FOR: Duration = Duration::from_millis(2500);

/// One label set: `(name, value)` pairs sorted by name, `__name__` included.
type LabelSet = Vec<(String, String)>;

/// The exposed series (`__name__` first, then the other labels; the text exposition does not
/// need them sorted). Each is one sample of value 1. No label value is empty (an empty value
/// is an absent label in Prometheus, and the text format could not say which).
const SERIES: &[&[(&str, &str)]] = &[
    // replace: $1/$2, ${1}x, $1x, anchoring of `a` (matches "a", not "ba"), joins.
    &[("__name__", "rl_replace"), ("a", "foo-bar"), ("b", "baz")],
    &[("__name__", "rl_replace"), ("a", "ba"), ("b", "x")],
    &[("__name__", "rl_replace"), ("a", "a"), ("b", "y")],
    // a missing source label reads as "".
    &[("__name__", "rl_replace"), ("c", "only_c")],
    // named groups, $ templates in target_label, the empty separator.
    &[
        ("__name__", "rl_named"),
        ("path", "/api/v1/users"),
        ("method", "GET"),
    ],
    // $$, unknown groups, malformed $, an expanded target that is not a label name; a `$` in
    // a value is not a template.
    &[("__name__", "rl_dollar"), ("v", "123"), ("note", "cost $5")],
    // leftmost-first alternation, as Go's regexp.
    &[("__name__", "rl_alt"), ("alt", "abcd")],
    // \w is ASCII-only in Go; lowercase and uppercase with Go's simple case mapping (ß has no
    // simple upper case, İ lowers to i, ǅ is title case, K is the Kelvin sign, ſ the long s).
    &[
        ("__name__", "rl_unicode"),
        ("word", "café"),
        ("mixed", "MiXeD Ünï ß ǅ İ K ſ"),
    ],
    // keep/drop over a join of __name__ and kind: "okay" must not match `ok`.
    &[("__name__", "rl_filter"), ("kind", "ok")],
    &[("__name__", "rl_filter"), ("kind", "maybe"), ("x", "keep")],
    &[("__name__", "rl_filter"), ("kind", "maybe"), ("x", "drop")],
    &[("__name__", "rl_filter"), ("kind", "no")],
    &[("__name__", "rl_filter"), ("kind", "okay")],
    &[("__name__", "rl_filter"), ("kind", "OK")],
    // keepequal a == b (both missing is "" == ""), dropequal c == d.
    &[("__name__", "rl_eq"), ("a", "1"), ("b", "1")],
    &[("__name__", "rl_eq"), ("a", "1"), ("b", "2")],
    &[("__name__", "rl_eq"), ("a", "1")],
    &[("__name__", "rl_eq"), ("c", "x"), ("d", "x")],
    &[("__name__", "rl_eq"), ("c", "x"), ("d", "y")],
    // labelmap onto an existing label (pod), two labels mapped to one name (dup), labeldrop.
    &[
        ("__name__", "rl_map"),
        ("meta_zone", "z1"),
        ("meta_rack", "r1"),
        ("meta_pod", "new"),
        ("pod", "old"),
    ],
    &[("__name__", "rl_map"), ("dup_a", "A"), ("dup_b", "B")],
    // labelkeep.
    &[
        ("__name__", "rl_keep"),
        ("k_one", "1"),
        ("k_two", "2"),
        ("other", "o"),
    ],
    // quotes and a backslash in a value.
    &[("__name__", "rl_escape"), ("q", r#"say "hi" \ ok"#)],
    // lowercase of __name__.
    &[("__name__", "RL_Case"), ("mixed", "Hello World")],
    // external labels: the series' own `cluster` wins over the external one; dropequal
    // of region against the external cluster.
    &[("__name__", "rl_ext"), ("cluster", "own")],
    &[("__name__", "rl_ext"), ("region", "eu-1")],
    &[("__name__", "rl_ext"), ("region", "us-1")],
    &[("__name__", "rl_ext_drop"), ("z", "1")],
    // honor_labels: the exposition's job and instance are kept.
    &[
        ("__name__", "rl_honor"),
        ("job", "custom_job"),
        ("instance", "custom:1"),
    ],
    // a replace that deletes __name__.
    &[("__name__", "rl_noname"), ("x", "1")],
    // rules reading earlier rules' writes.
    &[("__name__", "rl_chain"), ("stage", "a")],
    &[("__name__", "rl_chain"), ("stage", "b")],
    &[("__name__", "rl_chain"), ("stage", "c")],
];

/// The series Prometheus adds for every scrape of a target (2.42 without
/// `--enable-feature=extra-scrape-metrics`), labelled with the target labels.
const REPORT_SERIES: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// The `prometheus.yml` both senders get: `@TARGET@` is the exposition's address,
/// `@RECEIVER@/<entry>` the URL of that entry's receiver (each sender has its own receiver per
/// entry, see [`Receivers`]; the entry's name is the URL path).
const CONFIG: &str = r#"global:
  scrape_interval: 1s
  external_labels:
    cluster: eu-1
    env: prod
scrape_configs:
  - job_name: @JOB@
    honor_labels: true
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['@TARGET@']
remote_write:
  # No rules: the label sets as scraped, with the external labels added (a series' own label
  # of the same name wins). Checks the premise of every other entry.
  - name: identity
    url: @RECEIVER@/identity
    queue_config: {batch_send_deadline: 1s}

  - name: replace
    url: @RECEIVER@/replace
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      # Anchoring: regex `a` matches the value "a", not "ba" nor "foo-bar".
      - source_labels: [a]
        regex: a
        target_label: anchored
        replacement: 'yes'
      # $1 and $2.
      - source_labels: [a]
        regex: '(\w+)-(\w+)'
        target_label: swapped
        replacement: '$2-$1'
      # ${1}x is group 1 followed by "x".
      - source_labels: [a]
        regex: '(foo)-(.*)'
        target_label: braced
        replacement: '${1}x'
      # $1x is the group named "1x", which does not exist: the result is empty, and an empty
      # result deletes the (plain) target label b.
      - source_labels: [a]
        regex: '(foo)-(.*)'
        target_label: b
        replacement: '$1x'
      # $$ is a literal $; ${nope} is an unknown named group (empty); a $ not followed by a
      # name ($-, ${ unclosed, $ at the end) is literal.
      - source_labels: [v]
        regex: '(\d+)'
        target_label: dollars
        replacement: '$$1=$1 ${nope}|$-|${|$'
      # Named groups, also in a $ template target_label.
      - source_labels: [path]
        regex: '/api/(?P<version>v\d+)/(?P<res>\w+)'
        target_label: 'api_${version}'
        replacement: '${res}'
      # A $ template target_label from the value.
      - source_labels: [method]
        regex: '(.+)'
        target_label: 'm_$1'
        replacement: seen
      # The expanded target "123" is not a valid label name: the rule does nothing.
      - source_labels: [v]
        regex: '(\d+)'
        target_label: '$1'
        replacement: ignored
      # A missing source label is the empty string; multi-source join with the default ";".
      - source_labels: [a, c]
        regex: ';only_c'
        target_label: a_missing
        replacement: 'yes'
      # Default regex (.*) on an absent label: the empty result deletes the target c.
      - source_labels: [absent]
        target_label: c
      # A custom separator over three sources (the last one missing).
      - source_labels: [a, b, absent]
        separator: '::'
        regex: '(.*)::(.*)::'
        target_label: joined
        replacement: '$2/$1'
      # The empty separator.
      - source_labels: [method, path]
        separator: ''
        target_label: nosep
      # Leftmost-first alternation, as Go: a|bcd|, not ab|c|d.
      - source_labels: [alt]
        regex: '(a|ab)(c|bcd)(.*)'
        target_label: alt_groups
        replacement: '$1|$2|$3'
      # \w is ASCII in Go: café splits as caf + é.
      - source_labels: [word]
        regex: '(\w+)(.*)'
        target_label: word_split
        replacement: '$1+$2'
      # A non-greedy group and a POSIX class.
      - source_labels: [path]
        regex: '/(.*?)/([[:alnum:]]+)/.*'
        target_label: lazy
        replacement: '$1,$2'
      # Renaming __name__, with a case-insensitive flag.
      - source_labels: [__name__]
        regex: '(?i)RL_DOLLAR'
        target_label: __name__
        replacement: rl_dollar_renamed
      # An empty replacement deletes __name__ (the series is still sent).
      - source_labels: [__name__]
        regex: rl_noname
        target_label: __name__
        replacement: ''
      # Quotes and a backslash in a value (escaped in the exposition).
      - source_labels: [q]
        regex: '(.*)"(.*)"(.*)'
        target_label: q_inner
        replacement: '<$2>'
      # A capitalized action name; reads b, which a rule above deleted for foo-bar.
      - source_labels: [b]
        regex: '(.+)'
        target_label: b_copy
        replacement: 'b_$1'
        action: Replace

  # keep and drop.
  - name: filter
    url: @RECEIVER@/filter
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      # keep over a join with a custom separator; anchored alternation ("okay" is dropped), a
      # scoped case-insensitive flag ("OK" is kept); a capitalized action name.
      - source_labels: [__name__, kind]
        separator: '@'
        regex: 'rl_filter@(ok|maybe|(?i:ok))'
        action: Keep
      - source_labels: [kind, x]
        regex: 'maybe;drop'
        action: drop
      # A missing label in a join.
      - source_labels: [x, kind]
        regex: ';OK'
        action: drop

  # An empty regex matches only the empty string: drops every series without b.
  - name: drop_empty
    url: @RECEIVER@/drop_empty
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - source_labels: [b]
        regex: ''
        action: drop

  # keepequal: a == b, and both missing ("" == "") is equal too.
  - name: keepequal
    url: @RECEIVER@/keepequal
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - source_labels: [a]
        target_label: b
        action: keepequal

  # dropequal: c == d, and both missing is equal.
  - name: dropequal
    url: @RECEIVER@/dropequal
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - source_labels: [c]
        target_label: d
        action: dropequal

  - name: hashmod
    url: @RECEIVER@/hashmod
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - source_labels: [__name__, instance]
        target_label: h2
        modulus: 2
        action: hashmod
      # A missing label hashes the empty string.
      - source_labels: [a]
        target_label: h7
        modulus: 7
        action: hashmod
      # External labels, a custom separator.
      - source_labels: [cluster, env, b]
        separator: '/'
        target_label: h1000
        modulus: 1000
        action: hashmod
      - source_labels: [__name__, job]
        target_label: h_one
        modulus: 1
        action: hashmod
      - source_labels: [__name__]
        target_label: h_2_32
        modulus: 4294967296
        action: hashmod
      - source_labels: [__name__]
        target_label: h_max
        modulus: 18446744073709551615
        action: hashmod
      # Hashes an earlier rule's output.
      - source_labels: [h2, h7]
        target_label: h_chain
        modulus: 3
        action: hashmod

  - name: labelmap
    url: @RECEIVER@/labelmap
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      # meta_pod overwrites pod; the originals stay until the labeldrop below.
      - regex: 'meta_(.+)'
        replacement: '$1'
        action: labelmap
      # Two input labels onto one name: the later in label order (dup_b) wins.
      - regex: 'dup_(a|b)'
        replacement: dup
        action: labelmap
      - regex: '(a|b)'
        replacement: 'lm_${1}'
        action: labelmap
      - regex: 'meta_.*'
        action: labeldrop
      # labeldrop of an external label, anchored (keeps job).
      - regex: 'env|jo'
        action: labeldrop

  # labelkeep, also removing an external label (env); label sets that become equal collapse.
  - name: labelkeep
    url: @RECEIVER@/labelkeep
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - regex: '__name__|job|instance|k_.*|cluster|kind'
        action: labelkeep

  - name: case
    url: @RECEIVER@/case
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - source_labels: [mixed]
        target_label: lower
        action: lowercase
      # A join with a custom separator; on series without both labels the value is "-".
      - source_labels: [mixed, word]
        separator: '-'
        target_label: upper
        action: uppercase
      - source_labels: [__name__]
        target_label: __name__
        action: lowercase

  # Rules that use the external labels (added before write relabeling).
  - name: external
    url: @RECEIVER@/external
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - source_labels: [cluster]
        regex: 'eu-1|own'
        action: keep
      - source_labels: [env, __name__]
        regex: 'prod;rl_ext_drop'
        action: drop
      # dropequal against an external label: region "eu-1" equals the external cluster.
      - source_labels: [region]
        target_label: cluster
        action: dropequal
      - source_labels: [cluster, env]
        separator: '-'
        target_label: where
      # Overwrites the external env for the series whose own cluster won.
      - source_labels: [cluster]
        regex: own
        target_label: env
        replacement: staging

  # Each rule reads what the earlier ones wrote.
  - name: chain
    url: @RECEIVER@/chain
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - source_labels: [stage]
        target_label: __tmp_stage
        replacement: 'st_$1'
      - source_labels: [__tmp_stage]
        regex: 'st_b'
        action: drop
      - source_labels: [__tmp_stage, __name__]
        regex: 'st_a;(.*)'
        target_label: __name__
        replacement: '${1}_a'
      - regex: '__tmp_.*'
        action: labeldrop
      - source_labels: [__name__]
        regex: 'rl_chain_a'
        target_label: chained
        replacement: 'yes'
      - source_labels: [chained, stage]
        target_label: chained_stage
"#;

// KEPT OUT: cases where Prometheus 2.42 and 3.x differ (promrw follows 3.x with legacy label
// names, see src/relabel/mod.rs); each would make this test fail for that reason alone, so no
// rule or series of this file exercises them. The first, third and fourth were run against
// 2.42 with this harness once (a probe entry) and differ as said:
//
// - `.` and newlines: 2.42 compiles `^(?:re)$`, 3.x `^(?s:re)$`. `regex: 'a.b'` against the
//   value "a\nb" matches in 3.x and promrw only (probe: promrw set dot="matched", 2.42 not).
// - `lowercase`, `uppercase`, `keepequal`, `dropequal` with a `$` template as `target_label`:
//   2.42 accepts it (and would set a label literally named `x_$1`), 3.x with legacy names and
//   promrw refuse the configuration. A configuration difference: no series to compare.
// - `replace` with a `$` template `target_label` and an empty result: 2.42 deletes the
//   unexpanded name (a no-op), 3.x and promrw delete the expanded label (probe: source
//   tplsrc="x", target_label 't_$1', replacement '': 2.42 kept t_x="old", promrw deleted it).
// - `labelmap` mapping two labels onto one name where one of them was added by an earlier
//   rule: 2.42 visits the labels in name order (each rule works on a sorted label set), 3.x
//   and promrw visit the rule's input labels first, then the added ones in the order they
//   were added (`labels.Builder.Range`), so another label wins. Probe: `dup_z="Z"` scraped,
//   `dup_y="Y"` added by a replace, then labelmap `dup_(y|z)` to `dup`: 2.42 sent dup="Z",
//   promrw dup="Y". (Two *scraped* labels onto one name agree: see the labelmap entry.)
// - UTF-8 label names: neither 2.42 nor promrw (Remote Write 1.0, legacy names) has them.
//
// Kept out for another reason: a rule whose result is not a valid series (`__name__`
// renamed to `1x`, `labelmap` to an invalid name). Prometheus sends it and a validating
// receiver refuses the whole request; promrw drops that series
// (`samples_dropped_total{reason="relabel_invalid"}`, see `tests/relabel.rs`). That is the
// send path's policy, not relabeling.

/// The configuration text for one sender: everything but the receivers' addresses is the same
/// for both.
fn config_text(target: SocketAddr, receivers: &Receivers) -> String {
    let mut text = CONFIG
        .replace("@JOB@", JOB)
        .replace("@TARGET@", &target.to_string());
    for entry in entry_names() {
        text = text.replace(
            &format!("url: @RECEIVER@/{entry}\n"),
            &format!("url: {}\n", receivers.url(&entry)),
        );
    }
    assert!(
        !text.contains("@RECEIVER@"),
        "an entry without its receiver:\n{text}"
    );
    text
}

/// The remote_write entries' names, in the order of [`CONFIG`].
fn entry_names() -> Vec<String> {
    CONFIG
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- name: "))
        .map(str::to_string)
        .collect()
}

/// `value` escaped for the text exposition format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `/metrics` page: every series of [`SERIES`] with value 1.
fn exposition() -> String {
    let mut text = String::new();
    for series in SERIES {
        let (name, labels) = series.split_first().expect("series has a name");
        assert_eq!(name.0, "__name__");
        let labels: Vec<String> = labels
            .iter()
            .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
            .collect();
        text.push_str(&format!("{}{{{}}} 1\n", name.1, labels.join(",")));
    }
    text
}

/// The label sets Prometheus holds after scraping `target` with `honor_labels: true`: the
/// exposed labels, `job` and `instance` added where absent; then the report series.
fn scraped_label_sets(target: SocketAddr) -> Vec<LabelSet> {
    let instance = target.to_string();
    let target_labels = [("job", JOB), ("instance", instance.as_str())];
    let mut sets: Vec<LabelSet> = SERIES
        .iter()
        .map(|series| {
            let mut set: LabelSet = series
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            for (name, value) in target_labels {
                if !set.iter().any(|(n, _)| n == name) {
                    set.push((name.to_string(), value.to_string()));
                }
            }
            set.sort();
            set
        })
        .collect();
    for name in REPORT_SERIES {
        let mut set: LabelSet = vec![("__name__".to_string(), name.to_string())];
        set.extend(target_labels.map(|(n, v)| (n.to_string(), v.to_string())));
        set.sort();
        sets.push(set);
    }
    sets
}

/// A static `/metrics` page on 127.0.0.1, served by one thread (std only); stopped and joined
/// on drop.
struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    scrapes: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    fn start(body: String) -> MetricsServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicUsize::new(0));
        let thread = {
            let stop = stop.clone();
            let scrapes = scrapes.clone();
            std::thread::Builder::new()
                .name("metrics-page".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(stream) = stream
                            && serve_one(stream, &body)
                        {
                            scrapes.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
                .expect("spawn metrics server")
        };
        MetricsServer {
            addr,
            stop,
            scrapes,
            thread: Some(thread),
        }
    }

    /// How many times `/metrics` was served.
    fn scrapes(&self) -> usize {
        self.scrapes.load(Ordering::SeqCst)
    }
}

/// Answers one request on `stream` (then closes it): `body` for `GET /metrics`, 404 for
/// anything else. True when it served the page.
fn serve_one(mut stream: TcpStream, body: &str) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let page = request.starts_with(b"GET /metrics ");
    let (status, content) = if page {
        ("200 OK", body)
    } else {
        ("404 Not Found", "not found\n")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{content}",
        content.len()
    );
    page && stream.write_all(response.as_bytes()).is_ok()
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What one receiver saw: the label sets per URL path and every refused request.
#[derive(Default)]
struct Wire {
    by_path: BTreeMap<String, BTreeSet<LabelSet>>,
    requests: BTreeMap<String, usize>,
    refused: Vec<String>,
}

/// A validating receiver on 127.0.0.1 (promrw's, from the tools crate) recording the label sets
/// per URL path.
struct Recorder {
    receiver: Option<Receiver>,
    wire: Arc<Mutex<Wire>>,
}

impl Recorder {
    fn start() -> Recorder {
        let wire: Arc<Mutex<Wire>> = Arc::default();
        let handler = {
            let wire = wire.clone();
            Arc::new(move |info: &RequestInfo| {
                let mut wire = wire.lock().unwrap();
                *wire.requests.entry(info.path.clone()).or_default() += 1;
                match &info.decoded {
                    Ok(decoded) => {
                        let sets = wire.by_path.entry(info.path.clone()).or_default();
                        for series in &decoded.series {
                            sets.insert(series.labels.clone());
                        }
                        Reply::accept()
                    }
                    Err(e) => {
                        wire.refused
                            .push(format!("{} {}: {}", info.path, e.status, e.message));
                        Reply::status(e.status, e.message.clone())
                    }
                }
            })
        };
        let receiver = Receiver::start(
            "127.0.0.1:0",
            2,
            Arc::new(SampleStore::new(false)),
            handler,
            None,
        )
        .expect("start receiver");
        Recorder {
            receiver: Some(receiver),
            wire,
        }
    }

    /// `http://127.0.0.1:PORT`.
    fn base_url(&self) -> String {
        format!("http://{}", self.receiver.as_ref().unwrap().addr())
    }

    /// The label sets received on `path`.
    fn sets(&self, path: &str) -> BTreeSet<LabelSet> {
        let wire = self.wire.lock().unwrap();
        wire.by_path.get(path).cloned().unwrap_or_default()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            receiver.stop();
        }
    }
}

/// One [`Recorder`] per remote_write entry of one sender, the entry's name as the URL path.
///
/// Not one receiver for all entries: its HTTP server (tiny_http) runs each keep-alive
/// connection on a pool thread for as long as the connection lives, and when more than its 4
/// pool threads' worth of connections arrive at once (Prometheus's 12 queues send their first
/// batch within a millisecond) the rest wait for a thread that never comes free: seen here as
/// queues whose first request was never answered.
struct Receivers(BTreeMap<String, Recorder>);

impl Receivers {
    fn start(entries: &[String]) -> Receivers {
        Receivers(
            entries
                .iter()
                .map(|e| (e.clone(), Recorder::start()))
                .collect(),
        )
    }

    /// The URL of `entry`: its receiver, path `/<entry>`.
    fn url(&self, entry: &str) -> String {
        format!("{}/{entry}", self.0[entry].base_url())
    }

    /// The label sets received for `entry`.
    fn sets(&self, entry: &str) -> BTreeSet<LabelSet> {
        self.0[entry].sets(&format!("/{entry}"))
    }

    /// Requests received so far, per URL path (every receiver).
    fn requests(&self) -> BTreeMap<String, usize> {
        let mut all = BTreeMap::new();
        for recorder in self.0.values() {
            for (path, n) in &recorder.wire.lock().unwrap().requests {
                *all.entry(path.clone()).or_default() += n;
            }
        }
        all
    }

    /// Requests refused so far (every receiver).
    fn refused(&self) -> Vec<String> {
        self.0
            .values()
            .flat_map(|r| r.wire.lock().unwrap().refused.clone())
            .collect()
    }
}

/// `{__name__="x", a="b"}`, for messages.
fn show(set: &LabelSet) -> String {
    let labels: Vec<String> = set.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", labels.join(", "))
}

/// Both sets of one entry and their difference.
fn describe_mismatch(
    entry: &str,
    prometheus: &BTreeSet<LabelSet>,
    promrw: &BTreeSet<LabelSet>,
) -> String {
    let mut text = format!("== remote_write entry {entry:?}\n-- Prometheus 2.42 sent:\n");
    for set in prometheus {
        text.push_str(&format!("   {}\n", show(set)));
    }
    text.push_str("-- promrw sent:\n");
    for set in promrw {
        text.push_str(&format!("   {}\n", show(set)));
    }
    text.push_str("-- only Prometheus:\n");
    for set in prometheus.difference(promrw) {
        text.push_str(&format!(" - {}\n", show(set)));
    }
    text.push_str("-- only promrw:\n");
    for set in promrw.difference(prometheus) {
        text.push_str(&format!(" + {}\n", show(set)));
    }
    text
}

/// Runs promrw with `config` on the scraped label sets (one sample each) and waits until it
/// has delivered them.
fn run_promrw(config: &str, sets: &[LabelSet]) {
    let config = Config::from_text(config).expect("promrw accepts the prometheus.yml");
    let sender = Sender::new(config).expect("promrw sender starts");
    let now = now_ms();
    for set in sets {
        let series = sender
            .series_from_pairs(set)
            .unwrap_or_else(|e| panic!("series {}: {e}", show(set)));
        sender.append(series, now, 1.0).expect("append");
    }
    sender.flush(Duration::from_secs(20)).expect("promrw flush");
    sender.close(Duration::from_secs(5)).expect("promrw close");
}

#[test]
fn write_relabel_configs_send_the_same_label_sets_as_prometheus_2_42() {
    if skip("relabel_vs_prometheus::write_relabel_configs") {
        return;
    }
    let started = Instant::now();
    let page = MetricsServer::start(exposition());
    let entries = entry_names();
    assert_eq!(entries.len(), 12, "entries parsed from CONFIG: {entries:?}");
    let from_prometheus = Receivers::start(&entries);
    let from_promrw = Receivers::start(&entries);
    let prometheus_config = config_text(page.addr, &from_prometheus);
    let promrw_config = config_text(page.addr, &from_promrw);
    let prometheus = RealReceiver::start_prometheus_with_config(&prometheus_config, &[]);

    // While Prometheus scrapes, promrw sends the same label sets through the same rules.
    let scraped = scraped_label_sets(page.addr);
    run_promrw(&promrw_config, &scraped);
    assert!(
        from_promrw.refused().is_empty(),
        "promrw's requests were refused: {:?}",
        from_promrw.refused()
    );
    let expected: BTreeMap<&str, BTreeSet<LabelSet>> = entries
        .iter()
        .map(|e| (e.as_str(), from_promrw.sets(e)))
        .collect();
    // Each entry sends something, and every entry but identity changes something.
    let identity = &expected["identity"];
    assert_eq!(
        identity.len(),
        scraped.len(),
        "identity: one set per series"
    );
    for (entry, sets) in &expected {
        assert!(!sets.is_empty(), "promrw sent nothing for {entry:?}");
        if *entry != "identity" {
            assert_ne!(sets, identity, "the rules of {entry:?} change nothing");
        }
    }

    // Prometheus delivers within a few scrape intervals and batch_send_deadlines; the sets
    // only grow, so equality that holds for STABLE_FOR is final.
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    let mut equal_since: Option<Instant> = None;
    loop {
        let refused = from_prometheus.refused();
        assert!(
            refused.is_empty(),
            "Prometheus's requests were refused: {refused:?}"
        );
        let all_equal = expected
            .iter()
            .all(|(entry, sets)| from_prometheus.sets(entry) == *sets);
        match (all_equal, equal_since) {
            (true, Some(since)) if since.elapsed() >= STABLE_FOR => break,
            (true, None) => equal_since = Some(Instant::now()),
            (true, Some(_)) => {}
            (false, _) => equal_since = None,
        }
        if Instant::now() >= deadline {
            let mut report = String::new();
            for (entry, sets) in &expected {
                let got = from_prometheus.sets(entry);
                if got != *sets {
                    report.push_str(&describe_mismatch(entry, &got, sets));
                    let queue = format!("remote_name={entry} ");
                    report.push_str("-- Prometheus's log of this entry:\n");
                    for line in prometheus.log().lines().filter(|l| l.contains(&queue)) {
                        report.push_str(&format!("   {line}\n"));
                    }
                }
            }
            let log = prometheus.log();
            let problems: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("level=warn") || l.contains("level=error"))
                .collect();
            panic!(
                "write relabeling differs from Prometheus 2.42 after {DELIVERY_TIMEOUT:?} \
                 ({} scrapes of the page; requests from Prometheus per entry: {:?}; its \
                 warnings and errors: {problems:#?}):\n{report}",
                page.scrapes(),
                from_prometheus.requests()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(prometheus);
    let total: usize = expected.values().map(BTreeSet::len).sum();
    eprintln!(
        "relabel_vs_prometheus: {} entries, {total} label sets equal, {} scrapes, {:.1?}",
        expected.len(),
        page.scrapes(),
        started.elapsed()
    );
}
