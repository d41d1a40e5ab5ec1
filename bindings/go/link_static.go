//go:build !promrw_dynamic

package promrw

// The default: link lib/linux-amd64/libpromrw.a (copied in by sync-native.sh) into the Go
// program, followed by the system libraries that
// `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs` lists.
// The program then needs no promrw shared library at run time.

// #cgo linux,amd64 LDFLAGS: ${SRCDIR}/lib/linux-amd64/libpromrw.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
import "C"
