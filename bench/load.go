package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// loadSpec describes one run of the FastCGI load generator.
type loadSpec struct {
	Network, Addr string
	Params        []wire.Pair
	// Concurrency is the number of requests in flight at once, each on its
	// own connection as web servers do (none of them multiplexes).
	Concurrency int
	// Duration is how long workers keep starting requests; 0 means each
	// makes PerWorker requests instead.
	Duration  time.Duration
	PerWorker int
	// KeepConn reuses each worker's connection (FCGI_KEEP_CONN); off, every
	// request dials anew and the dial counts in its latency, as it does for
	// nginx without an upstream keepalive.
	KeepConn bool
	// Body is the request body size in bytes, streamed as zeros.
	Body int64
	// WantBody is the response body length a request must return to count
	// as served; negative means any length.
	WantBody int64
	// Timeout bounds one request; 0 means none.
	Timeout time.Duration

	encoded []byte // the bodyless request, once runLoad has encoded it
}

// request is the encoded bodyless request for exchange.
func (s *loadSpec) request() []byte {
	if s.encoded != nil {
		return s.encoded
	}
	return encodeRequest(1, s.Params, s.KeepConn)
}

// loadResult is what a run measured. Failed requests are counted, never
// timed, so errors cannot make a contender look fast.
type loadResult struct {
	Requests  int // served with status 200 and the expected body
	Errors    int
	FirstErr  error
	Elapsed   time.Duration
	Latencies []time.Duration // of served requests, sorted
	BytesIn   int64           // request body bytes sent by served requests
	BytesOut  int64           // response body bytes received by served requests
	TimedOut  bool            // some request hit Timeout

	// Filled in by scenarios that measure more than requests.
	peak   int64         // the server's peak resident memory
	single time.Duration // median latency at concurrency 1, same round
	cpu    time.Duration // CPU time the server's own processes used
}

func (r *loadResult) rps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// mibps is the response body throughput, or the request body throughput
// when nothing came back but a body went out.
func (r *loadResult) mibps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	b := max(r.BytesOut, r.BytesIn)
	return float64(b) / (1 << 20) / r.Elapsed.Seconds()
}

func (r *loadResult) p(pct float64) time.Duration { return percentile(r.Latencies, pct) }

// merge folds one worker's tally into r.
func (r *loadResult) merge(w *loadResult) {
	r.Requests += w.Requests
	r.Errors += w.Errors
	if r.FirstErr == nil {
		r.FirstErr = w.FirstErr
	}
	r.Latencies = append(r.Latencies, w.Latencies...)
	r.BytesIn += w.BytesIn
	r.BytesOut += w.BytesOut
	r.TimedOut = r.TimedOut || w.TimedOut
}

// zeroReader is a request body of n zero bytes, produced without memory
// traffic beyond the caller's buffer.
type zeroReader struct{ left int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	clear(p[:n])
	z.left -= int64(n)
	return n, nil
}

// runLoad drives a FastCGI server as spec says and tallies the outcome.
func runLoad(ctx context.Context, spec loadSpec) loadResult {
	var deadline time.Time
	if spec.Duration > 0 {
		deadline = time.Now().Add(spec.Duration)
	}
	spec.encoded = encodeRequest(1, spec.Params, spec.KeepConn)
	results := make([]loadResult, spec.Concurrency)
	start := time.Now()
	// workers waits for the request loops; each owns results[i].
	var workers sync.WaitGroup
	for i := range spec.Concurrency {
		workers.Go(func() { loadWorker(ctx, &spec, deadline, &results[i]) })
	}
	workers.Wait()
	return mergeResults(results, time.Since(start))
}

// mergeResults adds up the per-worker results of one measurement, with the
// latencies sorted for the percentiles.
func mergeResults(results []loadResult, elapsed time.Duration) loadResult {
	var total loadResult
	total.Elapsed = elapsed
	for i := range results {
		total.merge(&results[i])
	}
	slices.Sort(total.Latencies)
	return total
}

func loadWorker(ctx context.Context, spec *loadSpec, deadline time.Time, res *loadResult) {
	var c *conn
	defer func() { c.close() }()
	for n := 0; ctx.Err() == nil; n++ {
		if deadline.IsZero() && n >= spec.PerWorker {
			return
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return
		}
		lat, out, timedOut, err := oneRequest(ctx, spec, &c)
		if !spec.KeepConn || err != nil {
			// A failed connection may be half-way through a reply; never
			// reuse it.
			c.close()
			c = nil
		}
		if err != nil {
			res.Errors++
			if res.FirstErr == nil {
				res.FirstErr = err
			}
			res.TimedOut = res.TimedOut || timedOut
			continue
		}
		res.Requests++
		res.Latencies = append(res.Latencies, lat)
		res.BytesIn += spec.Body
		res.BytesOut += out
	}
}

// conn is a client connection the load generator can cut: a request that
// times out ends by closing the socket, because a server that stopped
// reading (fcgiwrap on an echo) leaves the client's body writer blocked,
// and an FCGI_ABORT_REQUEST could never be sent behind it.
type conn struct {
	nc net.Conn
	// client is made on first use: requests without a body go through
	// exchange instead, and never need one.
	client *wire.Client
	rr     *recordReader
}

func dialConn(ctx context.Context, network, addr string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc}, nil
}

// wireClient is the connection's multiplexing client. Only a connection
// that is between exchanges may switch to it: exchange leaves nothing
// unread once END_REQUEST is in.
func (c *conn) wireClient() *wire.Client {
	if c.client == nil {
		c.client = wire.NewClient(c.nc)
	}
	return c.client
}

func (c *conn) close() {
	switch {
	case c == nil:
	case c.client != nil:
		c.client.Close()
	default:
		c.nc.Close()
	}
}

// exchange makes a request that has no body the way a web server's event
// loop does: one write of the whole request, then its records read in this
// goroutine until FCGI_END_REQUEST. wire.Client hands every record between
// goroutines, which is right for multiplexing and full-duplex bodies but
// cost the load generator about half a millisecond of CPU per tiny
// request, on a 2-CPU machine where the wrapper under test needs that CPU.
func (c *conn) exchange(request []byte, id uint16, stdout io.Writer) (wire.EndRequest, error) {
	if _, err := c.nc.Write(request); err != nil {
		return wire.EndRequest{}, err
	}
	if c.rr == nil {
		c.rr = newRecordReader(c.nc)
	}
	var end wire.EndRequest
	content := func(h wire.Header, p []byte) error {
		switch {
		case h.ID != id:
			return nil // failed below
		case h.Type == wire.TypeStdout:
			_, err := stdout.Write(p)
			return err
		case h.Type == wire.TypeEndRequest:
			var err error
			end, err = wire.ParseEndRequest(p)
			return err
		}
		return nil
	}
	for {
		h, err := c.rr.next(content)
		switch {
		case err != nil:
			return wire.EndRequest{}, err
		case h.ID != id:
			return wire.EndRequest{}, fmt.Errorf("record %v for request %d, want %d", h.Type, h.ID, id)
		case h.Type == wire.TypeEndRequest:
			return end, nil
		case h.Type != wire.TypeStdout && h.Type != wire.TypeStderr:
			return wire.EndRequest{}, fmt.Errorf("unexpected %v record", h.Type)
		}
	}
}

// encodeRequest is a whole bodyless request as exchange sends it:
// BEGIN_REQUEST, the params, and the empty PARAMS and STDIN that end them.
func encodeRequest(id uint16, params []wire.Pair, keepConn bool) []byte {
	var flags uint8
	if keepConn {
		flags = wire.FlagKeepConn
	}
	b := wire.AppendRequestHead(nil, id, wire.RoleResponder, flags, params)
	return wire.AppendRecord(b, wire.TypeStdin, id, nil)
}

// oneRequest makes one request on *c, dialling first if it is nil, and
// says how long it took, how many body bytes came back, and whether it
// failed by running out of time.
func oneRequest(ctx context.Context, spec *loadSpec, c **conn) (lat time.Duration, body int64, timedOut bool, err error) {
	start := time.Now()
	if *c == nil {
		dctx := ctx
		if spec.Timeout > 0 {
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(ctx, spec.Timeout)
			defer cancel()
		}
		if *c, err = dialConn(dctx, spec.Network, spec.Addr); err != nil {
			return 0, 0, errors.Is(err, context.DeadlineExceeded), err
		}
	}
	nc := (*c).nc
	// An interrupt must not wait for Do either.
	defer context.AfterFunc(ctx, func() { nc.Close() })()
	if spec.Timeout > 0 {
		var fired atomic.Bool
		t := time.AfterFunc(spec.Timeout, func() {
			fired.Store(true)
			nc.Close()
		})
		defer func() {
			if !t.Stop() && fired.Load() && err != nil {
				timedOut = true
				err = fmt.Errorf("no reply within %s: %w", spec.Timeout, err)
			}
		}()
	}
	var out respCheck
	var end wire.EndRequest
	if spec.Body > 0 {
		req := &wire.ClientRequest{Params: spec.Params, KeepConn: spec.KeepConn, Stdin: &zeroReader{left: spec.Body}}
		end, err = (*c).wireClient().Do(ctx, req, &out, nil)
	} else {
		end, err = (*c).exchange(spec.request(), 1, &out)
	}
	lat = time.Since(start)
	switch {
	case err != nil:
		return 0, 0, false, err
	case end.ProtocolStatus != wire.StatusRequestComplete:
		return 0, 0, false, fmt.Errorf("protocol status %v", end.ProtocolStatus)
	case !out.complete():
		return 0, 0, false, errors.New("no complete response head")
	case out.status != 200:
		return 0, 0, false, fmt.Errorf("status %d", out.status)
	case spec.WantBody >= 0 && out.body != spec.WantBody:
		return 0, 0, false, fmt.Errorf("response body of %d bytes, want %d", out.body, spec.WantBody)
	}
	return lat, out.body, false, nil
}
