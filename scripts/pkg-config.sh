#!/usr/bin/env bash
# Writes promrw.pc from promrw.pc.in: @PREFIX@, @LIBDIR@ and @INCLUDEDIR@ from the options,
# @VERSION@ from Cargo.toml and @NATIVE_STATIC_LIBS@ from rustc (the system libraries that
# libpromrw.a needs after it on a static link line).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/pkg-config.sh [--prefix DIR] [--libdir DIR] [--includedir DIR]
                             [--output FILE] [--exact]

Fills in promrw.pc.in and writes promrw.pc for an installation of promrw.

  --prefix DIR      installation prefix (default /usr/local)
  --libdir DIR      where libpromrw.a / libpromrw.so are installed (default ${prefix}/lib)
  --includedir DIR  where promrw.h is installed (default ${prefix}/include)
  --output FILE     the file to write (default promrw.pc in the current directory; - for
                    standard output)
  --exact           ask cargo for the native static libraries of libpromrw.a itself
                    (cargo rustc --release --lib --crate-type staticlib -- --print
                    native-static-libs: recompiles the library). By default rustc prints
                    them for an empty static library, which is the same list as long as no
                    dependency of promrw links a system library of its own (none does today;
                    .ci/c-abi.sh links a C program statically with the result).
  --help            this text

Then: cc app.c $(pkg-config --cflags --libs promrw) (shared library), or
      cc app.c $(pkg-config --static --cflags --libs promrw) (libpromrw.a only),
with the directory holding promrw.pc in PKG_CONFIG_PATH unless it is a system one.
EOF
}

prefix=/usr/local
libdir='${prefix}/lib'
includedir='${prefix}/include'
output=promrw.pc
exact=""
while (($#)); do
  case $1 in
    --prefix | --libdir | --includedir | --output)
      if (($# < 2)); then
        echo "pkg-config.sh: $1 needs a value" >&2
        exit 2
      fi
      case $1 in
        --prefix) prefix=$2 ;;
        --libdir) libdir=$2 ;;
        --includedir) includedir=$2 ;;
        --output) output=$2 ;;
      esac
      shift 2
      ;;
    --prefix=* | --libdir=* | --includedir=* | --output=*)
      value=${1#*=}
      case $1 in
        --prefix=*) prefix=$value ;;
        --libdir=*) libdir=$value ;;
        --includedir=*) includedir=$value ;;
        --output=*) output=$value ;;
      esac
      shift
      ;;
    --exact)
      exact=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "pkg-config.sh: unknown argument: $1" >&2
      usage >&2
      exit 2
      ;;
  esac
done

# Resolve a relative --output against the caller's directory before moving to the repository.
if [[ "$output" != - && "$output" != /* ]]; then
  output="$PWD/$output"
fi
cd "$(dirname "$0")/.."

# The [package] version of Cargo.toml.
version=$(awk '
  /^\[/ { in_package = ($0 == "[package]") }
  in_package && /^version[ \t]*=/ { sub(/^version[ \t]*=[ \t]*"/, ""); sub(/".*$/, ""); print; exit }
' Cargo.toml)
[[ -n "$version" ]] || {
  echo "pkg-config.sh: no [package] version in Cargo.toml" >&2
  exit 1
}

# The `native-static-libs: ...` note rustc prints for a static library.
native_libs_from() { # native_libs_from COMMAND...
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "pkg-config.sh: failed: $*" >&2
    return 1
  fi
  out=$(printf '%s\n' "$out" | sed -n 's/^.*native-static-libs: *//p' | tail -n 1)
  if [[ -z "$out" ]]; then
    echo "pkg-config.sh: $* printed no native-static-libs" >&2
    return 1
  fi
  printf '%s\n' "$out"
}
if [[ -n "$exact" ]]; then
  native_libs=$(native_libs_from cargo rustc --quiet --release --lib --crate-type staticlib -- \
    --print native-static-libs)
else
  probe=$(mktemp -d)
  trap 'rm -rf "$probe"' EXIT
  : >"$probe/probe.rs"
  native_libs=$(native_libs_from rustc --edition 2021 --crate-type staticlib --crate-name probe \
    --print native-static-libs -o "$probe/libprobe.a" "$probe/probe.rs")
fi

# The template without its leading comment (how to fill it in), which would be wrong here.
text=$(sed '1,/^[^#]/{/^#/d}' promrw.pc.in)
for placeholder in PREFIX LIBDIR INCLUDEDIR VERSION NATIVE_STATIC_LIBS; do
  [[ "$text" == *"@$placeholder@"* ]] || {
    echo "pkg-config.sh: promrw.pc.in lacks @$placeholder@" >&2
    exit 1
  }
done
# (Quoted replacements: `&` and `\` in a value stay literal.)
text=${text//@PREFIX@/"$prefix"}
text=${text//@LIBDIR@/"$libdir"}
text=${text//@INCLUDEDIR@/"$includedir"}
text=${text//@VERSION@/"$version"}
text=${text//@NATIVE_STATIC_LIBS@/"$native_libs"}
text="# promrw.pc for promrw $version, written by scripts/pkg-config.sh from promrw.pc.in.
$text"

if [[ "$output" == - ]]; then
  printf '%s\n' "$text"
else
  mkdir -p "$(dirname "$output")"
  printf '%s\n' "$text" >"$output.tmp.$$"
  mv "$output.tmp.$$" "$output"
  echo "pkg-config.sh: wrote $output (promrw $version, prefix $prefix)" >&2
fi
