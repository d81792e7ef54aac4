package gateway

import (
	"os"
	"strconv"
	"sync"

	"github.com/fcgi-wrap/fcgi-wrap/spawner"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// bodyChunk is how much request body is taken from the connection and
// written to the script's stdin at once: several records per pipe write.
const bodyChunk = 256 << 10

var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, bodyChunk); return &b }}

// startFeeders starts the goroutines that feed the script its body and
// FILTER data; feeders waits for them. Stderr is read by watch.go.
func (r *run) startFeeders(feeders *sync.WaitGroup, proc *spawner.Process) {
	if stdin := proc.Stdin(); stdin == nil {
		r.resp.bodyComplete()
	} else {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			r.feedBody(stdin)
		}()
	}
	if data := proc.Data(); data != nil {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			feed(data, r.req.Data)
		}()
	}
}

// feedBody writes the request body to the script's stdin while its output
// is read elsewhere, so an echo of any size cannot deadlock. A script that
// stops reading early (closes stdin or exits) gets no more, and the rest
// of the body is dropped as it arrives, so the connection keeps moving.
func (r *run) feedBody(stdin *os.File) {
	defer stdin.Close()
	// However feeding ends, nothing more is waited for before the head.
	defer r.resp.bodyComplete()
	declared, hasDeclared := int64(-1), false
	if cl := r.req.Params["CONTENT_LENGTH"]; cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			declared, hasDeclared = n, true
		}
	}
	if declared == 0 {
		// No body: nothing to wait for, even from a client that never
		// sends the empty FCGI_STDIN.
		r.resp.bodyComplete()
	}
	bufp := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(bufp)
	buf := *bufp
	var seen int64
	defer func() { r.rec.BytesIn = seen }()
	for {
		n, err := r.req.Stdin.Read(buf)
		if n > 0 {
			seen += int64(n)
			if r.s.MaxBody > 0 && seen > r.s.MaxBody {
				r.cancel(errBodyTooLarge)
				return
			}
			if hasDeclared && seen > declared {
				r.cancel(errBodyExcess)
				return
			}
			if _, werr := stdin.Write(buf[:n]); werr != nil {
				r.req.Stdin.CloseRead()
				return
			}
			r.resp.bodyProgress()
			if hasDeclared && seen == declared {
				r.resp.bodyComplete()
			}
		}
		if err != nil {
			return
		}
	}
}

// feed copies a FILTER request's FCGI_DATA to the script's fd 3.
func feed(dst *os.File, src wire.Input) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.CloseRead()
				return
			}
		}
		if err != nil {
			return
		}
	}
}
