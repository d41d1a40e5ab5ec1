//go:build promrw_test_hooks

package promrw

// With `-tags promrw_test_hooks` (tests only): the library's test-only exports, which only a
// test-hooks build of the library has (cargo build --lib --profile test-hooks --features
// test-hooks, in target/test-hooks/; link_testhooks.go links it), declared by promrw.h only
// when PROMRW_TEST_HOOKS is defined.

// #cgo CFLAGS: -DPROMRW_TEST_HOOKS
// #include "promrw_cgo.h"
import "C"

// testForcePanic calls promrw_test_force_panic, which panics inside the library's panic
// boundary and returns PROMRW_PANIC.
func testForcePanic() error {
	return statusError(C.promrw_test_force_panic())
}
