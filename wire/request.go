package wire

import (
	"context"
	"io"
	"net"
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
	// Stdin is the FCGI_STDIN stream as it arrives: io.EOF after its empty
	// record, the cancellation cause once the request's context is
	// cancelled. For AUTHORIZER it is at EOF at once.
	Stdin io.Reader
	// Data is the FCGI_DATA stream of a FILTER request, nil for other roles.
	Data io.Reader
	// Stdout sends each Write at once as FCGI_STDOUT records, without
	// copying. Stdout and Stderr may be used from different goroutines at
	// the same time. Writes fail once the request's context is cancelled,
	// and after the handler returned.
	Stdout io.Writer
	// Stderr sends each Write at once as FCGI_STDERR records.
	Stderr     io.Writer
	LocalAddr  net.Addr
	RemoteAddr net.Addr
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

	params []byte    // PARAMS content so far
	begun  time.Time // BEGIN_REQUEST arrived: ParamsTimeout counts from here

	ctx    context.Context
	cancel context.CancelCauseFunc
	stdin  *inStream
	data   *inStream // nil unless FILTER
	stdout outStream
	stderr outStream

	endBuf [3*headerLen + 8]byte // scratch for the closing records
	endIov [7][]byte             // the closing write's pieces: two held records and endBuf
}

// inputDone reports whether the client has sent every input stream's end.
func (r *request) inputDone() bool {
	return r.stdinDone && (r.role != RoleFilter || r.dataDone)
}
