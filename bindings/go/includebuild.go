//go:build includebuild

package promrw

// This file is never compiled (the includebuild tag is never set). It imports the
// directories that hold the native header and libraries, and the nolib/ fallback, so that
// `go mod vendor`, which considers every build tag, copies them (with the files
// sync-native.sh put there) into a vendoring module's vendor/ tree. The same pattern as
// wasmtime-go.
import (
	_ "github.com/promrw/promrw/bindings/go/include"
	_ "github.com/promrw/promrw/bindings/go/lib"
	_ "github.com/promrw/promrw/bindings/go/lib/linux-amd64"
	_ "github.com/promrw/promrw/bindings/go/nolib"
)
