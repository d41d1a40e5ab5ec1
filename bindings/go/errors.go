package promrw

// #include "promrw_cgo.h"
import "C"

import "strconv"

// Code is a promrw status code (promrw_status in promrw.h). The values are stable and grouped
// by class: 0 success, 1xx bad arguments, 2xx refused operations (the caller may handle them
// and try again), 3xx runtime failures, 9xx internal errors.
type Code uint32

// The status codes of promrw.h (the PROMRW_* macros; checked when compiling).
const (
	// CodeOK is success; it is never the code of an *Error returned by this package.
	CodeOK Code = 0
	// CodeInvalidArgument means an argument was malformed (for example AppendColumns with
	// columns of different lengths), or the linked library is not the version this package
	// was compiled for.
	CodeInvalidArgument Code = 100
	// CodeInvalidConfig means the configuration text or values are invalid; the message
	// names the field.
	CodeInvalidConfig Code = 101
	// CodeInvalidLabels means a label set broke the Remote Write label rules or was not
	// UTF-8; the message says which.
	CodeInvalidLabels Code = 102
	// CodeUnknownSeries means the series reference is unknown or was released.
	CodeUnknownSeries Code = 103
	// CodeBufferTooSmall is handled inside MetricsText; callers do not see it.
	CodeBufferTooSmall Code = 104
	// CodeOutOfOrder means the sample's timestamp is not after the last accepted one of its
	// series.
	CodeOutOfOrder Code = 200
	// CodeQueueFull means the queue is full and the overflow policy refused the sample (the
	// `fail` policy, or `block` after waiting block_timeout); it may be appended again.
	CodeQueueFull Code = 201
	// CodeClosed means the sender was closed.
	CodeClosed Code = 202
	// CodeTimeout means a deadline passed before the operation completed (Flush, Close).
	CodeTimeout Code = 300
	// CodeShardDead means a shard thread died; its samples can no longer be sent.
	CodeShardDead Code = 301
	// CodeIO means an I/O or system call failed (for example a thread could not start).
	CodeIO Code = 302
	// CodeSamplesLost means some samples accepted before a flush or close were rejected by a
	// receiver or dropped since the previous flush or close returned; the error is a
	// *SamplesLostError, whose Report (like Sender.LastReport) says how many and why.
	CodeSamplesLost Code = 303
	// CodeForked means the sender was created in another process: this is a child made by
	// fork(), where the sender's threads do not run. Only promrw_sender_free may still be
	// called on it (it frees memory without waiting for threads); create senders after
	// forking. Go programs do not fork; the code exists for completeness.
	CodeForked Code = 304
	// CodePanic means a panic inside the library was caught at its boundary: a promrw bug.
	CodePanic Code = 900
)

// Compile-time checks that the codes equal promrw.h's macros: a difference either
// overflows or indexes past the end of a one-element array.
var (
	_ = [1]struct{}{}[CodeOK-C.PROMRW_OK]
	_ = [1]struct{}{}[CodeInvalidArgument-C.PROMRW_INVALID_ARGUMENT]
	_ = [1]struct{}{}[CodeInvalidConfig-C.PROMRW_INVALID_CONFIG]
	_ = [1]struct{}{}[CodeInvalidLabels-C.PROMRW_INVALID_LABELS]
	_ = [1]struct{}{}[CodeUnknownSeries-C.PROMRW_UNKNOWN_SERIES]
	_ = [1]struct{}{}[CodeBufferTooSmall-C.PROMRW_BUFFER_TOO_SMALL]
	_ = [1]struct{}{}[CodeOutOfOrder-C.PROMRW_OUT_OF_ORDER]
	_ = [1]struct{}{}[CodeQueueFull-C.PROMRW_QUEUE_FULL]
	_ = [1]struct{}{}[CodeClosed-C.PROMRW_CLOSED]
	_ = [1]struct{}{}[CodeTimeout-C.PROMRW_TIMEOUT]
	_ = [1]struct{}{}[CodeShardDead-C.PROMRW_SHARD_DEAD]
	_ = [1]struct{}{}[CodeIO-C.PROMRW_IO]
	_ = [1]struct{}{}[CodeSamplesLost-C.PROMRW_SAMPLES_LOST]
	_ = [1]struct{}{}[CodeForked-C.PROMRW_FORKED]
	_ = [1]struct{}{}[CodePanic-C.PROMRW_PANIC]
)

// String returns the library's short description of the code, such as "queue full"
// (promrw_status_str), or "unknown status" for a code this library version does not define.
func (c Code) String() string {
	return C.GoString(C.promrw_status_str(C.promrw_status(c)))
}

// Error is the error type of every failing call in this package, returned as is or wrapped
// in a *SamplesLostError or *TimeoutError (Flush, Close), which carry a Report. Use
// errors.As to get at the code, or errors.Is with one of the Err* values to test for a code:
//
//	var perr *promrw.Error
//	if errors.As(err, &perr) && perr.Code() == promrw.CodeQueueFull { ... }
//	if errors.Is(err, promrw.ErrQueueFull) { ... }
type Error struct {
	code Code
	msg  string
}

// Code returns the promrw status code.
func (e *Error) Code() Code { return e.code }

// Message returns the library's message (for example the configuration field at fault), or
// the code's description when the library gave no message.
func (e *Error) Message() string {
	if e.msg == "" {
		return e.code.String()
	}
	return e.msg
}

// Error formats the error as "promrw: <message> (<code name> <code>)".
func (e *Error) Error() string {
	return "promrw: " + e.Message() + " (" + e.code.String() + " " + strconv.FormatUint(uint64(e.code), 10) + ")"
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, promrw.ErrClosed) tests for CodeClosed whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.code == e.code
}

// Values to compare errors with errors.Is (only the code is compared).
var (
	ErrInvalidArgument = &Error{code: CodeInvalidArgument}
	ErrInvalidConfig   = &Error{code: CodeInvalidConfig}
	ErrInvalidLabels   = &Error{code: CodeInvalidLabels}
	ErrUnknownSeries   = &Error{code: CodeUnknownSeries}
	ErrOutOfOrder      = &Error{code: CodeOutOfOrder}
	ErrQueueFull       = &Error{code: CodeQueueFull}
	ErrClosed          = &Error{code: CodeClosed}
	ErrTimeout         = &Error{code: CodeTimeout}
	ErrShardDead       = &Error{code: CodeShardDead}
	ErrIO              = &Error{code: CodeIO}
	ErrSamplesLost     = &Error{code: CodeSamplesLost}
	ErrForked          = &Error{code: CodeForked}
	ErrPanic           = &Error{code: CodePanic}
)

// SamplesLostError is the error of a Flush or Close that returned PROMRW_SAMPLES_LOST: some
// samples accepted before it were rejected by a receiver or dropped since the previous flush
// or close returned. errors.Is(err, ErrSamplesLost) is true,
// and errors.As(err, &perr) gives the *Error (CodeSamplesLost, with Report.Message).
type SamplesLostError struct {
	// Report says how many samples were lost and why: the report of the call that returned
	// the error.
	Report Report
}

// Error formats the error as *Error does, with the report's message.
func (e *SamplesLostError) Error() string { return e.Unwrap().Error() }

// Unwrap returns the *Error: CodeSamplesLost with the report's message.
func (e *SamplesLostError) Unwrap() error {
	return &Error{code: CodeSamplesLost, msg: e.Report.Message}
}

// Code returns CodeSamplesLost.
func (e *SamplesLostError) Code() Code { return CodeSamplesLost }

// TimeoutError is the error of a Flush or Close that returned PROMRW_TIMEOUT: the deadline
// passed first (it takes precedence over samples lost; the report says what is still
// pending and the last error of each endpoint). errors.Is(err, ErrTimeout) is true, and
// errors.As(err, &perr) gives the *Error (CodeTimeout, with Report.Message).
type TimeoutError struct {
	// Report is the report of the call that returned the error: TimedOut, what is still
	// pending (Flush) or was abandoned as failed (Close), and whatever was lost besides.
	Report Report
}

// Error formats the error as *Error does, with the report's message.
func (e *TimeoutError) Error() string { return e.Unwrap().Error() }

// Unwrap returns the *Error: CodeTimeout with the report's message.
func (e *TimeoutError) Unwrap() error { return &Error{code: CodeTimeout, msg: e.Report.Message} }

// Code returns CodeTimeout.
func (e *TimeoutError) Code() Code { return CodeTimeout }

// reportError converts the status of a flush or close to nil, a *SamplesLostError or a
// *TimeoutError carrying r, or an *Error for any other status.
func reportError(st C.promrw_status, r Report) error {
	switch st {
	case C.PROMRW_OK:
		return nil
	case C.PROMRW_SAMPLES_LOST:
		return &SamplesLostError{Report: r}
	case C.PROMRW_TIMEOUT:
		return &TimeoutError{Report: r}
	}
	return statusError(st)
}

// statusError converts a status to nil (PROMRW_OK) or an *Error without a message.
func statusError(st C.promrw_status) error {
	if st == C.PROMRW_OK {
		return nil
	}
	return &Error{code: Code(st)}
}

// takeError converts a status and an optional promrw_error (which it frees) to nil or an
// *Error carrying the library's message.
func takeError(st C.promrw_status, e *C.promrw_error) error {
	if e != nil {
		defer C.promrw_error_free(e)
	}
	if st == C.PROMRW_OK {
		return nil
	}
	err := &Error{code: Code(st)}
	if e != nil {
		if m := C.promrw_error_message(e); m != nil {
			err.msg = C.GoString(m)
		}
	}
	return err
}

// newError makes an *Error raised by this package itself (not by the library).
func newError(code Code, msg string) *Error {
	return &Error{code: code, msg: msg}
}
