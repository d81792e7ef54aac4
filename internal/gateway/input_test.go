package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
