package observe

import (
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"
)

// AccessLog writes one line per request, in a layout that log tools for
// web servers already parse (combined-like), or as JSON.
type AccessLog struct {
	mu   sync.Mutex
	out  io.Writer
	json bool
}

// NewAccessLog writes to out, as JSON lines if asJSON.
func NewAccessLog(out io.Writer, asJSON bool) *AccessLog {
	return &AccessLog{out: out, json: asJSON}
}

// accessEntry is the JSON form; the text form has the same fields.
type accessEntry struct {
	Time       string  `json:"time"`
	Remote     string  `json:"remote"`
	User       string  `json:"user,omitempty"`
	Method     string  `json:"method"`
	URI        string  `json:"uri"`
	Protocol   string  `json:"protocol,omitempty"`
	Script     string  `json:"script,omitempty"`
	Status     int     `json:"status"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
	Duration   float64 `json:"duration"`
	QueueWait  float64 `json:"queue_wait"`
	PID        int     `json:"pid,omitempty"`
	ExitStatus *int    `json:"exit_status,omitempty"`
	Outcome    string  `json:"outcome"`
	// Set only for a request whose script started.
	UID     *int     `json:"uid,omitempty"`
	CPU     *float64 `json:"cpu,omitempty"`      // seconds
	MemPeak int64    `json:"mem_peak,omitempty"` // bytes; 0: not measured
}

func (a *AccessLog) Observe(rec *Record) {
	e := accessEntry{
		Time:      rec.Start.Format(time.RFC3339Nano),
		Remote:    rec.Remote,
		User:      rec.User,
		Method:    rec.Method,
		URI:       rec.URI,
		Protocol:  rec.Protocol,
		Script:    rec.Script,
		Status:    rec.Status,
		BytesIn:   rec.BytesIn,
		BytesOut:  rec.BytesOut,
		Duration:  rec.Duration.Seconds(),
		QueueWait: rec.QueueWait.Seconds(),
		PID:       int(rec.PID.Load()),
		Outcome:   rec.Outcome,
	}
	if rec.ExitCode >= 0 {
		code := rec.ExitCode
		e.ExitStatus = &code
	}
	if e.PID != 0 {
		uid, cpu := rec.UID, rec.CPU.Seconds()
		e.UID, e.CPU, e.MemPeak = &uid, &cpu, rec.MemPeak
	}
	var line []byte
	if a.json {
		// encoding/json escapes control characters, so a value cannot end
		// the line early.
		line, _ = json.Marshal(e)
		line = append(line, '\n')
	} else {
		line = appendAccessText(nil, rec.Start, &e)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.out.Write(line)
}

// appendAccessText: the combined log layout for the part web servers
// share, then key=value pairs for what only fcgi-wrap knows. Every value
// that came from a request is escaped: a user name with a newline in it
// (Basic auth passes one through nginx) must not forge a line.
func appendAccessText(b []byte, start time.Time, e *accessEntry) []byte {
	b = appendField(b, e.Remote)
	b = append(b, " - "...)
	b = appendField(b, e.User)
	b = append(b, " ["...)
	b = start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `] "`...)
	b = appendField(b, e.Method)
	b = append(b, ' ')
	b = appendField(b, e.URI)
	b = append(b, ' ')
	b = appendField(b, e.Protocol)
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = append(b, " in="...)
	b = strconv.AppendInt(b, e.BytesIn, 10)
	b = append(b, ` script="`...)
	b = AppendEscaped(b, e.Script)
	b = append(b, `" duration=`...)
	b = strconv.AppendFloat(b, e.Duration, 'f', 6, 64)
	b = append(b, " queue="...)
	b = strconv.AppendFloat(b, e.QueueWait, 'f', 6, 64)
	b = append(b, " pid="...)
	b = strconv.AppendInt(b, int64(e.PID), 10)
	b = append(b, " exit="...)
	b = appendIntOrDash(b, e.ExitStatus)
	b = append(b, " outcome="...)
	b = append(b, e.Outcome...)
	b = appendUsage(b, e)
	return append(b, '\n')
}

// appendUsage writes what the script ran as and used, after the fields
// earlier versions wrote, so that parsers of those keep working:
// " uid=33 cpu=0.012 mem_peak=5.1M", with "-" for what is not known.
func appendUsage(b []byte, e *accessEntry) []byte {
	b = append(b, " uid="...)
	b = appendIntOrDash(b, e.UID)
	b = append(b, " cpu="...)
	if e.CPU != nil {
		b = strconv.AppendFloat(b, *e.CPU, 'f', 3, 64)
	} else {
		b = append(b, '-')
	}
	b = append(b, " mem_peak="...)
	if e.MemPeak > 0 {
		b = AppendBytes(b, e.MemPeak)
	} else {
		b = append(b, '-')
	}
	return b
}

// AppendBytes writes n bytes as a person reads it: 512, 4.0K, 5.1M, 1.2G
// (powers of 1024, one decimal).
func AppendBytes(b []byte, n int64) []byte {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.AppendInt(b, n, 10)
	}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return append(strconv.AppendFloat(b, v, 'f', 1, 64), units[u])
}

// appendIntOrDash writes *n, or "-" where it is not known.
func appendIntOrDash(b []byte, n *int) []byte {
	if n == nil {
		return append(b, '-')
	}
	return strconv.AppendInt(b, int64(*n), 10)
}

// appendField writes an escaped value, or "-" for an empty one.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return AppendEscaped(b, s)
}

// AppendEscaped appends s with every byte a log reader could mistake for
// structure written as \xHH, as nginx writes its access log: control
// characters, DEL and bytes past ASCII, the double quote and the
// backslash. Everything else is copied as it is.
func AppendEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}
