package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// failScripts fail each in one of the ways fcgi-wrap answers itself.
var failScripts = map[string]string{
	"noshebang.cgi": "echo no #! line here\n",
	"dos.cgi":       "#!/bin/sh\r\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\r\n",
	"nohead.cgi":    "#!/bin/sh\nexit 0\n",
	"bodyfirst.cgi": "#!/bin/sh\necho 'Hello world'\necho\n",
	"noblank.cgi":   "#!/bin/sh\nprintf 'Content-Type: text/plain\\n'\n",
	"slowhead.cgi":  "#!/bin/sh\nprintf 'Content-Type: text/plain\\n'\nexec sleep 600\n",
	"big.cgi":       "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\n",
}

// TestFailureReasonsReachTheWebServer: with --stderr fcgi (Debian's
// fcgiwrap -f), each status fcgi-wrap answers itself also tells the web
// server why, as FCGI_STDERR, which nginx logs beside the request; the
// body never names a path. Before, the reason was in fcgi-wrap's own log
// only.
func TestFailureReasonsReachTheWebServer(t *testing.T) {
	ts := startTestServer(t, failScripts, func(c *testConfig) {
		c.settings.StderrToFCGI, c.settings.StderrToLog = true, false
		c.settings.HeaderTimeout = 300 * time.Millisecond
		c.settings.KillGrace = 0
		c.settings.MaxBody = 100
	})
	if err := os.WriteFile(filepath.Join(ts.dir, "notexec.cgi"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		script string
		extra  []wire.Pair
		status string
		why    []string
	}{
		{"missing.cgi", nil, "404 Not Found", []string{"no such file: $D/missing.cgi"}},
		{"notexec.cgi", nil, "403 Forbidden", []string{"not executable: $D/notexec.cgi", "chmod +x"}},
		{"noshebang.cgi", nil, "500 Internal Server Error", []string{"$D/noshebang.cgi", "ENOEXEC"}},
		{"dos.cgi", nil, "500 Internal Server Error", []string{`"/bin/sh\r"`, "the #! line ends in a carriage return (DOS line endings)"}},
		{"nohead.cgi", nil, "502 Bad Gateway", []string{"invalid response head: the script wrote nothing", "a CGI response must start with header lines"}},
		{"bodyfirst.cgi", nil, "502 Bad Gateway", []string{"line 1: header line without ':'", "a CGI response must start with header lines"}},
		{"noblank.cgi", nil, "502 Bad Gateway", []string{"without the empty line that ends the head", "a CGI response must start with header lines"}},
		{"slowhead.cgi", nil, "504 Gateway Timeout", []string{"$D/slowhead.cgi: no response head within --header-timeout"}},
		{"big.cgi", []wire.Pair{{Name: "CONTENT_LENGTH", Value: "5000"}}, "413 Request Entity Too Large", []string{"CONTENT_LENGTH 5000 is over --max-body 100"}},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			out, errOut := doRequest(t, ts, ts.request(tt.script, tt.extra...))
			if !strings.HasPrefix(out, "Status: "+tt.status) {
				t.Errorf("got response %q, want %s", out, tt.status)
			}
			if strings.Contains(out, ts.dir) {
				t.Errorf("got response %q, want no path in it", out)
			}
			if want := "fcgi-wrap: " + tt.status + ": "; !strings.HasPrefix(errOut, want) || !strings.HasSuffix(errOut, "\n") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("got stderr %q, want one line starting %q", errOut, want)
			}
			for _, w := range tt.why {
				if w = strings.ReplaceAll(w, "$D", ts.dir); !strings.Contains(errOut, w) {
					t.Errorf("got stderr %q, want it to say %q", errOut, w)
				}
			}
		})
	}
}

// TestFailureReasonsStayHomeByDefault: with stderr going to fcgi-wrap's
// log (the default), the web server is told nothing beyond the status.
func TestFailureReasonsStayHomeByDefault(t *testing.T) {
	ts := startTestServer(t, failScripts)
	out, errOut := doRequest(t, ts, ts.request("nohead.cgi"))
	if !strings.HasPrefix(out, "Status: 502") || errOut != "" {
		t.Errorf("got %q and stderr %q, want a 502 and no stderr", out, errOut)
	}
}

// TestInterpreter: a script with an --interpreter ending runs as
// "PROGRAM SCRIPT" although it is not executable and has no #! line;
// SCRIPT_FILENAME names the script, and a PHP interpreter gets
// REDIRECT_STATUS=200 (php-cgi's cgi.force_redirect wants it) unless the
// web server sent its own.
func TestInterpreter(t *testing.T) {
	bin := t.TempDir()
	php := filepath.Join(bin, "php-cgi")
	if err := os.Symlink("/bin/sh", php); err != nil {
		t.Fatal(err)
	}
	ts := startTestServer(t, nil, func(c *testConfig) {
		c.settings.Resolve.Interpreters = []cgienv.Interpreter{{Ext: ".php", Program: php}, {Ext: ".sh", Program: "/bin/sh"}}
	})
	const page = "printf 'Content-Type: text/plain\\n\\n'\necho \"arg=$0 file=$SCRIPT_FILENAME redirect=${REDIRECT_STATUS-unset}\"\n"
	for _, name := range []string{"page.php", "page.sh"} {
		if err := os.WriteFile(filepath.Join(ts.dir, name), []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		script string
		extra  []wire.Pair
		want   string
	}{
		{"page.php", nil, "arg=$D/page.php file=$D/page.php redirect=200\n"},
		{"page.php", []wire.Pair{{Name: "REDIRECT_STATUS", Value: "404"}}, "redirect=404\n"},
		{"page.sh", nil, "arg=$D/page.sh file=$D/page.sh redirect=unset\n"},
	}
	for _, tt := range tests {
		out, _ := doRequest(t, ts, ts.request(tt.script, tt.extra...))
		if want := strings.ReplaceAll(tt.want, "$D", ts.dir); !strings.Contains(out, want) {
			t.Errorf("%s: got %q, want it to contain %q", tt.script, out, want)
		}
	}
}
