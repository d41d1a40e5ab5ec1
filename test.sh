#!/usr/bin/env bash
# Runs every test suite of promrw, installing what the suites need when it is missing:
#   rust    cargo test --no-fail-fast (every test target runs even after one fails; needs
#           the real receivers Prometheus and VictoriaMetrics:
#           bash .ci/receivers.sh installs them from Debian), then
#           cargo test --features test-hooks --test wal_enospc --test reshard_races
#           (injected WAL write errors, forced reshards)
#   c       bash .ci/c-abi.sh (gcc, g++, binutils, pkg-config, valgrind)
#   python  bash .ci/python.sh (python3 with venv)
#   go      bash .ci/go.sh (Debian's golang-go)
# then prints one line per suite and, last, `N passed, M failed` (counting suites).
set -uo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'EOF'
Usage: ./test.sh [--rust] [--c] [--python] [--go] [--no-install] [--help]

Runs the test suites of promrw and prints a summary (one line per suite, then
"N passed, M failed"). Exits non-zero when a suite failed.

  --rust        cargo test --no-fail-fast (with the tests against real Prometheus and
                VictoriaMetrics), then cargo test --features test-hooks --test wal_enospc
                --test reshard_races
  --c           bash .ci/c-abi.sh: header, exported symbols, C examples, ASan/UBSan, valgrind
  --python      bash .ci/python.sh: pip install into a fresh venv, pytest, README example
  --go          bash .ci/go.sh: go vet, go test (also -race), README example
                Several suite flags may be combined; without any, all four suites run.
  --no-install  never install anything; a suite whose tools are missing fails and names them
  --help        this text

Missing tools are installed with apt-get (and the receivers with bash .ci/receivers.sh),
which needs root: run as another user, ./test.sh prints the command to run and exits 1.
EOF
}

ALL_SUITES=(rust c python go)
declare -A selected=()
install=1
for arg in "$@"; do
  case $arg in
    --rust) selected[rust]=1 ;;
    --c) selected[c]=1 ;;
    --python) selected[python]=1 ;;
    --go) selected[go]=1 ;;
    --no-install) install="" ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "test.sh: unknown argument: $arg" >&2
      usage >&2
      exit 2
      ;;
  esac
done
if ((${#selected[@]} == 0)); then
  for suite in "${ALL_SUITES[@]}"; do selected[$suite]=1; done
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export DEBIAN_FRONTEND=noninteractive

have() { command -v "$1" >/dev/null 2>&1; }

# A real receiver's binary, found as tests/real_receivers/mod.rs finds it: the override
# variable, else the command on PATH, else /usr/bin or /usr/sbin.
have_receiver() { # have_receiver COMMAND OVERRIDE_VARIABLE
  local override=${!2:-} dir
  if [[ -n "$override" ]]; then
    [[ -x "$override" ]]
    return
  fi
  have "$1" && return 0
  for dir in /usr/bin /usr/sbin; do
    [[ -x "$dir/$1" ]] && return 0
  done
  return 1
}

# Whether python3 can make a virtualenv with pip (Debian ships that part as python3-venv).
python_venv_works() {
  local probe status
  probe=$(mktemp -d)
  python3 -m venv "$probe/venv" >/dev/null 2>&1
  status=$?
  rm -rf "$probe"
  return $status
}

# detect: what each selected suite lacks, as missing_tools[suite] (names, for messages) and
# packages[suite] (the Debian packages providing them); needs_receivers=1 when the rust suite
# lacks a real receiver (bash .ci/receivers.sh installs both).
declare -A missing_tools=() packages=()
needs_receivers=""
lack() { # lack SUITE TOOL PACKAGE...
  local suite=$1 tool=$2
  shift 2
  missing_tools[$suite]="${missing_tools[$suite]:-}${missing_tools[$suite]:+, }$tool"
  packages[$suite]="${packages[$suite]:-}${packages[$suite]:+ }$*"
}
detect() {
  local suite
  missing_tools=()
  packages=()
  needs_receivers=""
  for suite in "${ALL_SUITES[@]}"; do
    [[ -n "${selected[$suite]:-}" ]] || continue
    # Every suite compiles Rust, and rustc links with the system C compiler.
    have cargo || lack "$suite" "cargo (install Rust with rustup: https://rustup.rs)"
    have cc || have gcc || lack "$suite" cc gcc
    [[ -f /usr/include/stdio.h ]] || lack "$suite" "the C library headers" libc6-dev
    case $suite in
      rust)
        if [[ "${PROMRW_SKIP_REAL_RECEIVERS:-}" != 1 ]]; then
          if ! have_receiver prometheus PROMRW_PROMETHEUS_BIN; then
            lack rust prometheus
            needs_receivers=1
          fi
          if ! have_receiver victoria-metrics PROMRW_VICTORIA_METRICS_BIN; then
            lack rust victoria-metrics
            needs_receivers=1
          fi
        fi
        ;;
      c)
        have gcc || lack c gcc gcc
        have g++ || lack c g++ g++
        { have nm && have readelf && have objcopy; } || lack c "nm, readelf, objcopy" binutils
        have pkg-config || lack c pkg-config pkg-config
        have valgrind || lack c valgrind valgrind
        ;;
      python)
        if ! have python3; then
          lack python python3 python3 python3-venv
        elif ! python_venv_works; then
          lack python "python3 -m venv" python3-venv
        fi
        ;;
      go)
        have go || lack go "go (Go >= 1.19)" golang-go
        have readelf || lack go readelf binutils
        ;;
    esac
  done
  # The Debian packages to install, each once, in suite order.
  local package
  local -A seen=()
  apt_packages=()
  for suite in "${ALL_SUITES[@]}"; do
    for package in ${packages[$suite]:-}; do
      [[ -n "${seen[$package]:-}" ]] && continue
      seen[$package]=1
      apt_packages+=("$package")
    done
  done
}

detect
if [[ -n "$install" ]] && { ((${#apt_packages[@]})) || [[ -n "$needs_receivers" ]]; }; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "test.sh: the tests need software that is not installed, and installing takes root; run:" >&2
    if ((${#apt_packages[@]})); then
      echo "  sudo apt-get install -y ${apt_packages[*]}" >&2
    fi
    if [[ -n "$needs_receivers" ]]; then
      echo "  sudo bash .ci/receivers.sh" >&2
    fi
    echo "then ./test.sh again (./test.sh --no-install runs without them, failing those suites)." >&2
    exit 1
  fi
  if ((${#apt_packages[@]})); then
    echo "== test.sh: apt-get install ${apt_packages[*]}"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${apt_packages[@]}"; } </dev/null; then
      echo "test.sh: apt-get install ${apt_packages[*]} failed (above)" >&2
      exit 1
    fi
  fi
  if [[ -n "$needs_receivers" ]]; then
    echo "== test.sh: bash .ci/receivers.sh"
    if ! bash .ci/receivers.sh </dev/null; then
      echo "test.sh: bash .ci/receivers.sh failed (above)" >&2
      exit 1
    fi
  fi
  detect # what is still missing (cargo, which no package here provides) fails its suite
fi

declare -A result=() seconds=() note=()

# run_suite SUITE COMMAND...: runs one suite unless it lacks tools, and records the result.
run_suite() {
  local suite=$1 started=$SECONDS status
  shift
  if [[ -z "${selected[$suite]:-}" ]]; then
    result[$suite]=skipped-by-flag
    return
  fi
  if [[ -n "${missing_tools[$suite]:-}" ]]; then
    echo "test.sh: $suite: FAILED: missing ${missing_tools[$suite]}" >&2
    if [[ -n "${packages[$suite]:-}" ]]; then
      echo "  install with: sudo apt-get install -y ${packages[$suite]}" >&2
    fi
    if [[ $suite == rust && -n "$needs_receivers" ]]; then
      echo "  install the receivers with: sudo bash .ci/receivers.sh" >&2
    fi
    result[$suite]=failed
    seconds[$suite]=0
    note[$suite]="missing: ${missing_tools[$suite]}"
    return
  fi
  echo "== test.sh: $suite: $*"
  "$@" </dev/null
  status=$?
  seconds[$suite]=$((SECONDS - started))
  if ((status == 0)); then
    result[$suite]=passed
  else
    result[$suite]=failed
    note[$suite]="exit status $status"
  fi
}

# The rust suite: every test target, then the ones that need the test-hooks feature (the
# WAL under injected write errors, forced reshards); they run even when the first part failed.
rust_suite() {
  local status=0
  echo "== test.sh: rust: cargo test --no-fail-fast"
  cargo test --no-fail-fast || status=$?
  echo "== test.sh: rust: cargo test --features test-hooks --test wal_enospc --test reshard_races"
  cargo test --features test-hooks --test wal_enospc --test reshard_races || status=$?
  return $status
}

trap 'echo "test.sh: interrupted" >&2; exit 130' INT TERM
run_suite rust rust_suite
run_suite c bash .ci/c-abi.sh
run_suite python bash .ci/python.sh
run_suite go bash .ci/go.sh

passed=0
failed=0
echo
echo "== test.sh summary"
for suite in "${ALL_SUITES[@]}"; do
  case ${result[$suite]} in
    passed) passed=$((passed + 1)) ;;
    failed) failed=$((failed + 1)) ;;
  esac
  if [[ ${result[$suite]} == skipped-by-flag ]]; then
    printf '%-7s %s\n' "$suite" "${result[$suite]}"
  else
    printf '%-7s %-7s %5ss%s\n' "$suite" "${result[$suite]}" "${seconds[$suite]}" \
      "${note[$suite]:+  (${note[$suite]})}"
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
