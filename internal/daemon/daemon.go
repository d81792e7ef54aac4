package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/fcgi-wrap/fcgi-wrap/pool"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

func serveAction(c *cli.Context) error {
	s, err := settingsFrom(c)
	if err != nil {
		return usageError("%v", err)
	}
	leaveCPUsToScripts()
	level, _ := parseLevel(s.logLevel)
	var logOut io.Writer = os.Stderr
	var logFile *reopenFile
	if s.logFile != "" {
		if logFile, err = openReopenFile(s.logFile); err != nil {
			return runtimeError("--log-file: %v", err)
		}
		defer logFile.Close()
		logOut = logFile
	}
	log := newLogger(logOut, level, s.logFormat)

	listeners, err := openListeners(s, log)
	if errors.Is(err, errNoSocket) {
		return usageError("%v", err)
	}
	if err != nil {
		return runtimeError("%v", err)
	}
	defer closeAll(listeners)

	d := newDaemon(s, log, listeners)
	if err := d.setAllowFrom(s.allowFrom); err != nil {
		return usageError("%v", err)
	}
	if err := d.openObservers(s); err != nil {
		return runtimeError("%v", err)
	}
	defer d.closeObservers()

	// Written once the sockets are ours (a second instance that fails to
	// bind must not overwrite the first's), by rename, so no reader sees a
	// half-written file.
	if path := c.String("pid-file"); path != "" {
		mine := []byte(strconv.Itoa(os.Getpid()) + "\n")
		tmp := path + ".tmp"
		err := os.WriteFile(tmp, mine, 0o644)
		if err == nil {
			err = os.Rename(tmp, path)
		}
		if err != nil {
			os.Remove(tmp)
			return runtimeError("--pid-file: %v", err)
		}
		defer func() {
			// A new instance may have written its own pid there while
			// this one drained: that file is not ours to remove.
			if now, err := os.ReadFile(path); err == nil && bytes.Equal(now, mine) {
				os.Remove(path)
			}
		}()
	}

	// Everything that may need root (sockets, their owner, log files, the
	// pid file) is open by now.
	if err := dropPrivileges(s, log); err != nil {
		return runtimeError("%v", err)
	}

	guard, err := startGroupGuard()
	if err != nil {
		// Scripts still die with fcgi-wrap through Pdeathsig; only their
		// own children could outlive a SIGKILLed fcgi-wrap.
		log.Warn("no group guard; a script's children may outlive fcgi-wrap if it is killed", "error", err)
	} else {
		d.handler.guard = guard
		defer guard.stop()
	}
	guardTCP(listeners, &d.allow, log)
	d.logFile = logFile
	d.configPath = c.String("config")
	d.args = slices.Clone(os.Args)
	return d.run()
}

// daemon is the running server: the listeners, the FastCGI server, the
// pool, and the signals that steer them.
type daemon struct {
	log        hclog.Logger
	listeners  []net.Listener
	pool       *pool.Pool
	handler    *handler
	server     *wire.Server
	logFile    *reopenFile
	configPath string
	accessLog  *reopenFile
	metrics    *metrics
	metricsLn  net.Listener
	args       []string   // the command line, re-read with the config file on reload
	reloadMu   sync.Mutex // SIGHUP and the file watcher may reload at once
	allow      allowRules
}

func (d *daemon) setAllowFrom(cidrs []string) error {
	return d.allow.set(cidrs)
}

func newDaemon(s *settings, log hclog.Logger, listeners []net.Listener) *daemon {
	p := pool.New(s.pool)
	h := newHandler(s, p, log.Named("request"))
	d := &daemon{
		log:       log,
		listeners: listeners,
		pool:      p,
		handler:   h,
		server: &wire.Server{
			Handler:        h,
			MaxConns:       s.maxConns,
			MaxReqs:        s.maxReqs,
			MaxParamsBytes: s.maxParams,
			MaxParamCount:  s.maxParamCount,
			WriteTimeout:   s.sendTimeout,
			ParamsTimeout:  s.paramsTimeout,
			IdleTimeout:    s.idleTimeout,
			Logger:         log.Named("wire"),
		},
	}
	h.serverStats = d.server.Stats
	return d
}

func (d *daemon) run() error {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(signals)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// serving waits for one Serve loop per listener.
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
	s := d.handler.settings.Load()
	d.log.Info("ready", "workers", s.pool.Workers, "queue", s.pool.Queue, "script", s.script,
		"gomaxprocs", runtime.GOMAXPROCS(0), "version", version)
	if d.metricsLn != nil {
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := serveMetrics(ctx, d.metricsLn, d.metrics, d.log); err != nil {
				serveErr <- fmt.Errorf("metrics endpoint: %w", err)
			}
		}()
	}
	stopNotifier := d.startNotifier()
	stopWatch := d.watchConfig()

	var runErr error
	for stopping := false; !stopping; {
		select {
		case sig := <-signals:
			switch sig {
			case syscall.SIGHUP:
				d.reload("SIGHUP")
			case syscall.SIGUSR1:
				d.reopenLogs()
			default:
				d.log.Info("shutting down", "signal", sig.String(), "timeout", s.shutdownTimeout)
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
		return cli.Exit("fcgi-wrap: "+runErr.Error(), 1)
	}
	d.log.Info("stopped")
	return nil
}

// shutdown stops accepting, turns away requests still queued, and lets the
// running ones finish within --shutdown-timeout; a second signal, or the
// timeout, kills what is left.
func (d *daemon) shutdown(signals <-chan os.Signal) {
	s := d.handler.settings.Load()
	d.pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
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
	for _, f := range []*reopenFile{d.logFile, d.accessLog} {
		if f == nil {
			continue
		}
		if err := f.Reopen(); err != nil {
			d.log.Error("reopening log file", "path", f.path, "error", err)
			continue
		}
		d.log.Info("log file reopened", "path", f.path)
	}
}

// openObservers sets up what watches finished requests: the access log
// and the metrics endpoint.
func (d *daemon) openObservers(s *settings) error {
	var obs observers
	switch s.accessLog {
	case "":
	case "-":
		obs = append(obs, &accessLog{out: os.Stdout, json: s.logFormat == "json"})
	default:
		f, err := openReopenFile(s.accessLog)
		if err != nil {
			return fmt.Errorf("--access-log: %w", err)
		}
		d.accessLog = f
		obs = append(obs, &accessLog{out: f, json: s.logFormat == "json"})
	}
	if s.metricsListen != "" {
		l, err := net.Listen("tcp", s.metricsListen)
		if err != nil {
			d.closeObservers()
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		d.metricsLn = l
		d.metrics = newMetrics(d.pool, d.server.Stats)
		obs = append(obs, d.metrics)
	}
	if len(obs) > 0 {
		d.handler.observer = obs
	}
	return nil
}

func (d *daemon) closeObservers() {
	if d.accessLog != nil {
		d.accessLog.Close()
	}
	if d.metricsLn != nil {
		d.metricsLn.Close()
	}
}

// leaveCPUsToScripts runs fcgi-wrap's own Go code on half the CPUs (at
// least one) unless GOMAXPROCS says otherwise. Its work is moving bytes
// between sockets and pipes; the CPU a request needs is the script's. With
// a P per CPU, idle Go threads spin looking for work on the cores the
// scripts need: on 2 CPUs one P cut fcgi-wrap's CPU per tiny request by a
// third to a half and raised requests per second (bench, -fw-env
// GOMAXPROCS=1), while a 1 GiB upload still ran faster than fcgiwrap's
// by more than 2x.
func leaveCPUsToScripts() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	}
}
