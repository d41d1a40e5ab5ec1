// Package bridge sends what a client_golang Gatherer (a *prometheus.Registry, for instance)
// gathers through a *promrw.Sender, by Remote Write, so that an application instrumented with
// github.com/prometheus/client_golang can push its metrics instead of (or besides) being
// scraped. It mirrors the Python bridge (bindings/python/src/promrw/bridge.py): same series,
// same staleness, same caching, same treatment of refusals.
//
//	c, err := bridge.New(prometheus.DefaultGatherer, sender, 15*time.Second)
//	if err != nil {
//		return err
//	}
//	c.Start()      // a collection now, then one every 15 s
//	defer c.Stop()
//
// New makes a Collector; Start runs a collection at once and then one every interval on a
// goroutine until Stop; Collector.Push runs one collection on the calling goroutine (for
// instance a last one before closing the sender). The package function Push is a one-shot
// collection with no state kept.
//
// # Conversions
//
// The series names and labels are those of the exposition formats, with __name__ added; the
// metadata, set once per series when it is registered (SetMetadata), carries the family's
// type, help text and unit (the unit only with a client_model that has MetricFamily.Unit,
// 0.6.0 and later; Debian's 0.3.0 has none):
//
//	family type (dto)   series                                          metadata type
//	COUNTER             <name>_total (<name> when it ends in _total)    counter
//	GAUGE               <name>                                          gauge
//	HISTOGRAM           <name>_bucket{le}, <name>_sum, <name>_count      histogram
//	                    and/or the native histogram <name>
//	GAUGE_HISTOGRAM     <name>_bucket{le}, <name>_gsum, <name>_gcount    gaugehistogram
//	                    and/or the native gauge histogram <name>
//	SUMMARY             <name>{quantile}, <name>_sum, <name>_count       summary
//	UNTYPED             <name>                                          unknown
//
// client_model's dto has no info or stateset type, so there are none here. The le and
// quantile values are formatted as Prometheus formats them when it scrapes (and as the Python
// bridge does): the shortest representation that reads back as the same float, with ".0"
// added to an integer ("1.0", "0.25", "1e+06", "+Inf"). A classic histogram whose last
// bucket is not +Inf gets a le="+Inf" bucket holding the count, as in the text format.
//
// A histogram with native buckets (a schema, spans, a zero threshold or zero count, as
// client_golang's NativeHistogramBucketFactor makes) is appended as one native histogram
// (AppendHistogram; a float histogram when its counts are floats) on the series <name>, with
// reset hint "gauge" for a GAUGE_HISTOGRAM; its classic series are sent besides it when it
// also has classic buckets, as Prometheus does with always_scrape_classic_histograms.
// Endpoints send native histograms with Remote Write 2.0, or 1.0 with
// send_native_histograms: true (others count them in Stats().HistogramsDropped).
//
// Created timestamps are start timestamps: with a client_model whose Counter, Histogram and
// Summary carry CreatedTimestamp (0.4.0 and later, client_golang 1.17 and later), the created
// time is the start timestamp of the samples of the same child: _total; _bucket, _sum,
// _count and the native histogram; _sum, _count (not the quantiles). Remote Write 2.0
// endpoints send it; 1.0 has no field for it. A start timestamp after the sample's timestamp
// is left unset. Debian's client_model 0.3.0 (with client_golang 1.14) has no created
// timestamps, so with it no start timestamp is set.
//
// Exemplars (of counters and classic buckets) go with their sample, their timestamp in ms
// (endpoints send them only with send_exemplars: true, or with Remote Write 2.0).
//
// Each sample's timestamp is its own when the metric has one (TimestampMs), else the
// collection's time: one timestamp for the whole collection (now, or 1 ms after the previous
// collection's when that is not later).
//
// # Staleness
//
// A series present in the previous collection of the same Collector and absent from this one
// gets a stale marker (AppendStale, or AppendStaleHistogram for a native histogram) at this
// collection's time and is then released (ReleaseSeries), as Prometheus marks the series
// that vanish from a scrape. A collection whose Gather fails (returns an error, even with
// some families) appends nothing and marks nothing.
//
// # Caching and cost
//
// Series references are kept between collections, keyed by (sample name, sorted labels,
// labels with empty values left out as the library leaves them out): a steady registry
// registers nothing after its first collection, and the entries of vanished series are
// dropped with them. In the steady state converting a gathered registry allocates nothing
// per sample: the cache key is built in a reused buffer and looked up without a copy, and the
// samples without an exemplar or start timestamp go to the library in one AppendBatch call
// per collection. Samples with an exemplar or a start timestamp, and native histograms, take
// one call each. Gather itself allocates (it builds the dto messages); docs/BENCHMARKS.md
// gives the bridge's own cost per sample against Gather's.
//
// # Refusals
//
// A sample refused as out of order (a metric repeating its own timestamp, a label set listed
// twice) is skipped, as Prometheus ignores a scrape's duplicates; other refused samples (and
// series whose labels the library refuses) are skipped, counted in Result.Refused and logged,
// one line per collection (WithLogger; the default is the standard library's log.Printf). A
// closed sender (errors.Is(err, promrw.ErrClosed)) ends the collection with that error, and
// ends a started Collector's goroutine.
//
// # Building
//
// The bridge is its own module (github.com/promrw/promrw/bindings/go/bridge), so that the
// binding itself keeps no dependencies. Its go.mod points client_golang and its dependencies
// at Debian's packaged sources (golang-github-prometheus-client-golang-dev, under
// /usr/share/gocode/src); see bindings/go/README.md for building it with the module proxy
// instead.
package bridge
