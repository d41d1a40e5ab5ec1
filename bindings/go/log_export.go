package promrw

// Go functions called from C (log_trampoline.c). A file with //export may only declare
// things in its preamble, so the C side lives in log_trampoline.c.

// #include <stddef.h>
// #include <stdint.h>
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export promrwGoLog
func promrwGoLog(handle C.uintptr_t, level C.uint32_t, msg *C.char, n C.size_t) {
	var text string
	if msg != nil && n > 0 {
		text = string(unsafe.Slice((*byte)(unsafe.Pointer(msg)), int(n)))
	}
	deliverLog(cgo.Handle(handle), Level(level), text)
}

//export promrwGoFreeLog
func promrwGoFreeLog(handle C.uintptr_t) {
	releaseLog(cgo.Handle(handle))
}
