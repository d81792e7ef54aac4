package cli

import (
	"bytes"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// runCheck runs `fcgi-wrap check ARGS...` in-process and returns its exit
// code and what it printed.
func runCheck(t *testing.T, args ...string) (code int, out string) {
	t.Helper()
	app := NewApp()
	var buf bytes.Buffer
	app.Writer, app.ErrWriter = &buf, &buf
	app.ExitErrHandler = func(_ *cli.Context, err error) {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
			buf.WriteString(err.Error())
		}
	}
	if err := app.Run(append([]string{"fcgi-wrap", "check"}, args...)); err != nil && code == 0 {
		t.Fatalf("check: %v", err)
	}
	return code, buf.String()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fcgi-wrap.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigSingleValueForList pins "Mismatched type for flag 'socket'.
// Expected '[]interface{}'": one value where a list is expected is a
// list of one.
func TestConfigSingleValueForList(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, "socket: unix:"+dir+"/fw.sock\nroot: "+dir+"\nallow-root: true\nallow: "+dir+"/*.cgi\n")
	if code, out := runCheck(t, "--config", path); code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("check exited %d: %s", code, out)
	}
}

// TestConfigErrorsNameTheLine: an unknown key or a value of the wrong
// kind is reported with its line, and check exits 1 for it.
func TestConfigErrorsNameTheLine(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"workers: 4\nsokcet: unix:/tmp/x.sock\n", "unknown setting(s) sokcet (line 2)"},
		{"allow-root: true\nworkers: many\n", `:2: workers: want a whole number, got "many"`},
		{"timeout: 5\n", `:1: timeout: want a duration such as 30s or 5m, got "5"`},
		{"socket:\n  nested: map\n", ":2: socket: want a value or a list of values"},
		{"# nothing\n", "the file sets nothing"},
	} {
		code, out := runCheck(t, "--config", writeConfig(t, tt.yaml))
		if code != 1 || !strings.Contains(out, tt.want) {
			t.Errorf("%q: check exited %d with %q, want 1 and %q", tt.yaml, code, out, tt.want)
		}
	}
}

// TestExampleConfig: the shipped examples/fcgi-wrap.yaml passes check and
// shows every setting, so it cannot fall behind the flags.
func TestExampleConfig(t *testing.T) {
	const path = "../../examples/fcgi-wrap.yaml"
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range serveFlags() {
		name := f.Names()[0]
		if name == "config" {
			continue
		}
		if !regexp.MustCompile(`(?m)^#?` + regexp.QuoteMeta(name) + `:`).Match(text) {
			t.Errorf("%s does not show the setting %q", path, name)
		}
	}
	args := []string{"--config", path}
	if os.Geteuid() != 0 {
		// The example runs as www-data, which only root (or www-data
		// itself) can be.
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--user", me.Username)
	} else if _, err := user.Lookup("www-data"); err != nil {
		t.Skip("no www-data user here")
	}
	if code, out := runCheck(t, args...); code != 0 {
		t.Fatalf("check --config %s exited %d: %s", path, code, out)
	}
}
