package daemon

import (
	"strings"
	"testing"
)

func TestAllowPatternWarnings(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		warn    string // "" for none
	}{
		{"/usr/lib/cgit/cgit.cgi", ""},
		{"/srv/cgi/*.cgi", ""},
		// spawn-fcgi's -p 9000 (a port) silently became an allow pattern.
		{"9000", "not spawn-fcgi's port: listen with --socket tcp:127.0.0.1:9000"},
		{"*.cgi", "matches no script"},
		{"cgit.cgi", "matches no script"},
	} {
		w := allowPatternWarnings([]string{tt.pattern})
		switch {
		case tt.warn == "" && len(w) > 0:
			t.Errorf("%q: got warning %s, want none", tt.pattern, w[0])
		case tt.warn != "" && (len(w) != 1 || !strings.Contains(w[0].String(), tt.warn)):
			t.Errorf("%q: got %v, want a warning with %q", tt.pattern, w, tt.warn)
		}
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{Msg: "no web server user can connect to this socket", Args: []any{"socket", "unix:/run/x.sock", "hint", "a b"}}
	want := `no web server user can connect to this socket: socket=unix:/run/x.sock hint="a b"`
	if got := w.String(); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
