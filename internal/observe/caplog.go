package observe

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// MaxLogValue is the most bytes of one logged value: a request can carry a
// megabyte path, and one log line per request must not become a megabyte.
const MaxLogValue = 512

// CapValues returns a logger that cuts every string, error and Stringer
// value longer than max bytes, with "…" where it was cut, before l sees
// it. Loggers derived from it (With, Named) cut too.
func CapValues(l hclog.Logger, max int) hclog.Logger {
	return &cappedLogger{Logger: l, max: max}
}

type cappedLogger struct {
	hclog.Logger
	max int
}

// Cut shortens s to at most max bytes, marking the cut with "…"; it never
// splits a UTF-8 sequence it keeps.
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	end := max
	for end > 0 && s[end]&0xC0 == 0x80 {
		end--
	}
	return s[:end] + "…"
}

func (c *cappedLogger) cap(args []any) []any {
	var out []any
	for i, a := range args {
		var s string
		switch v := a.(type) {
		case string:
			s = v
		case error:
			s = v.Error()
		case fmt.Stringer:
			s = v.String()
		default:
			continue
		}
		if len(s) <= c.max {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = Cut(s, c.max)
	}
	if out == nil {
		return args
	}
	return out
}

func (c *cappedLogger) Log(level hclog.Level, msg string, args ...any) {
	c.Logger.Log(level, msg, c.cap(args)...)
}
func (c *cappedLogger) Trace(msg string, args ...any) { c.Logger.Trace(msg, c.cap(args)...) }
func (c *cappedLogger) Debug(msg string, args ...any) { c.Logger.Debug(msg, c.cap(args)...) }
func (c *cappedLogger) Info(msg string, args ...any)  { c.Logger.Info(msg, c.cap(args)...) }
func (c *cappedLogger) Warn(msg string, args ...any)  { c.Logger.Warn(msg, c.cap(args)...) }
func (c *cappedLogger) Error(msg string, args ...any) { c.Logger.Error(msg, c.cap(args)...) }

func (c *cappedLogger) With(args ...any) hclog.Logger {
	return &cappedLogger{Logger: c.Logger.With(c.cap(args)...), max: c.max}
}

func (c *cappedLogger) Named(name string) hclog.Logger {
	return &cappedLogger{Logger: c.Logger.Named(name), max: c.max}
}

func (c *cappedLogger) ResetNamed(name string) hclog.Logger {
	return &cappedLogger{Logger: c.Logger.ResetNamed(name), max: c.max}
}
