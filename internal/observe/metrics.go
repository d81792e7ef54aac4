package observe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the Prometheus view of the same figures the status page
// shows, plus latency distributions. It has its own registry: nothing is
// registered globally.
type Metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  prometheus.Histogram
	queueWait prometheus.Histogram
	spawn     prometheus.Histogram
	cpu       prometheus.Histogram
	memPeak   prometheus.Histogram
}

// Gauges read the live figures the metrics publish as they are scraped.
type Gauges struct {
	Active, Queued, Workers func() int // scripts running, requests waiting, --workers
	Conns, Requests         func() int // FastCGI connections and requests in progress
}

// NewMetrics registers the counters and histograms, and gauges that read g.
func NewMetrics(g Gauges) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fcgi_wrap_requests_total",
			Help: "Requests finished, by outcome (ok, failed, timeout, aborted, overloaded, spawn-failed, refused, internal) and HTTP status class.",
		}, []string{"outcome", "status_class"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fcgi_wrap_request_duration_seconds",
			Help:    "Time from a request's params to its END_REQUEST, queueing included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fcgi_wrap_queue_wait_seconds",
			Help:    "Time requests waited for a free worker.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 14),
		}),
		spawn: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fcgi_wrap_spawn_seconds",
			Help:    "Time to start a script (fork and exec).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		cpu: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fcgi_wrap_script_cpu_seconds",
			Help:    "CPU time (user and system) each script used, with its descendants where it ran in a cgroup.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 14),
		}),
		memPeak: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fcgi_wrap_script_memory_peak_bytes",
			Help:    "Most memory each script's cgroup held at once (memory.peak); only where the memory controller is on.",
			Buckets: prometheus.ExponentialBuckets(1<<20, 2, 14),
		}),
	}
	gauge := func(name, help string, value func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(value()) })
	}
	reg.MustRegister(
		m.requests, m.duration, m.queueWait, m.spawn, m.cpu, m.memPeak,
		gauge("fcgi_wrap_active_scripts", "Scripts running now.", g.Active),
		gauge("fcgi_wrap_queued_requests", "Requests waiting for a worker now.", g.Queued),
		gauge("fcgi_wrap_workers", "Scripts that may run at once (--workers).", g.Workers),
		gauge("fcgi_wrap_connections", "FastCGI connections open now.", g.Conns),
		gauge("fcgi_wrap_requests_in_progress", "FastCGI requests in progress now, queued or running.", g.Requests),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	return m
}

func (m *Metrics) Observe(rec *Record) {
	class := "none"
	if rec.Status >= 100 && rec.Status <= 999 {
		class = strconv.Itoa(rec.Status/100) + "xx"
	}
	m.requests.WithLabelValues(rec.Outcome, class).Inc()
	m.duration.Observe(rec.Duration.Seconds())
	if rec.Queued {
		m.queueWait.Observe(rec.QueueWait.Seconds())
	}
	if rec.SpawnTime > 0 {
		m.spawn.Observe(rec.SpawnTime.Seconds())
	}
	if rec.PID.Load() != 0 {
		m.cpu.Observe(rec.CPU.Seconds())
	}
	if rec.MemPeak > 0 {
		m.memPeak.Observe(float64(rec.MemPeak))
	}
}

// Serve runs the /metrics HTTP endpoint on l until ctx ends.
func (m *Metrics) Serve(ctx context.Context, l net.Listener, log hclog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()
	log.Info("serving metrics", "addr", l.Addr().String())
	err := srv.Serve(l)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
