package promrw

// #include "promrw_cgo.h"
//
// // Defined in log_trampoline.c: registers the Go log trampolines with a cgo.Handle as
// // user_data.
// promrw_status promrw_go_set_log(promrw_config *cfg, uint32_t min_level, uintptr_t handle);
import "C"

import (
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync/atomic"
)

// Level is the level of a library log record.
type Level uint32

// The log levels of promrw.h (the PROMRW_LOG_* macros; checked when compiling).
const (
	// LevelDebug is per-request detail.
	LevelDebug Level = 0
	// LevelInfo is lifecycle events.
	LevelInfo Level = 1
	// LevelWarn is retries, dropped samples and rejected batches.
	LevelWarn Level = 2
	// LevelError is failures that lose data or stop a shard.
	LevelError Level = 3
)

// Compile-time checks that the levels equal promrw.h's macros.
var (
	_ = [1]struct{}{}[LevelDebug-C.PROMRW_LOG_DEBUG]
	_ = [1]struct{}{}[LevelInfo-C.PROMRW_LOG_INFO]
	_ = [1]struct{}{}[LevelWarn-C.PROMRW_LOG_WARN]
	_ = [1]struct{}{}[LevelError-C.PROMRW_LOG_ERROR]
)

// String returns "debug", "info", "warn" or "error".
func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	}
	return "level(" + strconv.FormatUint(uint64(l), 10) + ")"
}

// SetLogLevel changes the minimum level of the records the sender passes to its log
// function (WithLogger), from the next record on, for all of the sender's threads (other
// Senders keep theirs). Use it to follow your logging framework's level.
//
// It may be called from any goroutine, concurrently with other calls on s (records being
// formatted meanwhile may still use the previous level); not from the log function, which
// must not call methods of the Sender. The level lasts until the next call.
//
// It returns nil (also when the Sender has no WithLogger function: then nothing is logged
// whatever the level); CodeClosed after Close; CodeInvalidArgument when level is not one of
// LevelDebug .. LevelError.
func (s *Sender) SetLogLevel(level Level) error {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		s.mu.RUnlock()
		return errSenderClosed
	}
	st := C.promrw_sender_set_log_level(p, C.uint32_t(level))
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	if st == C.PROMRW_INVALID_ARGUMENT {
		return newError(CodeInvalidArgument, "SetLogLevel: invalid log level "+level.String())
	}
	return statusError(st)
}

// logSink is what the cgo.Handle given to the library as user_data refers to.
type logSink struct {
	fn func(Level, string)
}

// logHandlesFreed counts log handles released by the library's free hook (for tests).
var logHandlesFreed uint64

// setLogger registers fn on cfg. On success the library owns a cgo.Handle, deleted by its
// free hook once the configuration and every sender made from it are freed.
func setLogger(cfg *C.promrw_config, minLevel Level, fn func(Level, string)) error {
	h := cgo.NewHandle(&logSink{fn: fn})
	st := C.promrw_go_set_log(cfg, C.uint32_t(minLevel), C.uintptr_t(h))
	if st != C.PROMRW_OK {
		// On failure the library keeps nothing and does not call the free hook.
		h.Delete()
		return newError(Code(st), "WithLogger: invalid log level "+minLevel.String())
	}
	return nil
}

// deliverLog is called (through log_export.go) for each log record.
func deliverLog(h cgo.Handle, level Level, msg string) {
	defer func() { _ = recover() }() // never unwind into the library
	if sink, ok := h.Value().(*logSink); ok && sink.fn != nil {
		sink.fn(level, msg)
	}
}

// releaseLog is called (through log_export.go) once the library drops the handle.
func releaseLog(h cgo.Handle) {
	defer func() { _ = recover() }()
	h.Delete()
	atomic.AddUint64(&logHandlesFreed, 1)
}
