#!/usr/bin/env bash
# Copies the promrw C header and native libraries into this Go module, where its cgo
# directives look for them:
#
#   include/promrw.h              <- <repo>/include/promrw.h
#   lib/linux-amd64/libpromrw.a   <- <target>/release/libpromrw.a   (default: static link)
#   lib/linux-amd64/libpromrw.so  <- <target>/release/libpromrw.so  (-tags promrw_dynamic)
#
# Usage: bindings/go/sync-native.sh [--build]
#   --build  run `cargo build --release` first (otherwise the libraries must already exist)
#
# <repo> is two directories up from this script; <target> is $CARGO_TARGET_DIR or
# <repo>/target. Only linux/amd64 is supported for now.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
platform="linux-amd64"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "sync-native.sh: only linux-amd64 is supported, not $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

if [[ "${1:-}" == "--build" ]]; then
  (cd "$repo" && cargo build --release --lib)
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--build]" >&2
  exit 2
fi

for f in "$repo/include/promrw.h" "$target/release/libpromrw.a" "$target/release/libpromrw.so"; do
  if [[ ! -f "$f" ]]; then
    echo "sync-native.sh: $f is missing; build the library first (cargo build --release, or $0 --build)" >&2
    exit 1
  fi
done

mkdir -p "$here/include" "$here/lib/$platform"
# Copy to a temporary name and rename, so a concurrent `go build` never sees half a file.
copy() {
  cp "$1" "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
}
copy "$repo/include/promrw.h" "$here/include/promrw.h"
copy "$target/release/libpromrw.a" "$here/lib/$platform/libpromrw.a"
copy "$target/release/libpromrw.so" "$here/lib/$platform/libpromrw.so"
echo "sync-native.sh: copied promrw.h, libpromrw.a and libpromrw.so into $here"
