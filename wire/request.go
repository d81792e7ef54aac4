package wire

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// Request is one FastCGI request, handed to the Handler once its PARAMS
// stream is complete; the body may still be arriving.
type Request struct {
	ID       uint16
	Role     Role
	KeepConn bool
	// Params holds the PARAMS stream; for a name sent twice the last value wins.
	Params map[string]string
	// Stdin is the FCGI_STDIN stream. For AUTHORIZER it is at EOF at once.
	Stdin Input
	// Data is the FCGI_DATA stream of a FILTER request, nil for other roles.
	Data Input
	// Stdout sends FCGI_STDOUT records. Stdout and Stderr may be used from
	// different goroutines at the same time.
	Stdout Output
	// Stderr sends FCGI_STDERR records.
	Stderr     Output
	LocalAddr  net.Addr
	RemoteAddr net.Addr
}

// Input is a request's input stream (FCGI_STDIN, FCGI_DATA) as the
// connection's read loop fills it. Read returns the data queued so far,
// io.EOF after the stream's empty record, and the cancellation cause once
// the request's context is cancelled.
type Input interface {
	io.Reader
	// AtEOF reports whether the whole stream has arrived and been read:
	// the next Read returns io.EOF. A handler that sees it before starting
	// a program can give it no input rather than a pipe it would close at
	// once; a false answer promises nothing, as the empty record may yet
	// come.
	AtEOF() bool
	// CloseRead tells the stream that its reader wants no more of it: a
	// Read waiting for data returns ErrStreamClosed at once, and queued and
	// future data are dropped, so the connection's read loop never waits
	// on this stream again. A handler uses it when its consumer (a script)
	// has gone while the web server may still be sending, or may never
	// send, the rest. It always returns nil.
	CloseRead() error
	// SpliceTo has the stream's content go into pipe, a pollable pipe's
	// write end, until max bytes have gone: first what is queued, which it
	// writes itself, then each record as it comes, which the connection
	// moves without copying it through memory (splice(2)). It calls
	// progress after each write and record. It returns how many bytes
	// went once data is queued for Read (a record, or a queue, that would
	// pass max), at the stream's end, when max is reached, or when the
	// pipe fails (with the pipe's error; the rest of that record is
	// dropped). When the request's context ends it returns its cause at
	// once, and the read loop may still be moving a record until the
	// caller closes the pipe. Streams that cannot splice return
	// ErrNotSpliceable; the caller reads and writes instead.
	SpliceTo(pipe *os.File, max int64, progress func()) (int64, error)
}

// Output is a request's output stream (FCGI_STDOUT, FCGI_STDERR). Write
// sends what Delay kept back, then p, at once as records in a single
// write, without copying p; an empty p sends nothing, as an empty record
// would end the stream. Write and Delay fail once the request's context is
// cancelled (with its cause), and after the handler returned.
type Output interface {
	io.Writer
	// Delay is Write for output that may wait up to d to leave with what
	// follows it: a copy of p waits to go out in the same write as the
	// next Write or, when the handler returns, the stream's end and
	// END_REQUEST. A handler uses it for output that may well be the last
	// (a CGI script's short read before it exits): the client then wakes
	// once for the whole response instead of twice. Once d has passed the
	// bytes go out alone, so output followed by silence is late by d at
	// most. d <= 0 makes it Write.
	Delay(p []byte, d time.Duration) (int, error)
	// SpliceFrom sends n bytes read from the pipe descriptor pipe, which
	// holds at least that many, without copying them through memory
	// (splice(2)), after what Delay kept back. It sends a multiple of 8
	// bytes, so that records stay aligned without padding (up to 7 stay in
	// the pipe), and returns how many went: ErrNotSpliceable and 0 where
	// the connection cannot take a splice, and the caller reads and
	// writes instead.
	SpliceFrom(pipe int, n int) (int, error)
}

// Handler serves FastCGI requests.
type Handler interface {
	// ServeFCGI runs in its own goroutine. ctx is cancelled when the request
	// is aborted (FCGI_ABORT_REQUEST), its connection closes or fails, or
	// the server is closed; context.Cause(ctx) says which: ErrAborted,
	// ErrConnClosed, ErrServerClosed, or the error of a failed write. The
	// return value becomes END_REQUEST's appStatus. Stdout and Stderr must
	// not be used after it returns.
	ServeFCGI(ctx context.Context, req *Request) (appStatus uint32)
}

// HandlerFunc lets an ordinary function be a Handler.
type HandlerFunc func(ctx context.Context, req *Request) uint32

// ServeFCGI calls f(ctx, req).
func (f HandlerFunc) ServeFCGI(ctx context.Context, req *Request) uint32 {
	return f(ctx, req)
}

type reqState uint8

const (
	reqParams   reqState = iota // PARAMS still arriving; no handler yet
	reqRunning                  // handler running
	reqFinished                 // END_REQUEST decided; stray input is dropped
)

// request is the connection's record of one request ID. state, stdinDone
// and dataDone are guarded by conn.mu; params only the read loop touches.
type request struct {
	id       uint16
	role     Role
	keepConn bool
	state    reqState

	// stdinDone and dataDone record the empty STDIN and DATA records, so a
	// finished request's entry can go once the client has sent all it will.
	stdinDone, dataDone bool

	params strings.Builder // PARAMS content so far: the params' strings share it
	begun  time.Time       // BEGIN_REQUEST arrived: ParamsTimeout counts from here

	// The request's parts live in one allocation: req, and what it points
	// to but the params and DATA.
	req    Request
	ctx    context.Context
	cancel context.CancelCauseFunc
	stdin  inStream
	data   *inStream // nil unless FILTER
	stdout outStream
	stderr outStream

	endBuf  [3*headerLen + 8]byte // scratch for the closing records
	endIov  [7][]byte             // the closing write's pieces: two held records and endBuf
	endSend net.Buffers           // what write consumes; a field so it does not escape
}

// inputDone reports whether the client has sent every input stream's end.
func (r *request) inputDone() bool {
	return r.stdinDone && (r.role != RoleFilter || r.dataDone)
}
