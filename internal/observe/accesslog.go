package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// accessLog writes one line per request, in a layout that log tools for
// web servers already parse (combined-like), or as JSON.
type accessLog struct {
	mu   sync.Mutex
	out  io.Writer
	json bool
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
}

func (a *accessLog) observe(rec *requestRecord) {
	e := accessEntry{
		Time:      rec.start.Format(time.RFC3339Nano),
		Remote:    rec.remote,
		User:      rec.user,
		Method:    rec.method,
		URI:       rec.uri,
		Protocol:  rec.protocol,
		Script:    rec.script,
		Status:    rec.status,
		BytesIn:   rec.bytesIn,
		BytesOut:  rec.bytesOut,
		Duration:  rec.duration.Seconds(),
		QueueWait: rec.queueWait.Seconds(),
		PID:       int(rec.pid.Load()),
		Outcome:   rec.outcome,
	}
	if rec.exitCode >= 0 {
		code := rec.exitCode
		e.ExitStatus = &code
	}
	var line []byte
	if a.json {
		line, _ = json.Marshal(e)
		line = append(line, '\n')
	} else {
		line = appendAccessText(nil, rec, &e)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.out.Write(line)
}

// appendAccessText: the combined log layout for the part web servers
// share, then key=value pairs for what only fcgi-wrap knows.
func appendAccessText(b []byte, rec *requestRecord, e *accessEntry) []byte {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	exit := "-"
	if e.ExitStatus != nil {
		exit = strconv.Itoa(*e.ExitStatus)
	}
	b = fmt.Appendf(b, "%s - %s [%s] %q %d %d in=%d script=%q duration=%.6f queue=%.6f pid=%d exit=%s outcome=%s\n",
		dash(e.Remote), dash(e.User), rec.start.Format("02/Jan/2006:15:04:05 -0700"),
		dash(e.Method)+" "+dash(e.URI)+" "+dash(e.Protocol),
		e.Status, e.BytesOut, e.BytesIn, e.Script, e.Duration, e.QueueWait, e.PID, exit, e.Outcome)
	return b
}

// observers fans one finished request out to every interested party.
type observers []requestObserver

func (o observers) observe(rec *requestRecord) {
	for _, obs := range o {
		obs.observe(rec)
	}
}
