#!/usr/bin/env bash
# promrw push: samples per second from a ~100 MB exposition file (docs/BENCHMARKS.md,
# "promrw push: samples per second from a 100 MB file").
#
#   scripts/bench-push.sh [RUNS]          (default 3 runs; needs python3 to write the file)
#
# Builds the release `promrw`, writes a Prometheus text exposition (0.0.4) of 200 metric
# families x 50 series x 100 timestamps (1,000,000 samples, each series' samples in a row, as
# a batch job's or a backfill's file has them; label sets of 4 labels, lines of about 105
# bytes) once, then per run: `promrw push --dry-run FILE` (parse and check only: the baseline) and
# `promrw push --url URL FILE` against a fresh `promrw sink --quiet` on 127.0.0.1:0, started
# for the run and stopped (by its PID) after it. Prints each run's wall samples/s (the whole
# process: reading, parsing, sending, every sample acknowledged) and the medians, with the
# ratio to the parse-only baseline. PROMRW_BENCH_FILE keeps the file at that path (default:
# a temporary file, removed at the end). PROMRW_BASELINE_BIN=PATH (another build's `promrw`,
# e.g. an earlier commit's) also times that binary's push in every run, interleaved with this
# build's and against its own fresh sink, and prints the ratio of the medians.
set -euo pipefail

runs="${1:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --release -p promrw-tools --quiet
promrw="$root/target/release/promrw"

work="$(mktemp -d "${TMPDIR:-/tmp}/promrw-bench-push.XXXXXX")"
sink_pid=""
cleanup() {
    if [[ -n "$sink_pid" ]]; then
        kill "$sink_pid" 2>/dev/null || true
        wait "$sink_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

file="${PROMRW_BENCH_FILE:-$work/bench.prom}"
if [[ ! -s "$file" ]]; then
    python3 - "$file" <<'EOF'
import sys

families, series, points = 200, 50, 100
start_ms, step_ms = 1_700_000_000_000, 15_000
codes = ["200", "201", "204", "301", "400", "404", "500", "503"]
methods = ["GET", "POST", "PUT", "DELETE"]
with open(sys.argv[1], "w") as out:
    for f in range(families):
        counter = f % 2 == 0
        name = f"app_comp{f:03d}_requests_total" if counter else f"app_comp{f:03d}_inflight"
        out.write(f"# HELP {name} Requests handled by component {f}, by handler and code.\n")
        out.write(f"# TYPE {name} {'counter' if counter else 'gauge'}\n")
        for s in range(series):
            labels = (
                f'{{instance="10.{f % 16}.{s}.{(f * 7 + s) % 250}:9100",'
                f'job="api",method="{methods[s % 4]}",code="{codes[s % 8]}"}}'
            )
            value = 1000 * s + f
            lines = []
            for p in range(points):
                value += (p * 7 + s) % 13 if counter else 0
                v = value if counter else (s * 3 + p) % 17
                lines.append(f"{name}{labels} {v} {start_ms + p * step_ms}\n")
            out.write("".join(lines))
EOF
fi
bytes=$(stat -c %s "$file")
echo "file: $file, $bytes bytes, $(grep -vc '^#' "$file") samples"
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"

now() { date +%s.%N; }
# rate SAMPLES T0 T1: samples per second between two `now`s.
rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])):.0f}')" "$@"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

samples=$(grep -vc '^#' "$file")
baseline="${PROMRW_BASELINE_BIN:-}"
# timed_push BIN OUT: BIN's push of the file against a fresh sink (this build's), its rate.
timed_push() {
    "$promrw" sink --listen 127.0.0.1:0 --quiet >"$work/sink.out" &
    sink_pid=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$work/sink.out" 2>/dev/null && break
        sleep 0.05
    done
    url=$(sed -n 's/^listening on //p' "$work/sink.out" | head -n1)
    local t0 t1
    t0=$(now)
    "$1" push --url "$url" "$file" >"$2"
    t1=$(now)
    kill "$sink_pid"
    wait "$sink_pid" 2>/dev/null || true
    sink_pid=""
    rate "$samples" "$t0" "$t1"
}
dry_rates=()
push_rates=()
baseline_rates=()
for run in $(seq 1 "$runs"); do
    t0=$(now)
    "$promrw" push --dry-run "$file" >"$work/dry.out"
    t1=$(now)
    dry=$(rate "$samples" "$t0" "$t1")
    dry_rates+=("$dry")

    sent=$(timed_push "$promrw" "$work/push.out")
    push_rates+=("$sent")
    echo "run $run: push $sent samples/s (wall, parse + send + acknowledged), parse-only $dry samples/s; $(cat "$work/push.out")"
    if [[ -n "$baseline" ]]; then
        old=$(timed_push "$baseline" "$work/baseline.out")
        baseline_rates+=("$old")
        echo "run $run: baseline $baseline push $old samples/s; $(cat "$work/baseline.out")"
    fi
done
dry_median=$(printf '%s\n' "${dry_rates[@]}" | median)
push_median=$(printf '%s\n' "${push_rates[@]}" | median)
ratio=$(python3 -c "import sys; print(f'{int(sys.argv[1]) / int(sys.argv[2]):.2f}')" "$push_median" "$dry_median")
echo "median: push $push_median samples/s, parse-only baseline $dry_median samples/s, ratio $ratio"
if [[ -n "$baseline" ]]; then
    old_median=$(printf '%s\n' "${baseline_rates[@]}" | median)
    speedup=$(python3 -c "import sys; print(f'{int(sys.argv[1]) / int(sys.argv[2]):.2f}')" "$push_median" "$old_median")
    echo "median: baseline binary push $old_median samples/s; this build / baseline $speedup"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
