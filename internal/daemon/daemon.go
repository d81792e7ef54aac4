// Package daemon is fcgi-wrap serving: it binds or adopts the listening
// sockets, drops privileges, runs the FastCGI server with the gateway as
// its handler, and steers it by signals (reload, reopen logs, upgrade,
// shutdown), the config file watch and systemd's notify socket.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/internal/gateway"
	"github.com/fcgi-wrap/fcgi-wrap/pool"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// Options are what the daemon needs besides its settings.
type Options struct {
	// ConfigPath is the --config file, watched for changes; "": none.
	ConfigPath string
	// Reload builds the settings anew from the command line and the
	// config file as they are now, exactly as at start, so that a reload
	// can never disagree with a restart.
	Reload  func() (*Settings, error)
	Version string
}

// daemon is the running server: the listeners, the FastCGI server, the
// pool, and what steers them.
type daemon struct {
	opts      Options
	log       hclog.Logger
	listeners []net.Listener
	pool      *pool.Pool
	gateway   *gateway.Gateway
	server    *wire.Server
	startup   Startup
	live      Live // guarded by reloadMu
	reloadMu  sync.Mutex
	allow     allowRules
	files     []*reopenFile // log files reopened on SIGUSR1
	observers *observers

	// sockets are the listening sockets as bound or adopted, before
	// guardTCP wraps them: what an upgrade hands over.
	sockets []net.Listener
	// upgradedFrom is the process that started this one by an upgrade;
	// nil for any other start.
	upgradedFrom *upgradedFrom
	// handedMetrics is the metrics socket handed over by upgradedFrom,
	// until openObservers takes it.
	handedMetrics net.Listener
	startDir      string // the working directory at start, for selfPath
}

// Run serves until SIGTERM or SIGINT, until a listener fails, or until a
// new process started by SIGUSR2 has taken over. A *UsageError means the
// settings themselves are at fault.
func Run(s *Settings, opts Options) error {
	// Caught from the start: a supervisor may signal as soon as the pid
	// file appears, and a SIGTERM then must stop us cleanly, not kill us.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(signals)
	leaveCPUsToScripts()
	level, err := ParseLevel(s.Live.LogLevel)
	if err != nil {
		return &UsageError{Err: err}
	}
	// Before anything looks at LISTEN_FDS.
	from, fromErr := takeUpgrade()
	var logOut io.Writer = os.Stderr
	d := &daemon{opts: opts, startup: s.Startup, live: s.Live, upgradedFrom: from}
	d.startDir, _ = os.Getwd()
	if s.Startup.LogFile != "" {
		f, err := openReopenFile(s.Startup.LogFile)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		d.files = append(d.files, f)
		logOut = f
	}
	d.log = newLogger(logOut, level, s.Startup.LogFormat)
	if fromErr != nil {
		d.log.Warn("not started by an upgrade after all", "error", fromErr)
	}
	if err := d.openSockets(s); err != nil {
		return err
	}
	defer closeAll(d.listeners)
	if err := d.allow.set(s.Live.AllowFrom); err != nil {
		return &UsageError{Err: err}
	}
	d.build()
	if err := d.openObservers(); err != nil {
		return err
	}
	defer d.observers.close()
	if d.handedMetrics != nil {
		// Metrics are off now: the socket handed over is not needed.
		d.handedMetrics.Close()
	}
	removePid, err := writePidFile(s.Startup.PidFile)
	if err != nil {
		return err
	}
	defer removePid()

	// Everything that may need root (sockets, their owner, log files, the
	// pid file, the cgroup tree) is open by now.
	tree, err := setupContainment(&s.Startup, d.log)
	if err != nil {
		return err
	}
	if tree != nil {
		defer closeTree(tree, d.log) // after the guard has stopped: it lives in the tree
	}
	d.contain(tree)
	if err := dropPrivileges(&s.Startup, d.files, d.log); err != nil {
		return err
	}
	defer d.startGuard(tree)()
	guardTCP(d.listeners, &d.allow, d.log)
	return d.run(signals)
}

// build makes the pool, the gateway and the FastCGI server.
func (d *daemon) build() {
	st := &d.startup
	d.pool = pool.New(d.live.Pool)
	gs := d.live.Gateway
	d.gateway = gateway.New(&gs, d.pool, d.log.Named("request"))
	d.server = &wire.Server{
		Handler:        d.gateway,
		MaxConns:       st.MaxConns,
		MaxReqs:        st.MaxReqs,
		MaxParamsBytes: st.MaxParams,
		MaxParamCount:  st.MaxParamCount,
		WriteTimeout:   st.SendTimeout,
		ParamsTimeout:  st.ParamsTimeout,
		IdleTimeout:    st.IdleTimeout,
		Logger:         d.log.Named("wire"),
	}
	d.gateway.ServerStats = d.server.Stats
}

func (d *daemon) run(signals <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// serving waits for one Serve loop per listener and the metrics server.
	var serving sync.WaitGroup
	serveErr := make(chan error, len(d.listeners)+1)
	for _, l := range d.listeners {
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := d.server.Serve(ctx, l); err != nil && !errors.Is(err, wire.ErrServerClosed) {
				serveErr <- fmt.Errorf("accepting on %s: %w", l.Addr(), err)
			}
		}()
	}
	d.observers.serveMetrics(ctx, &serving, serveErr, d.log)
	d.log.Info("ready", "workers", d.live.Pool.Workers, "queue", d.live.Pool.Queue, "script", d.startup.Script,
		"gomaxprocs", runtime.GOMAXPROCS(0), "version", d.opts.Version)
	stopNotifier := d.startNotifier()
	d.upgradedFrom.reportReady(d.log)
	stopWatch := d.watchConfig()

	cause, runErr := d.serveUntilStop(signals, serveErr)
	stopWatch()
	stopNotifier()
	d.shutdown(signals, cause)
	cancel()
	serving.Wait()
	if runErr != nil {
		return runErr
	}
	d.log.Info("stopped")
	return nil
}

// stopCause says why serving ends, which decides how it ends.
type stopCause int

const (
	stopSignal   stopCause = iota // SIGTERM or SIGINT
	stopUpgraded                  // a new process accepts on the sockets now
	stopFailed                    // a listener failed
)

// serveUntilStop steers the daemon by signals until it is to stop, and
// says why.
func (d *daemon) serveUntilStop(signals <-chan os.Signal, serveErr <-chan error) (stopCause, error) {
	var up *upgrade // an upgrade whose new process is not ready yet
	defer func() {
		if up != nil {
			d.abandonUpgrade(up)
		}
	}()
	for {
		var upgraded <-chan error
		if up != nil {
			upgraded = up.result
		}
		select {
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				d.reload("SIGHUP", false)
			case syscall.SIGUSR1:
				d.reopenLogs()
			case syscall.SIGUSR2:
				if up != nil {
					d.log.Warn("upgrade already under way; SIGUSR2 ignored", "pid", up.pid())
					continue
				}
				up = d.beginUpgrade()
			default:
				d.log.Info("shutting down", "signal", sig.String(), "timeout", d.shutdownTimeout())
				return stopSignal, nil
			}
		case err := <-upgraded:
			u := up
			up = nil
			if err != nil {
				d.upgradeFailed(u, err)
				continue
			}
			d.handOver(u)
			return stopUpgraded, nil
		case err := <-serveErr:
			d.log.Error("listener failed", "error", err)
			return stopFailed, err
		}
	}
}

func (d *daemon) shutdownTimeout() time.Duration {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	return d.live.ShutdownTimeout
}

func (d *daemon) drainDelay() time.Duration {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	return d.live.DrainDelay
}

// shutdown stops accepting and lets the running requests finish within
// --shutdown-timeout; a second signal, or the timeout, kills what is left.
// Stopping for good, the ping page answers 503 from the start (for
// --drain-delay while fcgi-wrap still accepts, see lameDuck), and
// requests still queued are turned away. After an upgrade the queued
// requests still run, since the new process only took over accepting,
// and the socket files stay: the new process serves them.
func (d *daemon) shutdown(signals <-chan os.Signal, cause stopCause) {
	killNow := false
	if cause == stopUpgraded {
		keepSocketFiles(d.sockets)
	} else {
		d.gateway.SetDraining()
		killNow = cause == stopSignal && !d.lameDuck(signals)
		d.pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.shutdownTimeout())
	defer cancel()
	if killNow {
		cancel()
	}
	done := make(chan error, 1)
	go func() { done <- d.server.Shutdown(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				d.log.Warn("shutdown timeout passed; running scripts were killed", "error", err)
			}
			return
		case sig := <-signals:
			if sig == syscall.SIGINT || sig == syscall.SIGTERM {
				d.log.Warn("second signal: killing running scripts now", "signal", sig.String())
				cancel()
			}
		}
	}
}

// lameDuck keeps accepting and serving for --drain-delay while the ping
// page answers 503, so that a balancer's health checks take this instance
// out before it refuses connections. It reports false when a second
// signal cut the delay short, which means: kill now.
func (d *daemon) lameDuck(signals <-chan os.Signal) bool {
	delay := d.drainDelay()
	if delay <= 0 {
		return true
	}
	d.log.Info("draining: the ping page answers 503 while requests are still accepted", "for", delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case sig := <-signals:
			if sig == syscall.SIGINT || sig == syscall.SIGTERM {
				d.log.Warn("second signal: killing running scripts now", "signal", sig.String())
				return false
			}
		}
	}
}

func (d *daemon) reopenLogs() {
	reopenAll(d.files, d.log, os.Stderr)
}

// leaveCPUsToScripts runs fcgi-wrap's own Go code on half the CPUs (at
// least one) unless GOMAXPROCS says otherwise. Its work is moving bytes
// between sockets and pipes; the CPU a request needs is the script's. With
// a P per CPU, idle Go threads spin looking for work on the cores the
// scripts need. Measured on 2 CPUs (bench/run -quick -only tiny,response
// -runs 3, with and without -fw-env GOMAXPROCS=2, issue 16): one P served
// the same tiny requests per second at concurrency 1 to 64 with 16-21% less
// daemon CPU per request, and a 256 MiB response 3.7x fcgiwrap's rate
// against 2.8x. On 16 cores, 16 Ps served fewer requests than 8 (7k
// against 11.6k per second at concurrency 16, PERF-NOTES).
func leaveCPUsToScripts() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	}
}
