package observe

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestAccessLogInjection: a Basic-auth user name with a newline in it,
// passed through by nginx as REMOTE_USER, forged a whole second line of
// the access log. Every field is escaped now, as nginx does.
func TestAccessLogInjection(t *testing.T) {
	forged := "x\n10.0.0.1 - admin [01/Jan/2026:00:00:00 +0000] \"GET /admin HTTP/1.1\" 200 0"
	rec := &Record{
		Start: time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC), Remote: "127.0.0.1\r\n", User: forged,
		Method: "GET", URI: "/a\"b\\c", Protocol: "HTTP/1.1", Script: "/srv/x\x00y", Status: 200, ExitCode: 0, Outcome: "ok",
	}
	var text bytes.Buffer
	NewAccessLog(&text, false).Observe(rec)
	line := text.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("one request made %d lines: %q", strings.Count(line, "\n"), line)
	}
	for _, want := range []string{`127.0.0.1\x0D\x0A - x\x0A10.0.0.1`, `"GET /a\x22b\x5Cc HTTP/1.1"`, `script="/srv/x\x00y"`} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}

	var js bytes.Buffer
	NewAccessLog(&js, true).Observe(rec)
	if strings.Count(js.String(), "\n") != 1 {
		t.Fatalf("JSON: one request made several lines: %q", js.String())
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back["user"] != forged {
		t.Errorf("JSON user = %q (err %v), want the value back intact", back["user"], err)
	}
}

// TestLoggedValuesAreCapped: the "script refused" line embedded a 1 MB
// requested path whole. Every value is cut to MaxLogValue bytes now,
// also in loggers derived with With and Named.
func TestLoggedValuesAreCapped(t *testing.T) {
	var out bytes.Buffer
	log := CapValues(hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Debug}), MaxLogValue)
	huge := "/" + strings.Repeat("a/", 1<<19)
	log.With("uri", huge).Named("req").Warn("script refused", "reason", huge, "n", 3)
	if out.Len() > 4*MaxLogValue {
		t.Fatalf("log line is %d bytes, want it capped near %d per value", out.Len(), MaxLogValue)
	}
	if got := strings.Count(out.String(), "…"); got != 2 {
		t.Errorf("want both long values marked as cut, got %d marks in %q", got, out.String())
	}
	if !strings.Contains(out.String(), "n=3") {
		t.Errorf("a short value was lost: %q", out.String())
	}
}

func TestCutKeepsUTF8Whole(t *testing.T) {
	s := strings.Repeat("é", 10) // two bytes each
	for max := 0; max < len(s); max++ {
		got := Cut(s, max)
		if !strings.HasSuffix(got, "…") || len(got)-len("…") > max || !utf8Valid(got) {
			t.Errorf("Cut(%d) = %q", max, got)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "?") == s }
