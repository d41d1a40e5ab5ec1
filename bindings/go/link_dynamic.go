//go:build promrw_dynamic

package promrw

// With `-tags promrw_dynamic`: link against lib/linux-amd64/libpromrw.so (copied in by
// sync-native.sh). The path is recorded as an rpath, so programs find the library there at run
// time; after moving the library elsewhere, set LD_LIBRARY_PATH to its directory.

// #cgo linux,amd64 LDFLAGS: -L${SRCDIR}/lib/linux-amd64 -Wl,-rpath,${SRCDIR}/lib/linux-amd64 -lpromrw
import "C"
