package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

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
