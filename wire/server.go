package wire

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Causes of a request context's cancellation, and Serve's result after
// Shutdown or Close.
var (
	ErrAborted      = errors.New("wire: request aborted")
	ErrConnClosed   = errors.New("wire: connection closed")
	ErrServerClosed = errors.New("wire: server closed")
)

const (
	defaultLimit      = 1 << 20
	defaultParamCount = 4096
)

// Server is a FastCGI responder: it accepts connections, multiplexes
// requests on each, and runs Handler once per request.
type Server struct {
	// Handler serves every request; it must be set.
	Handler Handler
	// MaxConns bounds concurrent connections; a connection past it is closed
	// at accept with a log line. 0 means unlimited.
	MaxConns int
	// MaxReqs bounds concurrent requests over all connections; a BEGIN past
	// it gets END_REQUEST with StatusOverloaded at once. 0 means unlimited.
	MaxReqs int
	// MaxParamsBytes bounds the PARAMS bytes of one request; past it the
	// connection is ended with a log line. 0 means 1 MiB.
	MaxParamsBytes int
	// MaxBodyBuffer bounds the body bytes (STDIN, and DATA for FILTER)
	// buffered per stream while the handler has not read them; when full,
	// the connection's read loop waits until the handler reads, the request
	// ends, or the connection dies. 0 means 1 MiB.
	MaxBodyBuffer int
	// MaxParamCount bounds the name-value pairs of one request; past it the
	// connection is ended with a log line. 0 means 4096.
	MaxParamCount int
	// WriteTimeout fails a write to the client that makes no progress for
	// this long, and cancels the connection's requests. 0 means no limit.
	WriteTimeout time.Duration
	// ParamsTimeout bounds the time from a BEGIN_REQUEST to the end of its
	// PARAMS stream (web servers send both at once; a slowloris does not);
	// past it the connection is ended with a log line. 0 means no limit.
	ParamsTimeout time.Duration
	// IdleTimeout closes a connection with no request in progress after
	// this long without a complete record. 0 means never.
	IdleTimeout time.Duration
	// Logger receives the server's log lines. nil means no logging.
	Logger hclog.Logger

	nreqs        atomic.Int64 // requests begun and not ended, all connections
	shuttingDown atomic.Bool  // Shutdown or Close was called

	mu            sync.Mutex
	refusedLogged time.Time // last "too many connections" line
	connsRefused  int       // connections closed at MaxConns since that line
	listeners     map[net.Listener]struct{}
	conns         map[*conn]struct{}
	// connWG waits for the serving of every tracked connection, including
	// its handlers.
	connWG sync.WaitGroup

	// The goroutines that serve connections for Serve, and that run
	// handlers; Close and Shutdown stop them.
	connWorkers, handlerWorkers workers
}

// ServerStats are live counts.
type ServerStats struct {
	Conns    int // connections being served
	Requests int // requests begun and not yet ended
}

// Stats returns the live counts.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return ServerStats{Conns: n, Requests: int(s.nreqs.Load())}
}

func (s *Server) logger() hclog.Logger {
	if s.Logger == nil {
		return hclog.NewNullLogger()
	}
	return s.Logger
}

func (s *Server) maxParamsBytes() int {
	if s.MaxParamsBytes > 0 {
		return s.MaxParamsBytes
	}
	return defaultLimit
}

func (s *Server) maxParamCount() int {
	if s.MaxParamCount > 0 {
		return s.MaxParamCount
	}
	return defaultParamCount
}

func (s *Server) maxBodyBuffer() int {
	if s.MaxBodyBuffer > 0 {
		return s.MaxBodyBuffer
	}
	return defaultLimit
}

// acquireReq takes a request slot, false when MaxReqs are active.
func (s *Server) acquireReq() bool {
	for {
		n := s.nreqs.Load()
		if s.MaxReqs > 0 && n >= int64(s.MaxReqs) {
			return false
		}
		if s.nreqs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *Server) releaseReq() { s.nreqs.Add(-1) }

// HalfCloser is a connection that can end its sending side alone, as
// *net.TCPConn and *net.UnixConn can. After its last response the server
// half-closes such a connection and reads what the client still sends for
// a moment, so that the kernel does not answer unread input with a reset
// that destroys the response; any other connection is closed at once.
type HalfCloser interface {
	CloseWrite() error
}

// Serve accepts connections on l and serves each in its own goroutine until
// Shutdown or Close, when it returns ErrServerClosed. Cancelling ctx closes
// the server as Close does. Serve may run for several listeners at once; it
// closes l when it returns.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	defer l.Close()
	s.mu.Lock()
	if s.shuttingDown.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	closeDone := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closeDone)
		_ = s.Close()
	})
	defer func() {
		if !stop() {
			<-closeDone
		}
	}()

	// Requests keep the caller's values but end only with their connection.
	base := context.WithoutCancel(ctx)
	log := s.logger()
	var backoff time.Duration
	for {
		rwc, err := l.Accept()
		if err != nil {
			if s.shuttingDown.Load() {
				return ErrServerClosed
			}
			if !temporaryAccept(err) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("accept failed, retrying", "error", err, "delay", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		backoff = 0
		c, ok := s.track(base, rwc)
		if !ok {
			continue
		}
		// No watch on ctx per connection: its end closes the server, and
		// with it every connection.
		s.connWorkers.run(func() {
			defer s.connWG.Done()
			s.serveTracked(c)
		})
	}
}

// temporaryAccept reports accept errors that pass: out of descriptors or
// memory, or a client that left before we accepted.
func temporaryAccept(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ServeConn serves one connection until it ends, its requests' handlers
// included. Cancelling ctx ends it at once, its requests cancelled with
// ErrServerClosed. The goroutines that ran the handlers wait a second or
// two for more work before they exit; Close ends them at once.
func (s *Server) ServeConn(ctx context.Context, rwc net.Conn) {
	c, ok := s.track(context.WithoutCancel(ctx), rwc)
	if !ok {
		return
	}
	defer s.connWG.Done()
	abortDone := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(abortDone)
		c.abort(ErrServerClosed)
	})
	s.serveTracked(c)
	if !stop() {
		<-abortDone
	}
}

// track registers a new connection, or closes it when the server is closed
// or at MaxConns; base is the parent of its requests' contexts.
func (s *Server) track(base context.Context, rwc net.Conn) (*conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown.Load() {
		_ = rwc.Close()
		return nil, false
	}
	if s.MaxConns > 0 && len(s.conns) >= s.MaxConns {
		// A flood must not become a flood of log lines: one a second, with
		// how many were closed since the last.
		s.connsRefused++
		if now := time.Now(); now.Sub(s.refusedLogged) >= time.Second {
			s.logger().Warn("too many connections, closing new ones",
				"remote", addrString(rwc.RemoteAddr()), "max_conns", s.MaxConns, "closed", s.connsRefused)
			s.refusedLogged, s.connsRefused = now, 0
		}
		_ = rwc.Close()
		return nil, false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	c := newConn(base, s, rwc)
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return c, true
}

// serveTracked serves a connection track registered; the caller calls
// connWG.Done after it.
func (s *Server) serveTracked(c *conn) {
	c.serve()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections and the others as they
// become idle, and waits for active requests to finish. If ctx ends first it
// cancels them all (cause ErrServerClosed), waits for their handlers, and
// returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.stop()
	for _, c := range conns {
		c.closeIfIdle()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		s.stopWorkers()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		_ = s.Close()
		<-done
		return ctx.Err()
	}
}

// Close stops the server at once: it cancels every request (cause
// ErrServerClosed), closes every connection and listener, and waits for the
// handlers to return.
func (s *Server) Close() error {
	conns := s.stop()
	for _, c := range conns {
		c.abort(ErrServerClosed)
	}
	s.connWG.Wait()
	s.stopWorkers()
	return nil
}

// stopWorkers ends the worker goroutines once no connection is served.
func (s *Server) stopWorkers() {
	s.connWorkers.stop()
	s.handlerWorkers.stop()
}

// stop refuses new connections and requests, closes the listeners, and
// returns the connections being served.
func (s *Server) stop() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shuttingDown.Store(true)
	for l := range s.listeners {
		_ = l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}
