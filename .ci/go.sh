#!/usr/bin/env bash
# Go binding CI (bindings/go), run from .ci/run after `cargo build --release`:
#   (a) install Debian's golang-go (Go 1.19) if `go` is missing; build the library if needed
#   (b) no copies in the module (sync-native.sh --clean): every step up to (g) builds against
#       the repository's include/ and target/release/, as a checkout does right after
#       `cargo build --release`
#   (c) gofmt, go vet (default, promrw_dynamic and debug tags)
#   (d) go test: default (static), GODEBUG=cgocheck=2, -race, -tags debug (a GC before every
#       call into the library), -tags promrw_dynamic (shared library); the tests run against
#       `promrw sink` and in-process HTTP servers on 127.0.0.1; the panic-boundary test with
#       -tags promrw_test_hooks against a test-hooks build (target/test-hooks/)
#   (e) the benchmarks compile and run once (-benchtime 1x; figures in docs/BENCHMARKS.md)
#   (f) the README's quickstart, built static and shared, against a sink this script starts:
#       it must report SamplesAcked:1 and the sink must have received the sample; the linker
#       must have taken target/release's libraries
#   (g) copies of the module without the header, or without the library, fail to build with
#       the message that names what to run
#   (h) with the copies sync-native.sh makes: one go test run (they win over the repository's
#       files) and a consumer module that vendors the binding (go mod vendor) builds and
#       links statically; the copies are removed again at the end
#   (i) the client_golang bridge (bindings/go/bridge, its own module): Debian's
#       golang-github-prometheus-client-golang-dev installed if missing (bridge/debian-deps.sh),
#       gofmt, go vet, go test (also -race) against `promrw sink`, its benchmark once
#       (-benchtime 1x), and its example (the README's) against a sink: it must report acked
#       samples and the sink must have stored bridge_example_jobs_total 1
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

export CI=true
export DEBIAN_FRONTEND=noninteractive
export CGO_ENABLED=1
export GOFLAGS="${GOFLAGS:-}"
export GOPROXY=off # the binding has no dependencies: never download anything

fail() {
  echo "go.sh: FAIL: $*" >&2
  exit 1
}
step() { echo "-- go.sh: $*"; }

work="$(mktemp -d)"
sink_pid=""
synced=""
cleanup() {
  if [[ -n "$sink_pid" ]]; then
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
  fi
  if [[ -n "$synced" ]]; then
    bash "$root/bindings/go/sync-native.sh" --clean >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "(a) toolchain and library"
if ! command -v go >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends golang-go </dev/null >/dev/null
  else
    fail "go is missing; install Debian's golang-go (Go >= 1.19)"
  fi
fi
go version
go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
[[ -n "$go_minor" && "$go_minor" -ge 19 ]] || fail "Go >= 1.19 is needed, found $(go env GOVERSION)"
if [[ ! -f target/release/libpromrw.a || ! -f target/release/libpromrw.so || ! -x target/release/promrw ]]; then
  cargo build --release
fi

step "(b) no copies in the module: build against include/ and target/release/"
bash bindings/go/sync-native.sh --clean
for f in bindings/go/include/promrw.h bindings/go/lib/linux-amd64/libpromrw.a \
  bindings/go/lib/linux-amd64/libpromrw.so bindings/go/native_stamp.go; do
  [[ ! -e "$f" ]] || fail "$f still exists after sync-native.sh --clean"
done

cd bindings/go
step "(c) gofmt and go vet"
# bridge/.debian/ holds copies of Debian sources (bridge/debian-deps.sh): not ours to format.
unformatted=$(find . -path ./bridge/.debian -prune -o -name '*.go' -print | xargs gofmt -l)
[[ -z "$unformatted" ]] || fail "gofmt -l lists: $unformatted"
go vet ./...
go vet -tags promrw_dynamic ./...
go vet -tags debug ./...

step "(d) go test ./... (static)"
go test -count=1 ./...
step "(d) GODEBUG=cgocheck=2 go test ./..."
GODEBUG=cgocheck=2 go test -count=1 ./...
step "(d) go test -race ./..."
go test -count=1 -race ./...
step "(d) go test -tags debug ./..."
go test -count=1 -tags debug ./...
step "(d) go test -tags promrw_dynamic ./..."
go test -count=1 -tags promrw_dynamic ./...
# The panic-boundary test needs the library's test-only exports, which release builds lack:
# it links a test-hooks build (target/test-hooks/, unoptimised) under the promrw_test_hooks tag.
step "(d) go test -tags promrw_test_hooks (panic boundary, test-hooks library)"
(cd "$root" && cargo build --lib --profile test-hooks --features test-hooks)
go vet -tags promrw_test_hooks ./...
go test -count=1 -tags promrw_test_hooks -run 'TestForcedPanicIsAnError' -v . >"$work/panic.txt" 2>&1 ||
  { cat "$work/panic.txt"; fail "the panic-boundary test failed"; }
grep -q -- '--- PASS: TestForcedPanicIsAnError' "$work/panic.txt" ||
  { cat "$work/panic.txt"; fail "TestForcedPanicIsAnError did not run"; }

step "(e) benchmarks run (-benchtime 1x; not a measurement)"
go test -count=1 -run '^$' -bench . -benchtime 1x . >"$work/bench.txt" ||
  { cat "$work/bench.txt"; fail "the benchmarks failed"; }
grep -q '^BenchmarkAppendBatch.*ns/sample' "$work/bench.txt" || { cat "$work/bench.txt"; fail "no ns/sample figure"; }

step "(f) quickstart against a sink"
# --trace makes the linker print every file it opens: the library must be target/release's.
go build -ldflags=-extldflags=-Wl,--trace -o "$work/quickstart" ./examples/quickstart >"$work/trace.txt" 2>&1 ||
  { cat "$work/trace.txt"; fail "the quickstart did not build"; }
grep -qx "$root/bindings/go/../../target/release/libpromrw.a" "$work/trace.txt" ||
  { grep promrw "$work/trace.txt"; fail "the static quickstart did not link target/release/libpromrw.a"; }
go build -tags promrw_dynamic -o "$work/quickstart-shared" ./examples/quickstart
# Outputs are captured first: with pipefail, `cmd | grep -q` fails when grep exits early and
# cmd gets SIGPIPE.
static_dynamic=$(readelf -d "$work/quickstart")
shared_dynamic=$(readelf -d "$work/quickstart-shared")
shared_ldd=$(ldd "$work/quickstart-shared")
grep -q 'NEEDED.*libpromrw' <<<"$static_dynamic" && fail "the static quickstart needs libpromrw.so"
grep -q 'NEEDED.*\[libpromrw\.so\]' <<<"$shared_dynamic" ||
  fail "the promrw_dynamic quickstart does not load libpromrw.so"
grep -q "libpromrw.so => $root/bindings/go/../../target/release/libpromrw.so " <<<"$shared_ldd" ||
  { echo "$shared_ldd"; fail "the promrw_dynamic quickstart does not load target/release/libpromrw.so"; }

: >"$work/sink.log" # exists before the background job opens it
"$root/target/release/promrw" sink --listen 127.0.0.1:0 --interval 0.1 >"$work/sink.log" 2>&1 &
sink_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n '1s|^listening on \(http://.*\)$|\1|p' "$work/sink.log" || true)
  [[ -n "$url" ]] && break
  kill -0 "$sink_pid" 2>/dev/null || fail "the sink exited: $(cat "$work/sink.log")"
  sleep 0.05
done
[[ -n "$url" ]] || fail "the sink printed no URL: $(cat "$work/sink.log")"

sink_total() { sed -n 's/.*| total samples=\([0-9]*\) .*/\1/p' "$work/sink.log" | tail -n 1; }
wait_total() { # waits (5 s at most) until the sink has accepted $1 samples in all
  local got=""
  for _ in $(seq 1 50); do
    got=$(sink_total)
    [[ "${got:-0}" -ge "$1" ]] && break
    sleep 0.1
  done
  [[ "${got:-0}" -eq "$1" ]] || fail "the sink accepted ${got:-0} samples in all, want $1"
}
expected=0
for variant in quickstart quickstart-shared; do
  PROMRW_URL="$url" "$work/$variant" >"$work/$variant.out" 2>&1 ||
    { cat "$work/$variant.out"; fail "$variant exited with an error"; }
  cat "$work/$variant.out"
  grep -q 'SamplesAcked:1 ' "$work/$variant.out" || fail "$variant did not report SamplesAcked:1"
  expected=$((expected + 1))
  wait_total "$expected"
done
# The sink prints a line per invalid request. Requests other than Remote Write POSTs come
# from other programs probing the port (e.g. GET /-/ready) and are only shown.
grep -v -e '^listening on ' -e '^\[' "$work/sink.log" | grep -v '^POST /api/v1/write ' |
  sed 's/^/go.sh: note: not ours: /' || true
if grep '^POST /api/v1/write ' "$work/sink.log"; then
  fail "the sink reported invalid requests (above)"
fi
kill "$sink_pid" 2>/dev/null || true
wait "$sink_pid" 2>/dev/null || true
sink_pid=""

step "(g) the messages when the header or the library is missing"
# Copies of the module: one without the repository around it (no ../../include), one with the
# repository's include/ but no target/release/.
mkdir -p "$work/nohdr/bindings" "$work/nolib/bindings"
cp -r "$root/bindings/go" "$work/nohdr/bindings/"
cp -r "$root/bindings/go" "$work/nolib/bindings/"
cp -r "$root/include" "$work/nolib/"
hint='run cargo build --release at the repository root, or bindings/go/sync-native.sh --build'
(cd "$work/nohdr/bindings/go" && go build ./... >"$work/nohdr.txt" 2>&1) &&
  fail "the module without promrw.h built"
grep -q "promrw.h not found: $hint" "$work/nohdr.txt" ||
  { cat "$work/nohdr.txt"; fail "no 'promrw.h not found' message naming the command"; }
for tags in "" promrw_dynamic; do
  lib=libpromrw.a
  [[ -n "$tags" ]] && lib=libpromrw.so
  (cd "$work/nolib/bindings/go" && go build -tags "$tags" -o /dev/null ./examples/quickstart >"$work/nolib.txt" 2>&1) &&
    fail "the module without $lib built"
  grep -q "promrw: $lib not found in bindings/go/lib/linux-amd64 nor in target/release: $hint" "$work/nolib.txt" ||
    { head -n 5 "$work/nolib.txt"; fail "no '$lib not found' message naming the command"; }
done
echo "go.sh: both messages name the command"

step "(h) with the copies made by sync-native.sh"
synced=1
bash "$root/bindings/go/sync-native.sh"
go build -ldflags=-extldflags=-Wl,--trace -o "$work/quickstart-synced" ./examples/quickstart >"$work/trace.txt" 2>&1 ||
  { cat "$work/trace.txt"; fail "the quickstart did not build with the copies"; }
grep -qx "$root/bindings/go/lib/linux-amd64/libpromrw.a" "$work/trace.txt" ||
  { grep promrw "$work/trace.txt"; fail "the copy lib/linux-amd64/libpromrw.a did not win"; }
go test -count=1 .

mkdir -p "$work/consumer"
cat >"$work/consumer/go.mod" <<MOD
module example.com/consumer

go 1.19

require github.com/promrw/promrw/bindings/go v0.0.0

replace github.com/promrw/promrw/bindings/go => $root/bindings/go
MOD
cp examples/quickstart/main.go "$work/consumer/main.go"
(
  cd "$work/consumer"
  GOFLAGS=-mod=mod go mod vendor
  v=vendor/github.com/promrw/promrw/bindings/go
  for f in lib/linux-amd64/libpromrw.a include/promrw.h promrw_cgo.h nolib/libpromrw.a nolib/libpromrw.so; do
    [[ -f "$v/$f" ]] || fail "go mod vendor did not keep $f"
  done
  go build -mod=vendor -ldflags=-extldflags=-Wl,--trace -o consumer . >"$work/trace.txt" 2>&1 ||
    { cat "$work/trace.txt"; fail "the vendored build failed"; }
  grep -qx "$PWD/$v/lib/linux-amd64/libpromrw.a" "$work/trace.txt" ||
    { grep promrw "$work/trace.txt"; fail "the vendored build did not link the vendored libpromrw.a"; }
)
echo "go.sh: vendored build ok"
bash "$root/bindings/go/sync-native.sh" --clean
synced=""

step "(i) the client_golang bridge (bindings/go/bridge)"
cd "$root/bindings/go/bridge"
bash debian-deps.sh # installs golang-github-prometheus-client-golang-dev when missing (root)
# .debian/ holds copies of Debian sources (see debian-deps.sh): not ours to format.
unformatted=$(find . -path ./.debian -prune -o -name '*.go' -print | xargs gofmt -l)
[[ -z "$unformatted" ]] || fail "gofmt -l lists: $unformatted"
go vet ./...
go test -count=1 ./...
go test -count=1 -race ./...
go test -count=1 -run '^$' -bench . -benchtime 1x . >"$work/bridge-bench.txt" ||
  { cat "$work/bridge-bench.txt"; fail "the bridge benchmark failed"; }
grep -q '^BenchmarkBridge/convert.*allocs/sample.*ns/sample' "$work/bridge-bench.txt" ||
  { cat "$work/bridge-bench.txt"; fail "no ns/sample and allocs/sample figures from the bridge benchmark"; }
go build -o "$work/bridge-example" ./examples/bridge
: >"$work/bridge-sink.log"
"$root/target/release/promrw" sink --listen 127.0.0.1:0 --interval 0.1 --print-samples >"$work/bridge-sink.log" 2>&1 &
sink_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n '1s|^listening on \(http://.*\)$|\1|p' "$work/bridge-sink.log" || true)
  [[ -n "$url" ]] && break
  kill -0 "$sink_pid" 2>/dev/null || fail "the sink exited: $(cat "$work/bridge-sink.log")"
  sleep 0.05
done
[[ -n "$url" ]] || fail "the sink printed no URL: $(cat "$work/bridge-sink.log")"
PROMRW_URL="$url" "$work/bridge-example" >"$work/bridge-example.out" 2>&1 ||
  { cat "$work/bridge-example.out"; fail "the bridge example exited with an error"; }
cat "$work/bridge-example.out"
grep -q '^samples acked: [1-9][0-9]*$' "$work/bridge-example.out" || fail "the bridge example acked no sample"
stored=""
for _ in $(seq 1 50); do # the sink prints what it stored right after answering
  if grep -q '^sample {__name__="bridge_example_jobs_total"} [0-9]* 3ff0000000000000$' "$work/bridge-sink.log"; then
    stored=1
    break
  fi
  sleep 0.1
done
[[ -n "$stored" ]] ||
  fail "the sink did not store bridge_example_jobs_total 1: $(grep bridge_example "$work/bridge-sink.log" || true)"
if grep '^POST /api/v1/write ' "$work/bridge-sink.log"; then
  fail "the sink reported invalid requests from the bridge example (above)"
fi
kill "$sink_pid" 2>/dev/null || true
wait "$sink_pid" 2>/dev/null || true
sink_pid=""
echo "go.sh: the bridge example's samples arrived"

echo "== Go binding passed"
