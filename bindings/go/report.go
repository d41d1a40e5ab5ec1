package promrw

// #include "promrw_cgo.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// Report is what the most recent flush or close found (promrw_report), for all endpoints
// together and, in Endpoints, for each. Counts cover the window since the flush or close
// before it returned. A *SamplesLostError or *TimeoutError carries the report of the call
// that returned it; LastReport returns the latest.
type Report struct {
	// SamplesFailed counts samples a receiver rejected (non-retryable status) or abandoned at
	// a close deadline.
	SamplesFailed uint64
	// SamplesDroppedTooOld counts samples dropped as older than sample_age_limit.
	SamplesDroppedTooOld uint64
	// SamplesDroppedQueueFull counts samples dropped because a queue was full under the
	// drop_newest policy.
	SamplesDroppedQueueFull uint64
	// SamplesPending counts samples still pending when the call returned (non-zero after a
	// timeout).
	SamplesPending uint64
	// LastHTTPStatus is the HTTP status of the most recent failed attempt (rejected or
	// retried) over all endpoints; 0 when there was none or it failed without a response
	// (connection refused, timeout).
	LastHTTPStatus uint32
	// TimedOut is true when the flush or close hit its deadline.
	TimedOut bool
	// LastErrorUnixMs is when that most recent failed attempt ended, milliseconds since the
	// Unix epoch; 0 when there was none.
	LastErrorUnixMs int64
	// SamplesDroppedWAL counts samples dropped unsent with the oldest segments of the WAL
	// (promrw.wal.max_bytes reached with full: drop_oldest, or older than
	// promrw.wal.max_age); 0 in memory mode.
	SamplesDroppedWAL uint64
	// Message is the whole message the flush or close carried (what was lost and what is
	// pending per endpoint, with each one's last error; empty when it returned nil), from
	// promrw_sender_last_report_text with PROMRW_ALL_ENDPOINTS.
	Message string
	// Endpoints holds the report of each endpoint, in configuration order.
	Endpoints []EndpointReport
}

// EndpointReport is what the most recent flush or close found for one endpoint
// (promrw_report for that endpoint). Counts cover the window since the flush or close before
// it returned.
type EndpointReport struct {
	// SamplesFailed counts samples the endpoint's receiver rejected (non-retryable status) or
	// that were abandoned at a close deadline.
	SamplesFailed uint64
	// SamplesDroppedTooOld counts samples dropped as older than sample_age_limit.
	SamplesDroppedTooOld uint64
	// SamplesDroppedQueueFull counts samples dropped because the queue was full under the
	// drop_newest policy.
	SamplesDroppedQueueFull uint64
	// SamplesPending counts samples still pending when the call returned (non-zero after a
	// timeout).
	SamplesPending uint64
	// LastHTTPStatus is the HTTP status of the endpoint's most recent failed attempt
	// (rejected or retried); 0 when there was none or it failed without a response
	// (connection refused, timeout).
	LastHTTPStatus uint32
	// TimedOut is true when the flush or close hit its deadline.
	TimedOut bool
	// LastErrorUnixMs is when that most recent failed attempt ended, milliseconds since the
	// Unix epoch; 0 when there was none.
	LastErrorUnixMs int64
	// SamplesDroppedWAL counts samples dropped unsent with the oldest segments of the WAL
	// (promrw.wal.max_bytes reached with full: drop_oldest, or older than
	// promrw.wal.max_age); 0 in memory mode.
	SamplesDroppedWAL uint64
	// LastError is the endpoint's most recent failed attempt, e.g. "server returned HTTP
	// status 404: 404 page not found" or "request failed: ..." (empty when there was none),
	// from promrw_sender_last_report_text.
	LastError string
}

// LastReport returns the report of the most recent flush or close that returned, on this or
// any other goroutine (all zero before the first); a flush or close returning meanwhile
// replaces it. It works after Close, which keeps the report of the closing call.
func (s *Sender) LastReport() Report {
	s.mu.RLock()
	p := s.ptr()
	if p == nil {
		r := s.final.report.clone()
		s.mu.RUnlock()
		return r
	}
	r := lastReport(p)
	s.mu.RUnlock()
	runtime.KeepAlive(s)
	return r
}

// clone returns a copy of r that shares no memory with it.
func (r Report) clone() Report {
	if r.Endpoints != nil {
		r.Endpoints = append([]EndpointReport(nil), r.Endpoints...)
	}
	return r
}

// lastReport reads the report of all endpoints and of each (the caller holds s.mu for
// reading).
func lastReport(p *C.promrw_sender) Report {
	var r Report
	all := C.size_t(C.PROMRW_ALL_ENDPOINTS)
	e, _ := endpointReport(p, all)
	r.SamplesFailed = e.SamplesFailed
	r.SamplesDroppedTooOld = e.SamplesDroppedTooOld
	r.SamplesDroppedQueueFull = e.SamplesDroppedQueueFull
	r.SamplesPending = e.SamplesPending
	r.LastHTTPStatus = e.LastHTTPStatus
	r.TimedOut = e.TimedOut
	r.LastErrorUnixMs = e.LastErrorUnixMs
	r.SamplesDroppedWAL = e.SamplesDroppedWAL
	r.Message = e.LastError

	cs := newCStats()
	if C.promrw_sender_stats(p, &cs) != C.PROMRW_OK {
		return r
	}
	n := int(cs.endpoints)
	r.Endpoints = make([]EndpointReport, 0, n)
	for i := 0; i < n; i++ {
		e, ok := endpointReport(p, C.size_t(i))
		if !ok {
			break
		}
		r.Endpoints = append(r.Endpoints, e)
	}
	return r
}

// endpointReport reads the report of one endpoint, or of all of them with
// PROMRW_ALL_ENDPOINTS (LastError then holds the whole message); ok is false when the library
// refused (an endpoint out of range).
func endpointReport(p *C.promrw_sender, endpoint C.size_t) (e EndpointReport, ok bool) {
	var cr C.promrw_report
	cr.struct_size = C.sizeof_promrw_report
	if C.promrw_sender_last_report(p, endpoint, &cr) != C.PROMRW_OK {
		return e, false
	}
	e = EndpointReport{
		SamplesFailed:           uint64(cr.samples_failed),
		SamplesDroppedTooOld:    uint64(cr.samples_dropped_too_old),
		SamplesDroppedQueueFull: uint64(cr.samples_dropped_queue_full),
		SamplesPending:          uint64(cr.samples_pending),
		LastHTTPStatus:          uint32(cr.last_http_status),
		TimedOut:                cr.timed_out != 0,
		LastErrorUnixMs:         int64(cr.last_error_unix_ms),
		SamplesDroppedWAL:       uint64(cr.samples_dropped_wal),
	}
	e.LastError, _ = readText(256, func(buf *C.char, cap C.size_t, n *C.size_t) C.promrw_status {
		return C.promrw_sender_last_report_text(p, endpoint, buf, cap, n)
	})
	return e, true
}

// readText calls a function that writes NUL-terminated text into a caller buffer, with the
// convention of promrw_sender_metrics_text: on PROMRW_BUFFER_TOO_SMALL it writes the size
// needed (including the NUL), and readText calls again with a buffer that size plus some
// slack, as the text can grow between two calls. ok is false when the function returned
// another status.
func readText(initial int, call func(buf *C.char, cap C.size_t, n *C.size_t) C.promrw_status) (text string, ok bool) {
	buf := make([]byte, initial)
	for attempt := 0; attempt < 8; attempt++ {
		var n C.size_t
		switch call((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n) {
		case C.PROMRW_OK:
			return string(buf[:n]), true
		case C.PROMRW_BUFFER_TOO_SMALL:
			buf = make([]byte, int(n)+int(n)/4+256)
		default:
			return "", false
		}
	}
	return "", false
}
