package cgienv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolveInterpreter: a script whose ending has an --interpreter
// resolves with that program and need not be executable, while every
// other rule (--ext, --allow, strict permissions) still applies to it.
func TestResolveInterpreter(t *testing.T) {
	d := t.TempDir()
	mkdir(t, d, 0o755)
	for name, mode := range map[string]os.FileMode{
		"page.php":     0o644,
		"view.tpl.php": 0o644,
		"gw.php":       0o664,
		"tool.py":      0o644,
		"data.txt":     0o644,
		".php":         0o644,
	} {
		writeScript(t, filepath.Join(d, name), mode)
	}
	interps := []Interpreter{{Ext: ".php", Program: "/usr/bin/php-cgi"}, {Ext: ".tpl.php", Program: "/usr/bin/tpl"}, {Ext: ".py", Program: "/usr/bin/python3"}}
	tests := []struct {
		name   string
		script string
		opts   ResolveOptions
		interp string // when status is 0
		status int
		reason string
	}{
		{name: "not executable, run by its interpreter", script: "page.php", interp: "/usr/bin/php-cgi"},
		{name: "another ending", script: "tool.py", interp: "/usr/bin/python3"},
		{name: "longest ending wins", script: "view.tpl.php", interp: "/usr/bin/tpl"},
		{name: "no interpreter: still needs the execute bit", script: "data.txt", status: 403, reason: "not executable"},
		{name: "an ending alone is no name", script: ".php", status: 403, reason: "not executable"},
		{name: "strict permissions still apply", script: "gw.php", opts: ResolveOptions{StrictPerms: true}, status: 403, reason: "writable by group"},
		{name: "--ext still applies", script: "page.php", opts: ResolveOptions{Exts: []string{".cgi"}}, status: 403, reason: "--ext"},
		{name: "--allow still applies", script: "page.php", opts: ResolveOptions{Allow: []string{d + "/*.cgi"}}, status: 403, reason: "--allow"},
		{name: "--root still applies", script: "page.php", opts: ResolveOptions{Roots: []string{filepath.Join(d, "elsewhere")}}, status: 403, reason: "--root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Interpreters = interps
			p := filepath.Join(d, tt.script)
			got, err := Resolve(map[string]string{"SCRIPT_FILENAME": p}, opts)
			if tt.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != tt.status || !strings.Contains(e.Reason, tt.reason) {
					t.Fatalf("got %+v, %v; want %d saying %q", got, err, tt.status, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want %s to run by %s", err, p, tt.interp)
			}
			if got.Interpreter != tt.interp || got.Path != p {
				t.Errorf("got Interpreter %q, Path %q; want %q, %q", got.Interpreter, got.Path, tt.interp, p)
			}
		})
	}
}

// TestResolveInterpreterUnreadable: an interpreted script must be readable
// by us, as its interpreter will read it. Root reads anything.
func TestResolveInterpreterUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may read any file")
	}
	d := t.TempDir()
	p := filepath.Join(d, "secret.php")
	writeScript(t, p, 0o200)
	_, err := Resolve(map[string]string{"SCRIPT_FILENAME": p}, ResolveOptions{Interpreters: []Interpreter{{Ext: ".php", Program: "/bin/sh"}}})
	var e *Error
	if !errors.As(err, &e) || e.Status != 403 || !strings.Contains(e.Reason, "not readable") {
		t.Fatalf("got %v, want 403 not readable", err)
	}
}

func TestParseInterpreter(t *testing.T) {
	tests := []struct {
		spec    string
		want    Interpreter
		wantErr string
	}{
		{spec: ".php=/bin/sh", want: Interpreter{Ext: ".php", Program: "/bin/sh"}},
		{spec: "py=/bin/sh", want: Interpreter{Ext: ".py", Program: "/bin/sh"}},
		{spec: ".php=/bin/../bin/sh", want: Interpreter{Ext: ".php", Program: "/bin/sh"}},
		{spec: "/bin/sh", wantErr: "want EXT=PROGRAM"},
		{spec: "=/bin/sh", wantErr: "want EXT=PROGRAM"},
		{spec: ".php=", wantErr: "want EXT=PROGRAM"},
		{spec: "a/b=/bin/sh", wantErr: "file name ending"},
		{spec: ".php=sh", wantErr: "not an absolute path"},
		{spec: ".php=/nonexistent/php-cgi", wantErr: "no such file"},
		{spec: ".php=/", wantErr: "not a regular file"},
		{spec: ".php=/etc/passwd", wantErr: "not executable"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseInterpreter(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
