//go:build !promrw_dynamic && !promrw_test_hooks

package promrw

// The default: link libpromrw.a into the Go program, followed by the system libraries that
// `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs` lists.
// The program then needs no promrw shared library at run time.
//
// The linker takes the first libpromrw.a it finds in these directories (after any -L in
// CGO_LDFLAGS), the same order as the header's (see promrw_cgo.h):
//  1. lib/linux-amd64/      the module's own copy, made by sync-native.sh;
//  2. ../../target/release/ the repository's build (cargo build --release);
//  3. nolib/                a linker script that stops the link with a message naming the
//                           command to run.

// #cgo linux,amd64 LDFLAGS: -L${SRCDIR}/lib/linux-amd64 -L${SRCDIR}/../../target/release -L${SRCDIR}/nolib -l:libpromrw.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
import "C"
