// Package promrw sends Prometheus Remote Write (1.0 and 2.0) samples from Go programs through
// promrw, an embeddable sender written in Rust and used here through its C ABI (cgo).
//
// A Sender is made from a configuration in the Prometheus remote_write schema. Series are
// registered once, by label set, and give a SeriesRef; samples are appended with the
// reference, a timestamp in milliseconds and a value. The library batches, compresses and
// sends them on its own threads, retrying as Prometheus does.
//
//	s, err := promrw.New("remote_write:\n  - url: http://127.0.0.1:9090/api/v1/write\n")
//	if err != nil {
//		return err
//	}
//	defer s.Close(10 * time.Second)
//	ref, err := s.Series(map[string]string{"__name__": "jobs_done_total", "job": "worker"})
//	if err != nil {
//		return err
//	}
//	err = s.Append(ref, time.Now().UnixMilli(), 42)
//
// For many samples, AppendBatch (or AppendColumns) hands a whole slice to the library in
// one cgo call, without copying it.
//
// Native histograms go in with AppendHistogram (a *Histogram, its slices borrowed for the
// call and read without a copy), exemplars and start timestamps with AppendWithExemplar,
// AppendWithStart or the arguments of AppendHistogram, and a series' type, help and unit
// with SetMetadata. Remote Write 2.0 endpoints (protobuf_message:
// io.prometheus.write.v2.Request) send them all; a 1.0 endpoint sends histograms only with
// send_native_histograms: true and exemplars only with send_exemplars: true, and counts the
// ones it drops in Stats.
//
// # Errors
//
// Every error returned by this package is an *Error carrying a Code (the promrw_status of
// promrw.h) and the library's message, or wraps one. Use errors.As to get the code, or
// errors.Is with ErrQueueFull, ErrOutOfOrder, ErrClosed and the other Err* values. The
// package never panics.
//
// Flush and Close tell whether samples were lost: they return nil only when every sample
// accepted before the call was acknowledged and nothing was rejected or dropped since the
// previous flush or close returned. Otherwise they return a *SamplesLostError
// (errors.Is(err, ErrSamplesLost)) or, when the deadline passed first, a *TimeoutError
// (errors.Is(err, ErrTimeout)); both carry a Report saying how many samples were lost and
// why (the HTTP status and message of each endpoint's last failure). LastReport returns the
// report of the most recent Flush or Close.
//
// # Concurrency and lifetime
//
// A Sender may be used from any number of goroutines at once. Close flushes for up to a
// timeout, stops the library's threads and frees its memory; it is idempotent, and calls
// after it fail with CodeClosed, except Stats, MetricsText and LastReport, which return the
// final figures. A finalizer closes and frees a Sender that becomes unreachable without
// Close, but only as a backstop: call Close. Senders start threads and do not survive fork.
//
// # Building
//
// cgo is required (CGO_ENABLED=1, a C toolchain). The package links the promrw static
// library libpromrw.a and compiles against promrw.h. In a checkout of the repository they
// are the repository's own (target/release after cargo build --release, and include/);
// elsewhere (vendored, or the module cache) they are copies made in the module directory by
// sync-native.sh (lib/linux-amd64/, include/), which win when present. With the build tag
// promrw_dynamic it links libpromrw.so instead. A build that finds neither stops with a
// message naming the command to run. See the module's README.md. Built with the tag debug, every call forces a garbage collection
// first, to expose lifetime bugs in the binding.
package promrw
