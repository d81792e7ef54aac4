// Package daemon is fcgi-wrap serving: it binds or adopts the listening
// sockets, drops privileges, runs the FastCGI server with the gateway as
// its handler, and steers it by signals (reload, reopen logs, shutdown),
// the config file watch and systemd's notify socket.
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
}

// Run serves until SIGTERM or SIGINT, or until a listener fails. A
// *UsageError means the settings themselves are at fault.
func Run(s *Settings, opts Options) error {
	// Caught from the start: a supervisor may signal as soon as the pid
	// file appears, and a SIGTERM then must stop us cleanly, not kill us.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(signals)
	Tune()
	level, err := ParseLevel(s.Live.LogLevel)
	if err != nil {
		return &UsageError{Err: err}
	}
	var logOut io.Writer = os.Stderr
	d := &daemon{opts: opts, startup: s.Startup, live: s.Live}
	if s.Startup.LogFile != "" {
		f, err := openReopenFile(s.Startup.LogFile)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		d.files = append(d.files, f)
		logOut = f
	}
	d.log = NewLogger(logOut, level, s.Startup.LogFormat)
	if d.listeners, err = openListeners(&s.Startup, d.log); err != nil {
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
	removePid, err := writePidFile(s.Startup.PidFile)
	if err != nil {
		return err
	}
	defer removePid()

	// Everything that may need root (sockets, their owner, log files, the
	// pid file) is open by now.
	if err := dropPrivileges(&s.Startup, d.log); err != nil {
		return err
	}
	guard, err := startGroupGuard()
	if err != nil {
		// Scripts still die with fcgi-wrap through Pdeathsig; only their
		// own children could outlive a SIGKILLed fcgi-wrap.
		d.log.Warn("no group guard; a script's children may outlive fcgi-wrap if it is killed", "error", err)
	} else {
		d.gateway.Guard = guard
		defer guard.stop()
	}
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
	stopWatch := d.watchConfig()

	var runErr error
	for stopping := false; !stopping; {
		select {
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				d.reload("SIGHUP", false)
			case syscall.SIGUSR1:
				d.reopenLogs()
			default:
				d.log.Info("shutting down", "signal", sig.String(), "timeout", d.shutdownTimeout())
				stopping = true
			}
		case err := <-serveErr:
			d.log.Error("listener failed", "error", err)
			runErr = err
			stopping = true
		}
	}
	stopWatch()
	stopNotifier()
	d.shutdown(signals)
	cancel()
	serving.Wait()
	if runErr != nil {
		return runErr
	}
	d.log.Info("stopped")
	return nil
}

func (d *daemon) shutdownTimeout() time.Duration {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	return d.live.ShutdownTimeout
}

// shutdown stops accepting, turns away requests still queued, and lets the
// running ones finish within --shutdown-timeout; a second signal, or the
// timeout, kills what is left.
func (d *daemon) shutdown(signals <-chan os.Signal) {
	d.pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d.shutdownTimeout())
	defer cancel()
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

func (d *daemon) reopenLogs() {
	for _, f := range d.files {
		if err := f.Reopen(); err != nil {
			d.log.Error("reopening log file", "path", f.path, "error", err)
			continue
		}
		d.log.Info("log file reopened", "path", f.path)
	}
}

// Tune runs fcgi-wrap's own Go code on half the CPUs (at least one) unless
// GOMAXPROCS says otherwise. Its work is moving bytes between sockets and
// pipes; the CPU a request needs is the script's. With a P per CPU, idle
// Go threads spin looking for work on the cores the scripts need: on 2
// CPUs one P cut fcgi-wrap's CPU per tiny request by a third to a half and
// raised requests per second (bench, -fw-env GOMAXPROCS=1), while a 1 GiB
// upload still ran faster than fcgiwrap's by more than 2x.
func Tune() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	}
}
