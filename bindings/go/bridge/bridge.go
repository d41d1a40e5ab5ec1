package bridge

import (
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	promrw "github.com/promrw/promrw/bindings/go"
)

// Option configures New and Push.
type Option func(*options)

type options struct {
	logf func(format string, args ...any)
}

// WithLogger sets the function that logs refused samples (one line per collection) and the
// failed collections of a started Collector. The default is log.Printf; nil discards.
func WithLogger(logf func(format string, args ...any)) Option {
	return func(o *options) { o.logf = logf }
}

func newOptions(opts []Option) options {
	o := options{logf: log.Printf}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Result is what one collection did.
type Result struct {
	// TimestampMs is the collection's time in ms since the Unix epoch: the timestamp of its
	// samples that have none of their own, and of its stale markers.
	TimestampMs int64
	// Samples is the number of float samples appended.
	Samples int
	// Histograms is the number of native histograms appended.
	Histograms int
	// Stale is the number of stale markers appended (series of the previous collection that
	// vanished; each was then released).
	Stale int
	// Registered is the number of series registered (not in the cache).
	Registered int
	// Series is the number of distinct series of the collection.
	Series int
	// Refused is the number of samples and histograms not appended for a reason other than
	// being out of order (logged), series refused by the library included.
	Refused int
	// FirstRefusal describes the first of them ("" when Refused is 0).
	FirstRefusal string
}

// Stats are a Collector's counters.
type Stats struct {
	// Collections is the number of collections that completed (Start's and Push's).
	Collections uint64
	// Errors is the number of collections that failed (Gather or the sender returned an
	// error).
	Errors uint64
	// LastError is the error of the most recent failed collection, or nil.
	LastError error
	// Last is the Result of the most recent completed collection.
	Last Result
}

// Collector collects a Gatherer into a Sender: Push runs one collection, Start runs them
// every interval on a goroutine. Collections share the series cache and the staleness
// tracking, and run one at a time. A Collector is safe for concurrent use.
type Collector struct {
	gatherer prometheus.Gatherer
	interval time.Duration
	logf     func(format string, args ...any)

	mu    sync.Mutex // held during a collection; guards st and stats
	st    *state
	stats Stats

	runMu   sync.Mutex // guards started, stop, done
	started bool
	stop    chan struct{}
	done    chan struct{}
}

// New returns a Collector of gatherer (prometheus.DefaultGatherer, a *prometheus.Registry,
// prometheus.Gatherers, ...) into sender, every interval once started. It starts nothing:
// call Start for background collections, or Push. Errors: a nil gatherer or sender, an
// interval not positive.
func New(gatherer prometheus.Gatherer, sender *promrw.Sender, interval time.Duration, opts ...Option) (*Collector, error) {
	if gatherer == nil {
		return nil, errors.New("bridge: the gatherer is nil")
	}
	if sender == nil {
		return nil, errors.New("bridge: the sender is nil")
	}
	if interval <= 0 {
		return nil, fmt.Errorf("bridge: the interval must be positive, not %v", interval)
	}
	o := newOptions(opts)
	return &Collector{
		gatherer: gatherer,
		interval: interval,
		logf:     o.logf,
		st:       newState(sender, o.logf),
	}, nil
}

// Start starts collecting on a goroutine: a collection at once, then one every interval, at a
// fixed rate (a collection taking longer than the interval delays the next one; none is run
// twice). A failed collection is logged and counted (Stats().Errors) and the goroutine goes
// on, unless the sender was closed: then it ends. Start returns an error when the Collector
// was started before.
func (c *Collector) Start() error {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.started {
		return errors.New("bridge: the collector was started before")
	}
	c.started = true
	c.stop = make(chan struct{})
	c.done = make(chan struct{})
	go c.run(c.stop, c.done)
	return nil
}

func (c *Collector) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	for {
		if _, err := c.Push(); err != nil {
			if errors.Is(err, promrw.ErrClosed) {
				c.log("promrw bridge: the sender was closed; collections stop")
				return
			}
			c.log("promrw bridge: a collection failed: %v", err)
		}
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
	}
}

// Stop stops a started Collector: no collection starts after the call, one in progress
// finishes, and Stop returns when the goroutine has ended. It does nothing when the Collector
// was not started or was stopped before.
func (c *Collector) Stop() {
	c.runMu.Lock()
	stop, done := c.stop, c.done
	c.stop = nil
	c.runMu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
}

// Push runs one collection now on the calling goroutine: Gather, then every sample appended,
// vanished series marked stale. Errors: Gather's (nothing is appended then), or the sender's
// CodeClosed; refused samples are not errors (see Result.Refused).
func (c *Collector) Push() (Result, error) {
	return c.PushAt(0)
}

// PushAt is Push with the collection's time given in ms since the Unix epoch (0: now); it
// should be later than the previous collection's.
func (c *Collector) PushAt(tsMs int64) (Result, error) {
	families, err := c.gatherer.Gather()
	if err != nil {
		err = fmt.Errorf("bridge: gather: %w", err)
		c.mu.Lock()
		c.stats.Errors++
		c.stats.LastError = err
		c.mu.Unlock()
		return Result{}, err
	}
	return c.PushFamilies(families, tsMs)
}

// PushFamilies is a collection of families gathered before (by the Collector's gatherer or
// any other source of dto.MetricFamily), at tsMs (0: now). It shares the Collector's cache
// and staleness tracking with Push.
func (c *Collector) PushFamilies(families []*dto.MetricFamily, tsMs int64) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, err := c.st.push(families, tsMs)
	if err != nil {
		c.stats.Errors++
		c.stats.LastError = err
		return res, err
	}
	c.stats.Collections++
	c.stats.Last = res
	return res, nil
}

// Stats returns the Collector's counters.
func (c *Collector) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Collector) log(format string, args ...any) {
	if c.logf != nil {
		c.logf(format, args...)
	}
}

// Push gathers gatherer once and appends its samples to sender, with no state kept: every
// series is registered (the library returns the reference it already has for a label set)
// and nothing is marked stale. For repeated collections use a Collector (New, then Push or
// Start), which caches the references and marks vanished series stale.
func Push(gatherer prometheus.Gatherer, sender *promrw.Sender, opts ...Option) (Result, error) {
	if gatherer == nil || sender == nil {
		return Result{}, errors.New("bridge: the gatherer or the sender is nil")
	}
	families, err := gatherer.Gather()
	if err != nil {
		return Result{}, fmt.Errorf("bridge: gather: %w", err)
	}
	o := newOptions(opts)
	return newState(sender, o.logf).push(families, 0)
}
