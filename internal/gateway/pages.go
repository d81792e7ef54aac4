package gateway

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/observe"
	"github.com/fcgi-wrap/fcgi-wrap/pool"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// statusReport is the status page, in the terms php-fpm's page uses where
// they mean the same thing, so operators read it without a manual.
type statusReport struct {
	Pool               string          `json:"pool"`
	StartTime          time.Time       `json:"start time"`
	StartSince         int64           `json:"start since"`
	AcceptedConn       uint64          `json:"accepted conn"`
	ListenQueue        int             `json:"listen queue"`
	MaxListenQueue     int             `json:"max listen queue"`
	ListenQueueLen     int             `json:"listen queue len"`
	IdleProcesses      int             `json:"idle processes"`
	ActiveProcesses    int             `json:"active processes"`
	TotalProcesses     int             `json:"total processes"`
	MaxActiveProcesses int             `json:"max active processes"`
	Rejected           uint64          `json:"rejected"`
	Timeouts           uint64          `json:"timeouts"`
	Aborted            uint64          `json:"aborted"`
	SpawnFailures      uint64          `json:"spawn failures"`
	Failed             uint64          `json:"failed"`
	Completed          uint64          `json:"completed"`
	Connections        int             `json:"connections"`
	Processes          []statusProcess `json:"processes,omitempty"`
}

type statusProcess struct {
	PID      int     `json:"pid"`
	Script   string  `json:"script"`
	Method   string  `json:"request method"`
	URI      string  `json:"request uri"`
	Remote   string  `json:"remote addr"`
	Start    string  `json:"start time"`
	Duration float64 `json:"request duration"`
	// What the script runs as and has used so far; CPU and memory are
	// measured only in a cgroup (memory only with its controller).
	UID     *int     `json:"uid,omitempty"`
	CPU     *float64 `json:"cpu seconds,omitempty"`
	MemPeak int64    `json:"memory peak,omitempty"`
}

// servePage answers the ping and status pages, and reports whether the
// request was one of them.
func (g *Gateway) servePage(s *Settings, req *wire.Request, out *countingWriter, rec *observe.Record) bool {
	// The pages answer web requests only; an authorizer asking for them
	// gets the script, as for any other path.
	if req.Role != wire.RoleResponder {
		return false
	}
	switch {
	case isSpecialPath(req.Params, s.PingPath):
		rec.Outcome = "ok"
		writePing(out, rec, g.draining.Load())
	case isSpecialPath(req.Params, s.StatusPath):
		rec.Outcome = "ok"
		g.writeStatus(out, rec, req.Params["QUERY_STRING"])
	default:
		return false
	}
	return true
}

// isSpecialPath tells whether the request names one of fcgi-wrap's own
// pages; servers send the path as SCRIPT_NAME or DOCUMENT_URI.
func isSpecialPath(params map[string]string, path string) bool {
	return path != "" && (params["SCRIPT_NAME"] == path || params["DOCUMENT_URI"] == path)
}

// pageHead keeps proxies and browsers from caching fcgi-wrap's own pages.
const pageHead = "Content-Type: text/plain\r\nCache-Control: no-store\r\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\r\n"

// writePing answers "pong", or 503 once fcgi-wrap is draining: a health
// check then takes the instance out of its balancer while the requests
// it still runs finish.
func writePing(out *countingWriter, rec *observe.Record, draining bool) {
	if draining {
		rec.Status = 503
		out.Write([]byte("Status: 503 Service Unavailable\r\n" + pageHead + "\r\ndraining\n"))
		return
	}
	rec.Status = 200
	out.Write([]byte(pageHead + "\r\npong\n"))
}

func (g *Gateway) writeStatus(out *countingWriter, rec *observe.Record, query string) {
	q, _ := url.ParseQuery(query)
	_, full := q["full"]
	_, asJSON := q["json"]
	now := time.Now()
	snap := g.pool.Snapshot()
	report := statusReport{
		Pool:               "fcgi-wrap",
		StartTime:          snap.Started,
		StartSince:         int64(now.Sub(snap.Started).Seconds()),
		AcceptedConn:       snap.Accepted,
		ListenQueue:        snap.Queued,
		MaxListenQueue:     snap.MaxQueued,
		ListenQueueLen:     snap.QueueLimit,
		IdleProcesses:      max(snap.Workers-snap.Active, 0),
		ActiveProcesses:    snap.Active,
		TotalProcesses:     snap.Workers,
		MaxActiveProcesses: snap.MaxActive,
		Rejected:           snap.Rejected,
		Timeouts:           snap.TimedOut,
		Aborted:            snap.Aborted,
		SpawnFailures:      snap.SpawnFailed,
		Failed:             snap.Failed,
		Completed:          snap.Completed,
	}
	if g.ServerStats != nil {
		report.Connections = g.ServerStats().Conns
	}
	if full {
		report.Processes = g.processesOf(snap.Running, now)
	}
	rec.Status = 200
	var b strings.Builder
	b.WriteString("Cache-Control: no-store\r\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\r\n")
	if asJSON {
		b.WriteString("Content-Type: application/json\r\n\r\n")
		body, _ := json.MarshalIndent(report, "", "  ")
		b.Write(body)
		b.WriteByte('\n')
	} else {
		b.WriteString("Content-Type: text/plain\r\n\r\n")
		writeStatusText(&b, &report)
	}
	out.Write([]byte(b.String()))
}

func (g *Gateway) processesOf(running []pool.Job, now time.Time) []statusProcess {
	procs := make([]statusProcess, 0, len(running))
	for _, job := range running {
		p := statusProcess{
			PID:      job.PID,
			Script:   job.Script,
			Method:   job.Method,
			URI:      job.URI,
			Remote:   job.Remote,
			Start:    job.Started.Format(time.RFC3339),
			Duration: now.Sub(job.Started).Seconds(),
		}
		if uid, u, measured, ok := g.usageOf(job.PID); ok {
			p.UID = &uid
			if measured {
				cpu := u.CPU.Seconds()
				p.CPU, p.MemPeak = &cpu, u.MemPeak
			}
		}
		procs = append(procs, p)
	}
	return procs
}

func writeStatusText(b *strings.Builder, r *statusReport) {
	row := func(name string, value any) { fmt.Fprintf(b, "%-21s %v\n", name+":", value) }
	row("pool", r.Pool)
	row("start time", r.StartTime.Format(time.RFC3339))
	row("start since", r.StartSince)
	row("accepted conn", r.AcceptedConn)
	row("listen queue", r.ListenQueue)
	row("max listen queue", r.MaxListenQueue)
	row("listen queue len", r.ListenQueueLen)
	row("idle processes", r.IdleProcesses)
	row("active processes", r.ActiveProcesses)
	row("total processes", r.TotalProcesses)
	row("max active processes", r.MaxActiveProcesses)
	row("rejected", r.Rejected)
	row("timeouts", r.Timeouts)
	row("aborted", r.Aborted)
	row("spawn failures", r.SpawnFailures)
	row("failed", r.Failed)
	row("completed", r.Completed)
	row("connections", r.Connections)
	for _, p := range r.Processes {
		b.WriteString("\n************************\n")
		row("pid", p.PID)
		row("script", p.Script)
		row("request method", p.Method)
		row("request uri", p.URI)
		row("remote addr", p.Remote)
		row("start time", p.Start)
		row("request duration", fmt.Sprintf("%.3f", p.Duration))
		if p.UID != nil {
			row("uid", *p.UID)
		}
		if p.CPU != nil {
			row("cpu seconds", fmt.Sprintf("%.3f", *p.CPU))
		}
		if p.MemPeak > 0 {
			row("memory peak", string(observe.AppendBytes(nil, p.MemPeak)))
		}
	}
}
