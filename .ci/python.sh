#!/usr/bin/env bash
# Python binding checks (bindings/python): installs the package into a fresh virtualenv the way
# a user does (pip install ./bindings/python, which builds libpromrw.so with cargo and ships it
# inside the package), checks the wheel is platform-tagged, runs the pytest suite against
# `promrw sink` on 127.0.0.1 (the panic-boundary test against a test-hooks build of the
# library, target/test-hooks/), runs the README's Python examples (examples/quickstart.py and the
# prometheus_client bridge's examples/bridge.py) against a sink, and smoke-runs the append_many
# and bridge benchmarks on small workloads. prometheus_client, the bridge's optional dependency,
# is installed (the [prometheus-client] extra), so tests/test_bridge.py always runs.
#
# Usage (from anywhere): bash .ci/python.sh
# Needs rustup's cargo and python3 (3.9+); installs python3-venv and gcc with apt-get when
# missing (CI runs as root). Reaches PyPI for setuptools, pytest, numpy and prometheus_client.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset PROMRW_LIBRARY

step() { echo "== python: $*"; }
fail() {
  echo "python: FAILED: $*" >&2
  exit 1
}

work=$(mktemp -d)
sink_pid=""
cleanup() {
  if [[ -n "$sink_pid" ]]; then
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Tools from the distribution, installed when missing.
apt_updated=""
apt_install() {
  if [[ -z "$apt_updated" ]]; then
    apt-get update -qq
    apt_updated=1
  fi
  apt-get install -y --no-install-recommends "$@"
}
command -v python3 >/dev/null 2>&1 || { step "installing python3"; apt_install python3 python3-venv; }
if ! python3 -m venv "$work/probe-venv" >/dev/null 2>&1; then
  step "installing python3-venv"
  apt_install python3-venv
fi
rm -rf "$work/probe-venv"
command -v gcc >/dev/null 2>&1 || { step "installing gcc"; apt_install gcc libc6-dev; }
python3 --version

# .ci/run has built the release artifacts; build them here when run on its own.
if [[ ! -f target/release/libpromrw.so || ! -x target/release/promrw ]]; then
  step "cargo build --release"
  cargo build --release
fi

step "pip install ./bindings/python (fresh virtualenv)"
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q './bindings/python[prometheus-client]' pytest
"$py" -m pip install -q numpy || echo "python: numpy unavailable; its tests will be skipped"
"$py" - <<'PY'
import promrw, pathlib
lib = pathlib.Path(promrw.LIBRARY_PATH)
assert lib.parent.name == "_native" and "site-packages" in str(lib), lib
print(f"promrw {promrw.__version__} loaded {lib}")
import importlib.metadata as md
print(f"prometheus_client {md.version('prometheus_client')} (promrw.bridge)")
PY

step "wheel is platform-specific"
"$py" -m pip wheel -q --no-deps -w "$work/wheels" ./bindings/python
wheel=$(ls "$work"/wheels/promrw-*.whl)
echo "$(basename "$wheel")"
[[ "$wheel" == *-py3-none-linux_*.whl ]] || fail "wheel is not tagged py3-none-<platform>: $wheel"

# The panic-boundary test loads a test-hooks build (the installed release library lacks the
# test-only exports; test_errors.py checks that too).
step "cargo build --lib --profile test-hooks --features test-hooks"
cargo build --lib --profile test-hooks --features test-hooks
export PROMRW_TEST_HOOKS_LIBRARY="$PWD/target/test-hooks/libpromrw.so"

step "pytest bindings/python/tests"
set +e
"$py" -m pytest -q -p no:cacheprovider bindings/python/tests
status=$?
set -e
((status == 0)) || fail "pytest exited with $status"

step "README example (bindings/python/examples/quickstart.py) against promrw sink"
example=bindings/python/examples/quickstart.py
lines=$(grep -c '' "$example")
((lines <= 10)) || fail "$example has $lines lines; the README shows at most 10"
target/release/promrw sink --listen 127.0.0.1:0 --interval 0.1 >"$work/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$work/sink.out" && break
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/sink.out" | head -1)
[[ -n "$url" ]] || fail "promrw sink did not start: $(cat "$work/sink.out")"
PROMRW_URL="$url" "$py" "$example" | tee "$work/example.out"
grep -q '^samples acked: 1$' "$work/example.out" || fail "the example did not report 1 sample acked"
arrived=""
for _ in $(seq 50); do
  if grep -q 'total samples=1 ' "$work/sink.out"; then
    arrived=1
    break
  fi
  sleep 0.1
done
[[ -n "$arrived" ]] || fail "the sink did not report the example's sample: $(tail -3 "$work/sink.out")"
if grep -v '^listening on \|^\[' "$work/sink.out"; then
  fail "the sink rejected a request"
fi
kill "$sink_pid"
wait "$sink_pid" 2>/dev/null || true
sink_pid=""

step "bridge example (bindings/python/examples/bridge.py) against promrw sink --print-samples"
example=bindings/python/examples/bridge.py
target/release/promrw sink --listen 127.0.0.1:0 --quiet --print-samples >"$work/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$work/sink.out" && break
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/sink.out" | head -1)
[[ -n "$url" ]] || fail "promrw sink did not start: $(cat "$work/sink.out")"
PROMRW_URL="$url" "$py" "$example" | tee "$work/example.out"
grep -q '^samples acked: [1-9][0-9]*$' "$work/example.out" || fail "the bridge example acked no sample"
# The counter's final value (1.0) arrives, from the last collection.
arrived=""
for _ in $(seq 50); do
  if grep -q '^sample {__name__="bridge_example_jobs_total"} [0-9]* 3ff0000000000000$' "$work/sink.out"; then
    arrived=1
    break
  fi
  sleep 0.1
done
[[ -n "$arrived" ]] || fail "the sink did not store bridge_example_jobs_total 1: $(grep bridge_example "$work/sink.out")"
if grep -v '^listening on \|^sample \|^histogram \|^exemplar \|^series_metadata \|^metadata ' "$work/sink.out"; then
  fail "the sink rejected a request"
fi
kill "$sink_pid"
wait "$sink_pid" 2>/dev/null || true
sink_pid=""

step "benchmark smoke run (bench_append_many.py, small workload)"
"$py" bindings/python/bench/bench_append_many.py --series 200 --rounds 5 --runs 1

step "benchmark smoke run (bench_bridge.py, small workload)"
"$py" bindings/python/bench/bench_bridge.py --series 200 --rounds 3

step "passed"
