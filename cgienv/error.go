package cgienv

import "strconv"

// Error is a refusal to run a script, with the HTTP status the client should
// see (404 or 403) and a reason for the operator's log. The reason may name
// filesystem paths, so it must never be sent to the client; the client gets
// only the status (see AppendError).
type Error struct {
	Status int    // 404 or 403
	Reason string // why, for the log; may contain paths
	Err    error  // the underlying error, if any (e.g. from stat); may be nil
}

func (e *Error) Error() string {
	s := "cgienv: " + strconv.Itoa(e.Status) + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func notFound(reason string, err error) *Error {
	return &Error{Status: 404, Reason: reason, Err: err}
}

func forbidden(reason string, err error) *Error {
	return &Error{Status: 403, Reason: reason, Err: err}
}
