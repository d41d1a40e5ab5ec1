// Package nolib holds two GNU ld linker scripts named libpromrw.a and libpromrw.so, the last
// place the linker searches for the library: when it finds them, the link stops with a
// message naming the command that builds the library. It exists so that `go mod vendor`
// keeps this directory (see ../includebuild.go); it has no API.
package nolib
