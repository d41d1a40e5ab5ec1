#!/usr/bin/env bash
# The whole process's CPU per sample of W1 through the C ABI (examples-c/bench_e2e.c) against
# a freshly started receiver and against a warm one, in the same run (docs/BENCHMARKS.md, "CPU
# per sample and the receiver's pace").
#
# Usage: scripts/bench-e2e.sh [ROUNDS] [WARM_RUNS]
#   Each round starts a fresh `promrw sink --listen 127.0.0.1:0 --quiet` and runs bench_e2e
#   against it once ("fresh": the sink's first request), then WARM_RUNS (default 2) more
#   times against the same sink ("warm": a sink that has already stored W1's series; the
#   round's last warm run is the one compared). The sink is stopped by its PID after the round.
#   Every run's timestamps are later than the previous run's, so each stores new samples.
#   ROUNDS defaults to 7. Prints every run's line, then the medians and the median of the
#   per-round ratios fresh/warm.
#   PROMRW_SINK, if set, names the `promrw` binary whose `sink` serves the runs (for comparing
#   receivers, e.g. one built from an older commit); the default is target/release/promrw.
#
# Builds what it needs first: the release library and `promrw`, then `make bench_e2e`.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-7}
warm_runs=${2:-2}
cargo build --release -q -p promrw -p promrw-tools
make -s -C examples-c bench_e2e >/dev/null

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

# Run n (from 0) starts at base + n * 100 s; the last run ends well before now.
runs_total=$((rounds * (1 + warm_runs)))
base=$((($(date +%s) - runs_total * 100 - 10) * 1000))
run=0

cpu_of() { sed -n 's/.*process CPU \([0-9.]*\) us\/sample.*/\1/p' <<<"$1"; }

fresh_figures=()
warm_figures=()
ratios=()
for ((r = 1; r <= rounds; r++)); do
  : >"$work/sink.out"
  "${PROMRW_SINK:-target/release/promrw}" sink --listen 127.0.0.1:0 --quiet >"$work/sink.out" 2>"$work/sink.err" &
  sink_pid=$!
  url=""
  for _ in $(seq 1 100); do
    url=$(grep -o 'http://[0-9.:]*/api/v1/write' "$work/sink.out" | head -n1 || true)
    [[ -n "$url" ]] && break
    sleep 0.05
  done
  if [[ -z "$url" ]]; then
    echo "bench-e2e: the sink printed no URL: $(cat "$work/sink.err")" >&2
    exit 1
  fi
  line=$(examples-c/bench_e2e "$url" "round $r fresh" $((base + run * 100000)))
  run=$((run + 1))
  echo "$line"
  fresh=$(cpu_of "$line")
  warm=""
  for ((w = 1; w <= warm_runs; w++)); do
    line=$(examples-c/bench_e2e "$url" "round $r warm $w" $((base + run * 100000)))
    run=$((run + 1))
    echo "$line"
    warm=$(cpu_of "$line")
  done
  kill "$sink_pid"
  wait "$sink_pid" 2>/dev/null || true
  sink_pid=""
  fresh_figures+=("$fresh")
  warm_figures+=("$warm")
  ratios+=("$(awk -v f="$fresh" -v w="$warm" 'BEGIN { printf "%.3f", f / w }')")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "per-round fresh/warm ratios: ${ratios[*]}"
echo "median process CPU per sample: fresh $(median "${fresh_figures[@]}") us, warm $(median "${warm_figures[@]}") us"
echo "median of per-round ratios fresh/warm: $(median "${ratios[@]}")"
