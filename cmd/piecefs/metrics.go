package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/cache"
	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/piece"
	"github.com/piecefs/piecefs/store"
)

// metricSources are what a scrape reads, each through the Stats snapshot
// its package exposes (the same numbers `piecefs status` shows).
type metricSources struct {
	Fetch  interface{ Stats() fetch.Stats } // *fetch.Fetcher
	Reads  interface{ Stats() piece.Stats } // *piece.Reader
	Memory interface{ Stats() cache.Stats } // *cache.Cache; a disabled or nil one exports no memory tier
	Disk   interface{ Stats() store.Stats } // *store.Store
	// Manifest and Origin label piecefs_info.
	Manifest, Origin string
}

// fetchBuckets are the bounds of piecefs_fetch_duration_seconds: from a
// block served by a nearby origin (0.5 ms) to the default fetch timeout.
var fetchBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// metricsServer serves Prometheus metrics on --metrics-addr. Its listener
// opens before the mount, so that a bad address fails before anything is
// mounted, and the fetch latency histogram exists before the fetcher; the
// sources are handed over by serve once the mount is ready. A nil
// *metricsServer (no --metrics-addr) does nothing.
type metricsServer struct {
	ln       net.Listener
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec // piecefs_fetch_duration_seconds
	log      logrus.FieldLogger
}

// listenMetrics opens addr for the metrics, or returns nil if addr is empty.
func listenMetrics(addr string, log logrus.FieldLogger) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &metricsServer{ln: ln, reg: prometheus.NewRegistry(), log: log}
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "piecefs_fetch_duration_seconds",
		Help:    "Time of fetches from the origin, retries and their waits included, by what was fetched (piece, range, table, manifest, tag) and result (ok, error).",
		Buckets: fetchBuckets,
	}, []string{"kind", "result"})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.duration)
	return m, nil
}

// observer returns fetch's Options.Observe feeding the latency histogram,
// or nil without metrics.
func (m *metricsServer) observer() func(kind string, d time.Duration, err error) {
	if m == nil {
		return nil
	}
	return func(kind string, d time.Duration, err error) {
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.duration.WithLabelValues(kind, result).Observe(d.Seconds())
	}
}

// serve registers src and serves /metrics until stop is called.
func (m *metricsServer) serve(src metricSources) (stop func()) {
	if m == nil {
		return func() {}
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "piecefs_info",
		Help:        "Always 1: the manifest mounted and its origin.",
		ConstLabels: prometheus.Labels{"manifest": src.Manifest, "origin": redacted(src.Origin)},
	})
	info.Set(1)
	m.reg.MustRegister(info, &statsCollector{src: src, metrics: statsMetrics()})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, Timeout: 10 * time.Second}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.WithError(err).Error("metrics server failed")
		}
	}()
	m.log.WithField("addr", m.ln.Addr().String()).Info("serving /metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}
}

// Close closes the listener; after serve it is already closed by stop.
func (m *metricsServer) Close() {
	if m != nil {
		m.ln.Close()
	}
}

// redacted returns origin with any password hidden, as a label may show.
func redacted(origin string) string {
	u, err := url.Parse(origin)
	if err != nil {
		return ""
	}
	return u.Redacted()
}

// statsCollector reports the sources' Stats at scrape time.
type statsCollector struct {
	src     metricSources
	metrics []statsMetric
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector: one snapshot of every source
// per scrape.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.snapshot()
	for _, m := range c.metrics {
		m.read(&s, func(v int64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(v), labels...)
		})
	}
}

// snapshot is one scrape's reading of the sources.
type snapshot struct {
	fetch          fetch.Stats
	reads          piece.Stats
	disk           store.Stats
	memory, onDisk tierNumbers
	hasMemory      bool
}

// tierNumbers are what the metrics say of each cache tier alike.
type tierNumbers struct{ bytes, limit, entries, evictions, evictedBytes int64 }

func (src metricSources) snapshot() snapshot {
	s := snapshot{fetch: src.Fetch.Stats(), reads: src.Reads.Stats(), disk: src.Disk.Stats()}
	if src.Memory != nil {
		m := src.Memory.Stats()
		// A disabled memory cache has no bound: there is no tier to report.
		s.hasMemory = m.MaxBytes > 0
		s.memory = tierNumbers{m.Bytes, m.MaxBytes, int64(m.Len), m.Evictions, m.EvictedBytes}
	}
	d := s.disk
	s.onDisk = tierNumbers{d.Bytes, d.MaxBytes, int64(d.Pieces), d.Evictions, d.EvictedBytes}
	return s
}

// eachTier emits pick of each cache tier, labelled by tier.
func (s *snapshot) eachTier(emit emitFunc, pick func(tierNumbers) int64) {
	if s.hasMemory {
		emit(pick(s.memory), piece.TierMemory.String())
	}
	emit(pick(s.onDisk), piece.TierDisk.String())
}

// eachOrigin emits pick of each origin, labelled by its URL.
func (s *snapshot) eachOrigin(emit emitFunc, pick func(fetch.OriginStats) int64) {
	for _, o := range s.fetch.Origins {
		emit(pick(o), o.URL)
	}
}

// byTier emits the counts of a piece.Stats array, labelled by tier.
func byTier(counts [3]int64, emit emitFunc) {
	for t := piece.TierMemory; t <= piece.TierNetwork; t++ {
		emit(counts[t], t.String())
	}
}

// emitFunc adds a sample of the metric being collected.
type emitFunc func(v int64, labels ...string)

// statsMetric is one metric family read from a snapshot.
type statsMetric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	read func(s *snapshot, emit emitFunc)
}

func counter(name, help string, labels []string, read func(*snapshot, emitFunc)) statsMetric {
	return statsMetric{prometheus.NewDesc(name, help, labels, nil), prometheus.CounterValue, read}
}

func gauge(name, help string, labels []string, read func(*snapshot, emitFunc)) statsMetric {
	return statsMetric{prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue, read}
}

// statsMetrics are the metrics read from the Stats snapshots; the names
// follow Prometheus' conventions (_total for counters, _bytes for sizes),
// and the only labels are the tier, the kind of fetch and the origin.
func statsMetrics() []statsMetric {
	tier, origin := []string{"tier"}, []string{"origin"}
	return []statsMetric{
		counter("piecefs_reads_total", "Reads served (the part of a file read that lies in one piece), by the slowest tier each waited for.", tier,
			func(s *snapshot, e emitFunc) { byTier(s.reads.Reads, e) }),
		counter("piecefs_read_bytes_total", "Bytes read from the file system, by the tier that served them.", tier,
			func(s *snapshot, e emitFunc) { byTier(s.reads.Bytes, e) }),
		counter("piecefs_readahead_fetches_total", "Prefetches that brought bytes into a faster tier (a request to the origin, or a disk piece loaded into memory).", nil,
			func(s *snapshot, e emitFunc) { e(s.reads.ReadaheadFetches) }),
		counter("piecefs_readahead_hits_total", "Reads served from memory by bytes that readahead put there (each prefetched entry counts once at most).", nil,
			func(s *snapshot, e emitFunc) { e(s.reads.ReadaheadHits) }),
		counter("piecefs_origin_requests_total", "HTTP requests sent, retries included, by origin (the origin and each --mirror).", origin,
			func(s *snapshot, e emitFunc) { s.eachOrigin(e, func(o fetch.OriginStats) int64 { return o.Requests }) }),
		counter("piecefs_origin_bytes_total", "Response body bytes received, by origin.", origin,
			func(s *snapshot, e emitFunc) { s.eachOrigin(e, func(o fetch.OriginStats) int64 { return o.Bytes }) }),
		counter("piecefs_origin_failures_total", "Attempts an origin failed in a way that benched it (5xx, refused, stalled, bytes that did not verify), by origin.", origin,
			func(s *snapshot, e emitFunc) { s.eachOrigin(e, func(o fetch.OriginStats) int64 { return o.Failures }) }),
		gauge("piecefs_origin_up", "1 if the next fetch may go to the origin, 0 while it is benched after failures.", origin,
			func(s *snapshot, e emitFunc) {
				s.eachOrigin(e, func(o fetch.OriginStats) int64 {
					if o.Healthy {
						return 1
					}
					return 0
				})
			}),
		counter("piecefs_failovers_total", "Attempts sent to another origin than the attempt before them.", nil,
			func(s *snapshot, e emitFunc) { e(s.fetch.Failovers) }),
		counter("piecefs_fetches_total", "Fetches from the origin completed and verified: whole pieces, or runs of blocks fetched with one Range request.", []string{"kind"},
			func(s *snapshot, e emitFunc) { e(s.fetch.Pieces, "piece"); e(s.fetch.Ranges, "range") }),
		counter("piecefs_fetch_retries_total", "Failed attempts of a fetch that were tried again.", nil,
			func(s *snapshot, e emitFunc) { e(s.fetch.Retries) }),
		counter("piecefs_verification_failures_total", "Pieces, blocks, block tables and manifests received whose bytes did not match their sha256.", nil,
			func(s *snapshot, e emitFunc) { e(s.fetch.VerifyFailures) }),
		gauge("piecefs_fetches_in_flight", "Fetches from the origin running now.", nil,
			func(s *snapshot, e emitFunc) { e(s.fetch.InFlight) }),
		gauge("piecefs_cache_bytes", "Bytes held by each cache tier.", tier,
			func(s *snapshot, e emitFunc) { s.eachTier(e, func(t tierNumbers) int64 { return t.bytes }) }),
		gauge("piecefs_cache_limit_bytes", "Bound of each cache tier in bytes; 0 is unbounded.", tier,
			func(s *snapshot, e emitFunc) { s.eachTier(e, func(t tierNumbers) int64 { return t.limit }) }),
		gauge("piecefs_cache_entries", "Entries of each cache tier: pieces and blocks in memory, complete pieces on disk.", tier,
			func(s *snapshot, e emitFunc) { s.eachTier(e, func(t tierNumbers) int64 { return t.entries }) }),
		gauge("piecefs_cache_partial_pieces", "Pieces held on disk in part (some of their blocks).", nil,
			func(s *snapshot, e emitFunc) { e(int64(s.disk.Partial)) }),
		counter("piecefs_evictions_total", "Entries evicted from each cache tier to keep it within its bound.", tier,
			func(s *snapshot, e emitFunc) { s.eachTier(e, func(t tierNumbers) int64 { return t.evictions }) }),
		counter("piecefs_evicted_bytes_total", "Bytes evicted from each cache tier to keep it within its bound.", tier,
			func(s *snapshot, e emitFunc) { s.eachTier(e, func(t tierNumbers) int64 { return t.evictedBytes }) }),
		gauge("piecefs_pinned_bytes", "Bytes of the distinct pinned pieces, held or not; they count against the disk bound.", nil,
			func(s *snapshot, e emitFunc) { e(s.disk.PinnedBytes) }),
		gauge("piecefs_pinned_pieces", "Distinct pinned pieces.", nil,
			func(s *snapshot, e emitFunc) { e(int64(s.disk.PinnedPieces)) }),
		gauge("piecefs_pins", "Pins held (a preheat --pin makes one).", nil,
			func(s *snapshot, e emitFunc) { e(int64(s.disk.Pins)) }),
	}
}
