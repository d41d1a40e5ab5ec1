//go:build promrw_dynamic && !promrw_test_hooks

package promrw

// With `-tags promrw_dynamic`: link against libpromrw.so, taking the first one found in the
// same directories, in the same order, as the static build (see link_static.go):
// lib/linux-amd64/ (a copy made by sync-native.sh), ../../target/release/ (the repository's
// build), then nolib/ (a linker script that stops the link with a message). Both library
// directories are recorded as run paths, in that order, so programs find the library there
// at run time; after moving the library elsewhere, set LD_LIBRARY_PATH to its directory.

// #cgo linux,amd64 LDFLAGS: -L${SRCDIR}/lib/linux-amd64 -L${SRCDIR}/../../target/release -L${SRCDIR}/nolib -Wl,-rpath,${SRCDIR}/lib/linux-amd64 -Wl,-rpath,${SRCDIR}/../../target/release -l:libpromrw.so
import "C"
