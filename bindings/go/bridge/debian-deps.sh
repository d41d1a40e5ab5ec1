#!/usr/bin/env bash
# Makes the bridge module (bindings/go/bridge) build from Debian's packaged Go sources, with no
# module download (GOPROXY=off):
#   - installs golang-github-prometheus-client-golang-dev (client_golang 1.14 and what it
#     needs, under /usr/share/gocode/src) when it is missing and this runs as root; otherwise
#     says what to install;
#   - checks that every `replace ... => /usr/share/gocode/src/...` of go.mod is there with a
#     go.mod;
#   - for every `replace M => ./.debian/M` (modules whose Debian package has no go.mod, which a
#     replace needs), makes .debian/M: a copy of /usr/share/gocode/src/M plus `module M`;
#   - for every `replace M => ./.debian/stub/M` (modules in the module graph that no package of
#     the build imports, e.g. test-only requirements of go.mod files older than go 1.17, and
#     that Debian does not install), makes .debian/stub/M with only `module M`;
#   - checks that `go list -deps -test ./...` resolves every package of the build and tests
#     offline.
# Run it once after installing or upgrading the Debian packages (.ci/go.sh does). With the
# module proxy none of this is needed: see bindings/go/README.md.
set -euo pipefail
cd "$(dirname "$0")"
src=/usr/share/gocode/src
package=golang-github-prometheus-client-golang-dev

fail() {
  echo "debian-deps.sh: $*" >&2
  exit 1
}

if [[ ! -f "$src/github.com/prometheus/client_golang/go.mod" ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "$package" </dev/null >/dev/null
  else
    fail "client_golang's sources are missing from $src: sudo apt-get install $package"
  fi
fi

# The replace directives of go.mod: "module => directory".
replaces=$(sed -n 's|^[[:space:]]*\(replace[[:space:]]\+\)\{0,1\}\([^[:space:]]\+\) => \([^[:space:]]\+\)$|\2 \3|p' go.mod)
[[ -n "$replaces" ]] || fail "no replace directives found in go.mod"
while read -r module dir; do
  case "$dir" in
  "$src"/*)
    [[ -f "$dir/go.mod" ]] ||
      fail "$dir/go.mod is missing (for $module): sudo apt-get install $package, or see bindings/go/README.md"
    ;;
  ./.debian/*)
    rm -rf "$dir"
    mkdir -p "$dir"
    if [[ "$dir" == ./.debian/stub/* ]]; then
      # In the module graph (a go.mod before go 1.17 lists it, for its tests) but no package
      # of the build imports it, and Debian does not install it: a go.mod is all go needs.
      :
    else
      from="$src/$module"
      [[ -d "$from" ]] || fail "$from is missing (for $module): sudo apt-get install $package"
      cp -r "$from"/. "$dir"/
    fi
    echo "module $module" >"$dir/go.mod"
    ;;
  esac
done <<<"$replaces"

GOPROXY=off go list -deps -test ./... >/dev/null ||
  fail "go list failed: a module the build needs has no replace (above); add it to go.mod"
echo "debian-deps.sh: the bridge module builds from $src"
