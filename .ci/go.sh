#!/usr/bin/env bash
# Go binding CI (bindings/go), run from .ci/run after `cargo build --release`:
#   (a) install Debian's golang-go (Go 1.19) if `go` is missing; build the library if needed
#   (b) copy promrw.h and libpromrw.{a,so} into the module (bindings/go/sync-native.sh)
#   (c) gofmt, go vet (default, promrw_dynamic and debug tags)
#   (d) go test: default (static), GODEBUG=cgocheck=2, -race, -tags debug (a GC before every
#       call into the library), -tags promrw_dynamic (shared library); the tests run against
#       `promrw sink` on 127.0.0.1
#   (e) the benchmarks compile and run once (-benchtime 1x; figures in docs/BENCHMARKS.md)
#   (f) the README's quickstart, built static and shared, against a sink this script starts:
#       it must report SamplesSent:1 and the sink must have received the sample
#   (g) a consumer module that vendors the binding (go mod vendor) builds and links statically
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
cleanup() {
  if [[ -n "$sink_pid" ]]; then
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
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

step "(b) sync-native.sh"
bash bindings/go/sync-native.sh

cd bindings/go
step "(c) gofmt and go vet"
unformatted=$(gofmt -l .)
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

step "(e) benchmarks run (-benchtime 1x; not a measurement)"
go test -count=1 -run '^$' -bench . -benchtime 1x . >"$work/bench.txt" ||
  { cat "$work/bench.txt"; fail "the benchmarks failed"; }
grep -q '^BenchmarkAppendBatch.*ns/sample' "$work/bench.txt" || { cat "$work/bench.txt"; fail "no ns/sample figure"; }

step "(f) quickstart against a sink"
go build -o "$work/quickstart" ./examples/quickstart
go build -tags promrw_dynamic -o "$work/quickstart-shared" ./examples/quickstart
readelf -d "$work/quickstart" | grep -q 'NEEDED.*libpromrw' && fail "the static quickstart needs libpromrw.so"
readelf -d "$work/quickstart-shared" | grep -q 'NEEDED.*\[libpromrw\.so\]' ||
  fail "the promrw_dynamic quickstart does not load libpromrw.so"

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
  grep -q 'SamplesSent:1 ' "$work/$variant.out" || fail "$variant did not report SamplesSent:1"
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

step "(g) a module that vendors the binding"
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
  [[ -f vendor/github.com/promrw/promrw/bindings/go/lib/linux-amd64/libpromrw.a ]] ||
    fail "go mod vendor did not keep lib/linux-amd64/libpromrw.a"
  [[ -f vendor/github.com/promrw/promrw/bindings/go/include/promrw.h ]] ||
    fail "go mod vendor did not keep include/promrw.h"
  go build -mod=vendor -o consumer .
)
echo "go.sh: vendored build ok"

echo "== Go binding passed"
