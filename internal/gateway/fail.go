package gateway

import (
	"strconv"
	"strings"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// failReasonMax bounds the reason sent to the web server. nginx cuts an
// error log line at 2 KiB (NGX_MAX_ERROR_STR) and adds the client and the
// request to ours; HAProxy 2.6 with log-stderr dropped the response (the
// client saw EOF) for a line of about 450 bytes, and took 300. The whole
// reason is in fcgi-wrap's own log.
const failReasonMax = 1024

// fail answers the client with status and nothing more (no path ever goes
// into a body), and tells the web server why when scripts' stderr goes to
// it (--stderr fcgi or both, fcgiwrap's -f): as one FCGI_STDERR line,
// which nginx logs as "FastCGI sent in stderr" beside the client and the
// request. An operator who sends stderr there reads that log first, and
// may never look at fcgi-wrap's own.
func fail(s *Settings, req *wire.Request, out *countingWriter, rec *observe.Record, status int, why string, extra ...cgienv.Field) {
	if s.StderrToFCGI && why != "" {
		line := "fcgi-wrap: " + strconv.Itoa(status) + " " + cgienv.StatusText(status) + ": " +
			observe.Cut(oneLine(why), failReasonMax) + "\n"
		// Before the response: nginx logs stderr that comes after the
		// head too, but a client gone by then would take it with it.
		// A failed write fails the response's write as well.
		_, _ = req.Stderr.Write([]byte(line))
	}
	writeError(out, rec, status, extra...)
}

// fail is fail for the running script.
func (r *run) fail(status int, why string) {
	fail(r.s, r.req, r.out, r.rec, status, why)
}

// noHead is why a script that ended without a complete head got a 502:
// what was wrong with the head first, then which script and how it ended.
func (r *run) noHead(exit spawner.Exit) string {
	why := "no valid response head"
	if r.headEnd != nil {
		why = strings.TrimPrefix(r.headEnd.Error(), "cgienv: ")
	}
	return why + " (" + r.script.Path + ", " + exit.String() + ")"
}

// refusal is a resolution refusal as the operator should read it, without
// the package prefix and status that Error adds for fcgi-wrap's own log.
func refusal(e *cgienv.Error) string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// oneLine keeps a reason on one log line: a file name may hold a newline.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}
