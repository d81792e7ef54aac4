package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
)

// observers is what watches finished requests: the access log and the
// metrics endpoint, both opened at start.
type observers struct {
	metrics   *observe.Metrics
	metricsLn net.Listener
}

// openObservers opens the access log and the metrics listener, and gives
// the gateway what observes its requests.
func (d *daemon) openObservers() error {
	st := &d.startup
	d.observers = &observers{}
	var obs observe.Observers
	asJSON := st.LogFormat == "json"
	switch st.AccessLog {
	case "":
	case "-":
		obs = append(obs, observe.NewAccessLog(os.Stdout, asJSON))
	default:
		f, err := openReopenFile(st.AccessLog)
		if err != nil {
			return fmt.Errorf("--access-log: %w", err)
		}
		d.files = append(d.files, f)
		obs = append(obs, observe.NewAccessLog(f, asJSON))
	}
	if st.MetricsListen != "" {
		l, err := d.listenMetrics(st.MetricsListen)
		if err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		d.observers.metricsLn = l
		d.observers.metrics = observe.NewMetrics(observe.Gauges{
			Active:   func() int { return d.pool.Snapshot().Active },
			Queued:   func() int { return d.pool.Snapshot().Queued },
			Workers:  func() int { return d.pool.Config().Workers },
			Conns:    func() int { return d.server.Stats().Conns },
			Requests: func() int { return d.server.Stats().Requests },
		})
		obs = append(obs, d.observers.metrics)
	}
	if len(obs) > 0 {
		d.gateway.Observer = obs
	}
	return nil
}

// serveMetrics runs the metrics endpoint, if any, until ctx ends; serving
// waits for it and a failure goes to errs.
func (o *observers) serveMetrics(ctx context.Context, serving *sync.WaitGroup, errs chan<- error, log hclog.Logger) {
	if o.metricsLn == nil {
		return
	}
	serving.Add(1)
	go func() {
		defer serving.Done()
		if err := o.metrics.Serve(ctx, o.metricsLn, log); err != nil {
			errs <- fmt.Errorf("metrics endpoint: %w", err)
		}
	}()
}

// close releases the metrics listener; the log files are closed with the
// daemon's other files.
func (o *observers) close() {
	if o != nil && o.metricsLn != nil {
		o.metricsLn.Close()
	}
}
