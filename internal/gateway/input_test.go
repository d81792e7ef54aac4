package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// TestUploadSplicedWhole: a body of several megabytes, more than the stdin
// pipe and the socket buffer hold, goes from the connection into the
// script's stdin by splice and arrives whole and in order, and the log
// counts every byte of it.
func TestUploadSplicedWhole(t *testing.T) {
	body := make([]byte, 3<<20+5)
	for i := range body {
		body[i] = byte(i * 7 / 3)
	}
	recs := &records{}
	ts := startTestServer(t, map[string]string{
		"hash.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec sha256sum\n",
	}, func(c *testConfig) { c.observer = recs })
	req := ts.request("hash.cgi", wire.Pair{Name: "REQUEST_METHOD", Value: "POST"},
		wire.Pair{Name: "CONTENT_LENGTH", Value: fmt.Sprint(len(body))})
	req.Stdin = bytes.NewReader(body)
	out, _ := doRequest(t, ts, req)
	sum := sha256.Sum256(body)
	if !strings.Contains(out, hex.EncodeToString(sum[:])) {
		t.Fatalf("got %q, want the sha256 of the %d bytes sent", out, len(body))
	}
	all := recs.all()
	if len(all) != 1 || all[0].BytesIn != int64(len(body)) {
		t.Errorf("logged bytes in: got %+v, want one record of %d", all, len(body))
	}
}

// TestBodyPastItsLengthIsRefusedNotAnswered: the record that takes a
// spliced body past its CONTENT_LENGTH is read, not spliced, and the body
// is refused as one that lies about its length. Before, the script's stdin
// was closed as the request was cancelled, so a script could take the
// body cut short for a whole one and answer 200 before it was killed
// (3 runs in 30 under -race).
func TestBodyPastItsLengthIsRefusedNotAnswered(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"count.cgi": "#!/bin/sh\nn=$(wc -c)\nprintf 'Content-Type: text/plain\\n\\nbytes=%s\\n' $n\n",
	}, func(c *testConfig) { c.settings.KillGrace = 100 * time.Millisecond })
	req := ts.request("count.cgi", wire.Pair{Name: "REQUEST_METHOD", Value: "POST"},
		wire.Pair{Name: "CONTENT_LENGTH", Value: fmt.Sprint(4 << 20)})
	// Past what the connection queues before the script starts, so that
	// most of the body meets the splice.
	req.Stdin = bytes.NewReader(make([]byte, 5<<20))
	out, _ := doRequest(t, ts, req)
	if !strings.HasPrefix(out, "Status: 413") {
		t.Errorf("got %q, want a 413", out)
	}
	testutil.WaitFor(t, "the log to say why", func() bool {
		return strings.Contains(ts.logs.String(), errBodyExcess.Error())
	})
}

// pacedReader yields one chunk per tick: an upload slower than a timeout.
// Once done closes (the test is over) it fails instead of waiting, so a
// failed test's client can close.
type pacedReader struct {
	chunks int
	size   int
	tick   *time.Ticker
	done   <-chan struct{}
}

var errTestOver = errors.New("the test is over")

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.chunks == 0 {
		return 0, io.EOF
	}
	select {
	case <-p.tick.C:
	case <-p.done:
		return 0, errTestOver
	}
	p.chunks--
	n := min(len(b), p.size)
	for i := range b[:n] {
		b[i] = 'u'
	}
	return n, nil
}

// TestHeaderTimeoutCountsFromBodyProgress: --header-timeout restarts with
// every piece of body the script takes, so a slow upload to a script that
// reads before answering succeeds, while a script that stops reading its
// body is still held to the limit.
func TestHeaderTimeoutCountsFromBodyProgress(t *testing.T) {
	ts := startTestServer(t, map[string]string{
		"count.cgi":  "#!/bin/sh\nn=$(wc -c)\nprintf 'Content-Type: text/plain\\n\\nbytes=%s\\n' $n\n",
		"ignore.cgi": "#!/bin/sh\nexec sleep 600\n",
	}, func(c *testConfig) {
		c.settings.HeaderTimeout = 300 * time.Millisecond
		c.settings.KillGrace = 100 * time.Millisecond
	})
	c := ts.client(t)
	// Cleanups run last first: the reader stops before the client closes.
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	slow := ts.request("count.cgi", wire.Pair{Name: "CONTENT_LENGTH", Value: "10000"})
	slow.Stdin = &pacedReader{chunks: 10, size: 1000, tick: tick, done: done}
	var out bytes.Buffer
	if _, err := c.Do(context.Background(), slow, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "bytes=10000") {
		t.Fatalf("slow upload: got %q, want the script's answer with bytes=10000", out.String())
	}

	stuck := ts.request("ignore.cgi", wire.Pair{Name: "CONTENT_LENGTH", Value: fmt.Sprint(4 << 20)})
	stuck.Stdin = io.LimitReader(&patternReader{}, 4<<20)
	out.Reset()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Do(ctx, stuck, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "Status: 504") {
		t.Fatalf("script not reading its body: got %q, want a 504", out.String())
	}
}
