//go:build promrw_test_hooks

package promrw

// With `-tags promrw_test_hooks` (tests only): link the repository's test-hooks build of the
// library, target/test-hooks/libpromrw.a (cargo build --lib --profile test-hooks --features
// test-hooks), which has the test-only exports a release build lacks; instead of
// link_static.go's and link_dynamic.go's libraries. nolib/ stops the link with a message when
// it is missing.

// #cgo linux,amd64 LDFLAGS: -L${SRCDIR}/../../target/test-hooks -L${SRCDIR}/nolib -l:libpromrw.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
import "C"
