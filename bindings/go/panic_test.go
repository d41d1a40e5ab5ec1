//go:build promrw_test_hooks

package promrw

import (
	"os"
	"testing"
)

// Run with -tags promrw_test_hooks, against a test-hooks build of the library
// (cargo build --lib --profile test-hooks --features test-hooks; .ci/go.sh does both).

func TestForcedPanicIsAnError(t *testing.T) {
	// The library's panic hook prints the panic message; spare the test log a backtrace.
	if _, set := os.LookupEnv("RUST_BACKTRACE"); !set {
		os.Setenv("RUST_BACKTRACE", "0")
		defer os.Unsetenv("RUST_BACKTRACE")
	}
	for i := 0; i < 2; i++ {
		err := testForcePanic()
		expectCode(t, "promrw_test_force_panic", err, CodePanic, ErrPanic, "panic")
	}
	if Version() == "" {
		t.Fatal("the library no longer answers after a panic")
	}
}
