//go:build debug

package promrw

// debugGC: built with -tags debug, every call forces a garbage collection just after taking
// the library handle (see Sender.ptr), to expose a missing runtime.KeepAlive.
const debugGC = true
