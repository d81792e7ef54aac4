package cgienv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// testTree builds the directory tree the Resolve tests name with "$D".
// t.TempDir may sit in a sticky, world-writable /tmp and inherit odd modes,
// so every directory is chmod-ed explicitly.
func testTree(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	mkdir(t, d, 0o755)
	for _, sub := range []string{"cgi-bin", "cgi-bin/sub", "outside", "wwdir", "stickydir", "docroot"} {
		mkdir(t, filepath.Join(d, sub), 0o755)
	}
	mkdir(t, filepath.Join(d, "wwdir"), 0o777)
	mkdir(t, filepath.Join(d, "stickydir"), 0o777|os.ModeSticky)
	files := []struct {
		name string
		mode fs.FileMode
	}{
		{"cgi-bin/app.cgi", 0o755},
		{"cgi-bin/nph-push.cgi", 0o755},
		{"cgi-bin/tool.pl", 0o755},
		{"cgi-bin/data.txt", 0o644},
		{"cgi-bin/ww.cgi", 0o757},
		{"cgi-bin/gw.cgi", 0o775},
		{"cgi-bin/suid.cgi", 0o755 | os.ModeSetuid},
		{"cgi-bin/sgid.cgi", 0o755 | os.ModeSetgid},
		{"outside/evil.cgi", 0o755},
		{"wwdir/x.cgi", 0o755},
		{"stickydir/x.cgi", 0o755},
	}
	for _, f := range files {
		writeScript(t, filepath.Join(d, f.name), f.mode)
	}
	links := [][2]string{
		{"cgi-bin/link.cgi", "app.cgi"},
		{"cgi-bin/escape.cgi", "../outside/evil.cgi"},
		{"cgi-bin/loop1", "loop2"},
		{"cgi-bin/loop2", "loop1"},
		{"rootlink", "cgi-bin"},
		{"wwdir/out.cgi", "../cgi-bin/app.cgi"},
	}
	for _, l := range links {
		if err := os.Symlink(l[1], filepath.Join(d, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(d, "cgi-bin/fifo.cgi"), 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func mkdir(t testing.TB, p string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func writeScript(t testing.TB, p string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho 'Content-Type: text/plain'\necho\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	d := testTree(t)
	sub := func(s string) string { return strings.ReplaceAll(s, "$D", d) }
	subAll := func(ss []string) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = sub(s)
		}
		return out
	}
	app := Script{Path: "$D/cgi-bin/app.cgi", Dir: "$D/cgi-bin"}

	tests := []struct {
		name   string
		params map[string]string
		opts   ResolveOptions
		want   Script // when status is 0; "$D" stands for the tree
		status int    // expected refusal, 0 for none
		reason string // substring of the refusal's Reason
	}{
		// nginx: SCRIPT_FILENAME names the script.
		{name: "nginx SCRIPT_FILENAME", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi", "SCRIPT_NAME": "/cgi-bin/app.cgi"}, want: app},
		{name: "nginx default params with path info",
			params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi/repo.git/info/refs", "SCRIPT_NAME": "/cgi-bin/app.cgi/repo.git/info/refs"},
			want:   Script{Path: "$D/cgi-bin/app.cgi", Dir: "$D/cgi-bin", ScriptName: "/cgi-bin/app.cgi", PathInfo: "/repo.git/info/refs", PathInfoSet: true}},
		{name: "nginx split_path_info keeps server PATH_INFO",
			params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi/x", "PATH_INFO": "/x"},
			want:   app},
		{name: "SCRIPT_FILENAME trailing slash is path info",
			params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi/"},
			want:   Script{Path: "$D/cgi-bin/app.cgi", Dir: "$D/cgi-bin", PathInfo: "/", PathInfoSet: true}},
		{name: "SCRIPT_FILENAME with dot and double slash is cleaned",
			params: map[string]string{"SCRIPT_FILENAME": "$D/./cgi-bin//app.cgi"},
			want:   app},
		{name: "SCRIPT_FILENAME wins over DOCUMENT_ROOT",
			params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi", "DOCUMENT_ROOT": "$D/outside", "SCRIPT_NAME": "/evil.cgi"},
			want:   app},
		{name: "empty SCRIPT_FILENAME falls back to DOCUMENT_ROOT",
			params: map[string]string{"SCRIPT_FILENAME": "", "DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/app.cgi"},
			want:   app},
		{name: "nph prefix", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/nph-push.cgi"},
			want: Script{Path: "$D/cgi-bin/nph-push.cgi", Dir: "$D/cgi-bin", NPH: true}},
		{name: "symlink keeps the name the server used", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/link.cgi"},
			want: Script{Path: "$D/cgi-bin/link.cgi", Dir: "$D/cgi-bin"}},

		// Apache mod_proxy_fcgi.
		{name: "apache proxy:fcgi host:port",
			params: map[string]string{"SCRIPT_FILENAME": "proxy:fcgi://127.0.0.1:9000$D/cgi-bin/app.cgi/a%20b?x=1", "SCRIPT_NAME": "/cgi-bin/app.cgi/a b"},
			want:   Script{Path: "$D/cgi-bin/app.cgi", Dir: "$D/cgi-bin", ScriptName: "/cgi-bin/app.cgi", PathInfo: "/a b", PathInfoSet: true}},
		{name: "apache proxy:fcgi host only", params: map[string]string{"SCRIPT_FILENAME": "proxy:fcgi://localhost$D/cgi-bin/app.cgi"}, want: app},
		{name: "apache proxy:balancer upper case", params: map[string]string{"SCRIPT_FILENAME": "PROXY:balancer://pool$D/cgi-bin/app.cgi"}, want: app},
		{name: "apache proxy without path", params: map[string]string{"SCRIPT_FILENAME": "proxy:fcgi://localhost:9000"}, status: 403, reason: "no path"},
		{name: "apache proxy bad escape", params: map[string]string{"SCRIPT_FILENAME": "proxy:fcgi://h$D/cgi-bin/app%zz.cgi"}, status: 403, reason: "percent-encoding"},
		{name: "apache proxy encoded dotdot", params: map[string]string{"SCRIPT_FILENAME": "proxy:fcgi://h$D/cgi-bin/%2e%2e/outside/evil.cgi"}, status: 403, reason: `".."`},
		{name: "apache proxy encoded NUL", params: map[string]string{"SCRIPT_FILENAME": "proxy:fcgi://h$D/cgi-bin/app.cgi%00.txt"}, status: 403, reason: "NUL"},

		// fcgiwrap: DOCUMENT_ROOT + SCRIPT_NAME walked back.
		{name: "fcgiwrap walk-back with path info",
			params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/app.cgi/repo.git/info/refs", "PATH_INFO": "/ignored"},
			want:   Script{Path: "$D/cgi-bin/app.cgi", Dir: "$D/cgi-bin", ScriptName: "/cgi-bin/app.cgi", PathInfo: "/repo.git/info/refs", PathInfoSet: true}},
		{name: "fcgiwrap DOCUMENT_ROOT with trailing slash",
			params: map[string]string{"DOCUMENT_ROOT": "$D/", "SCRIPT_NAME": "/cgi-bin/app.cgi/x"},
			want:   Script{Path: "$D/cgi-bin/app.cgi", Dir: "$D/cgi-bin", ScriptName: "/cgi-bin/app.cgi", PathInfo: "/x", PathInfoSet: true}},
		{name: "fcgiwrap exact script keeps server PATH_INFO",
			params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/app.cgi", "PATH_INFO": "/kept"},
			want:   app},
		{name: "fcgiwrap SCRIPT_NAME without leading slash",
			params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "cgi-bin/app.cgi"},
			want:   app},
		{name: "fcgiwrap dotdot inside the root is cleaned",
			params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/sub/../app.cgi/p"},
			want:   Script{Path: "$D/cgi-bin/app.cgi", Dir: "$D/cgi-bin", ScriptName: "/cgi-bin/app.cgi", PathInfo: "/p", PathInfoSet: true}},
		{name: "fcgiwrap dotdot inside the root without path info",
			params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/sub/../app.cgi"},
			want:   Script{Path: "$D/cgi-bin/app.cgi", Dir: "$D/cgi-bin", ScriptName: "/cgi-bin/app.cgi"}},
		{name: "walk-back never reaches DOCUMENT_ROOT itself",
			params: map[string]string{"DOCUMENT_ROOT": "$D/cgi-bin/app.cgi", "SCRIPT_NAME": "/x"},
			status: 404, reason: "no such file"},

		// Traversal.
		{name: "SCRIPT_NAME climbs above DOCUMENT_ROOT", params: map[string]string{"DOCUMENT_ROOT": "$D/cgi-bin", "SCRIPT_NAME": "/../outside/evil.cgi"}, status: 403, reason: "climbs above DOCUMENT_ROOT"},
		{name: "SCRIPT_NAME climbs later", params: map[string]string{"DOCUMENT_ROOT": "$D/cgi-bin", "SCRIPT_NAME": "/sub/../../outside/evil.cgi"}, status: 403, reason: "climbs above DOCUMENT_ROOT"},
		{name: "SCRIPT_FILENAME with dotdot", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/../outside/evil.cgi"}, status: 403, reason: `".."`},
		{name: "SCRIPT_FILENAME dotdot in path info", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi/../x"}, status: 403, reason: `".."`},

		// Roots, Allow, Exts.
		{name: "symlink escape out of root", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/escape.cgi"}, opts: ResolveOptions{Roots: []string{"$D/cgi-bin"}}, status: 403, reason: "outside --root"},
		{name: "symlink escape allowed without roots", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/escape.cgi"}, want: Script{Path: "$D/cgi-bin/escape.cgi", Dir: "$D/cgi-bin"}},
		{name: "symlink into root from outside", params: map[string]string{"SCRIPT_FILENAME": "$D/wwdir/out.cgi"}, opts: ResolveOptions{Roots: []string{"$D/cgi-bin"}}, want: Script{Path: "$D/wwdir/out.cgi", Dir: "$D/wwdir"}},
		{name: "symlink inside root", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/link.cgi"}, opts: ResolveOptions{Roots: []string{"$D/cgi-bin"}}, want: Script{Path: "$D/cgi-bin/link.cgi", Dir: "$D/cgi-bin"}},
		{name: "plain file outside root", params: map[string]string{"SCRIPT_FILENAME": "$D/outside/evil.cgi"}, opts: ResolveOptions{Roots: []string{"$D/cgi-bin"}}, status: 403, reason: "outside --root"},
		{name: "root given through a symlink", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi"}, opts: ResolveOptions{Roots: []string{"$D/rootlink"}}, want: app},
		{name: "second root matches", params: map[string]string{"SCRIPT_FILENAME": "$D/outside/evil.cgi"}, opts: ResolveOptions{Roots: []string{"$D/missing", "$D/cgi-bin", "$D/outside/"}}, want: Script{Path: "$D/outside/evil.cgi", Dir: "$D/outside"}},
		{name: "root that is a prefix of a sibling", params: map[string]string{"SCRIPT_FILENAME": "$D/outside/evil.cgi"}, opts: ResolveOptions{Roots: []string{"$D/out"}}, status: 403, reason: "outside --root"},
		{name: "allow exact", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi"}, opts: ResolveOptions{Allow: []string{"$D/cgi-bin/app.cgi"}}, want: app},
		{name: "allow glob", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi"}, opts: ResolveOptions{Allow: []string{"/nope", "$D/cgi-bin/*.cgi"}}, want: app},
		{name: "allow glob through symlinked dir", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi"}, opts: ResolveOptions{Allow: []string{"$D/rootlink/*.cgi"}}, want: app},
		{name: "allow checks the resolved path", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/escape.cgi"}, opts: ResolveOptions{Allow: []string{"$D/cgi-bin/*.cgi"}}, status: 403, reason: "--allow"},
		{name: "allow mismatch", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/tool.pl"}, opts: ResolveOptions{Allow: []string{"$D/cgi-bin/*.cgi"}}, status: 403, reason: "not matched by --allow"},
		{name: "ext mismatch", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/tool.pl"}, opts: ResolveOptions{Exts: []string{".cgi"}}, status: 403, reason: "--ext"},
		{name: "ext match", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/tool.pl"}, opts: ResolveOptions{Exts: []string{".cgi", ".pl"}}, want: Script{Path: "$D/cgi-bin/tool.pl", Dir: "$D/cgi-bin"}},
		{name: "ext checks the walked-back name", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/tool.pl/x.cgi"}, opts: ResolveOptions{Exts: []string{".cgi"}}, status: 403, reason: "--ext"},

		// 404 and 403 from the filesystem.
		{name: "missing script", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/missing.cgi"}, status: 404, reason: "no such file"},
		{name: "missing directory", params: map[string]string{"SCRIPT_FILENAME": "$D/nope/x.cgi/y"}, status: 404, reason: "no such file"},
		{name: "missing under DOCUMENT_ROOT", params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/missing.cgi/x"}, status: 404, reason: "no such file"},
		{name: "directory", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/sub"}, status: 403, reason: "is a directory"},
		{name: "directory with slash", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/sub/"}, status: 403, reason: "is a directory"},
		{name: "directory under DOCUMENT_ROOT", params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/"}, status: 403, reason: "is a directory"},
		{name: "not executable", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/data.txt"}, status: 403, reason: "not executable"},
		{name: "not executable with path info", params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/data.txt/x"}, status: 403, reason: "not executable"},
		{name: "not a regular file", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/fifo.cgi"}, status: 403, reason: "not a regular file"},
		{name: "symlink loop", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/loop1"}, status: 403, reason: "symbolic links"},
		{name: "symlink loop with path info", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/loop1/x"}, status: 403, reason: "symbolic links"},
		{name: "path info after a fifo", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/fifo.cgi/x"}, status: 403, reason: "not a regular file: $D/cgi-bin/fifo.cgi"},
		{name: "path info through a symlinked directory", params: map[string]string{"SCRIPT_FILENAME": "$D/rootlink/./app.cgi/x"},
			want: Script{Path: "$D/rootlink/app.cgi", Dir: "$D/rootlink", PathInfo: "/x", PathInfoSet: true}},
		{name: "directory with dot", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/sub/./"}, status: 403, reason: "is a directory: $D/cgi-bin/sub"},
		{name: "missing after a directory", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/sub/./nope/x"}, status: 404, reason: "no such file"},
		{name: "SCRIPT_NAME is DOCUMENT_ROOT", params: map[string]string{"DOCUMENT_ROOT": "$D/cgi-bin", "SCRIPT_NAME": "/"}, status: 404, reason: "no such file"},
		{name: "DOCUMENT_ROOT is a fifo", params: map[string]string{"DOCUMENT_ROOT": "$D/cgi-bin/fifo.cgi", "SCRIPT_NAME": "/x"}, status: 404, reason: "no such file"},
		{name: "root only", params: map[string]string{"SCRIPT_FILENAME": "//"}, status: 404, reason: "no such file"},
		{name: "NUL in SCRIPT_FILENAME", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi\x00.txt"}, status: 403, reason: "NUL"},
		{name: "NUL in SCRIPT_NAME", params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/cgi-bin/app.cgi\x00"}, status: 403, reason: "NUL"},
		{name: "NUL in DOCUMENT_ROOT", params: map[string]string{"DOCUMENT_ROOT": "$D\x00", "SCRIPT_NAME": "/cgi-bin/app.cgi"}, status: 403, reason: "NUL"},
		{name: "relative SCRIPT_FILENAME", params: map[string]string{"SCRIPT_FILENAME": "cgi-bin/app.cgi"}, status: 403, reason: "SCRIPT_FILENAME is not an absolute path"},
		{name: "relative DOCUMENT_ROOT", params: map[string]string{"DOCUMENT_ROOT": "www", "SCRIPT_NAME": "/app.cgi"}, status: 403, reason: "DOCUMENT_ROOT is not an absolute path"},
		{name: "no params", params: map[string]string{}, status: 404, reason: "no SCRIPT_FILENAME, DOCUMENT_ROOT or SCRIPT_NAME param"},
		{name: "no SCRIPT_NAME", params: map[string]string{"DOCUMENT_ROOT": "$D"}, status: 404, reason: "no SCRIPT_FILENAME or SCRIPT_NAME param"},
		{name: "no DOCUMENT_ROOT", params: map[string]string{"SCRIPT_NAME": "/cgi-bin/app.cgi"}, status: 404, reason: "no SCRIPT_FILENAME or DOCUMENT_ROOT param"},

		// StrictPerms.
		{name: "strict ok", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/app.cgi"}, opts: ResolveOptions{StrictPerms: true}, want: app},
		{name: "strict writable by others", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/ww.cgi"}, opts: ResolveOptions{StrictPerms: true}, status: 403, reason: "writable by others"},
		{name: "lax writable by others", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/ww.cgi"}, want: Script{Path: "$D/cgi-bin/ww.cgi", Dir: "$D/cgi-bin"}},
		{name: "strict writable by group", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/gw.cgi"}, opts: ResolveOptions{StrictPerms: true}, status: 403, reason: "writable by group"},
		{name: "strict setuid", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/suid.cgi"}, opts: ResolveOptions{StrictPerms: true}, status: 403, reason: "setuid"},
		{name: "strict setgid", params: map[string]string{"SCRIPT_FILENAME": "$D/cgi-bin/sgid.cgi"}, opts: ResolveOptions{StrictPerms: true}, status: 403, reason: "setgid"},
		{name: "strict world-writable dir", params: map[string]string{"SCRIPT_FILENAME": "$D/wwdir/x.cgi"}, opts: ResolveOptions{StrictPerms: true}, status: 403, reason: "in a directory writable by others"},
		{name: "strict symlink in world-writable dir", params: map[string]string{"SCRIPT_FILENAME": "$D/wwdir/out.cgi"}, opts: ResolveOptions{StrictPerms: true}, status: 403, reason: "in a directory writable by others"},
		{name: "strict sticky dir", params: map[string]string{"SCRIPT_FILENAME": "$D/stickydir/x.cgi"}, opts: ResolveOptions{StrictPerms: true}, want: Script{Path: "$D/stickydir/x.cgi", Dir: "$D/stickydir"}},

		// Fixed script.
		{name: "fixed ignores SCRIPT_FILENAME",
			params: map[string]string{"SCRIPT_FILENAME": "$D/outside/evil.cgi", "SCRIPT_NAME": "/evil.cgi", "PATH_INFO": "/x"},
			opts:   ResolveOptions{FixedScript: "$D/cgi-bin/app.cgi"}, want: app},
		{name: "fixed ignores DOCUMENT_ROOT", params: map[string]string{"DOCUMENT_ROOT": "$D", "SCRIPT_NAME": "/outside/evil.cgi/x"},
			opts: ResolveOptions{FixedScript: "$D/cgi-bin/app.cgi"}, want: app},
		{name: "fixed is not bound by roots", opts: ResolveOptions{FixedScript: "$D/outside/evil.cgi", Roots: []string{"$D/cgi-bin"}}, want: Script{Path: "$D/outside/evil.cgi", Dir: "$D/outside"}},
		{name: "fixed missing", opts: ResolveOptions{FixedScript: "$D/cgi-bin/missing.cgi"}, status: 404, reason: "no such file"},
		{name: "fixed not executable", opts: ResolveOptions{FixedScript: "$D/cgi-bin/data.txt"}, status: 403, reason: "not executable"},
		{name: "fixed directory", opts: ResolveOptions{FixedScript: "$D/cgi-bin"}, status: 403, reason: "is a directory"},
		{name: "fixed relative", opts: ResolveOptions{FixedScript: "app.cgi"}, status: 403, reason: "not an absolute path"},
		{name: "fixed strict", opts: ResolveOptions{FixedScript: "$D/cgi-bin/ww.cgi", StrictPerms: true}, status: 403, reason: "writable by others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := make(map[string]string, len(tt.params))
			for k, v := range tt.params {
				params[k] = sub(v)
			}
			opts := tt.opts
			opts.FixedScript = sub(opts.FixedScript)
			opts.Roots = subAll(opts.Roots)
			opts.Allow = subAll(opts.Allow)

			got, err := Resolve(params, opts)
			if tt.status != 0 {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("got %+v, %v; want *Error %d", got, err, tt.status)
				}
				if e.Status != tt.status || !strings.Contains(e.Reason, sub(tt.reason)) {
					t.Errorf("got %d %q, want %d containing %q", e.Status, e.Reason, tt.status, sub(tt.reason))
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			want := tt.want
			want.Path, want.Dir = sub(want.Path), sub(want.Dir)
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	inner := syscall.EACCES
	e := &Error{Status: 403, Reason: "permission denied looking up /x", Err: inner}
	if got, want := e.Error(), "cgienv: 403: permission denied looking up /x: permission denied"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(e, syscall.EACCES) {
		t.Errorf("got errors.Is(e, EACCES) false, want true")
	}
	e2 := &Error{Status: 404, Reason: "no such file: /y"}
	if got, want := e2.Error(), "cgienv: 404: no such file: /y"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func BenchmarkResolve(b *testing.B) {
	d := testTree(b)
	cases := []struct {
		name   string
		params map[string]string
		opts   ResolveOptions
	}{
		{"nginx", map[string]string{"SCRIPT_FILENAME": d + "/cgi-bin/app.cgi"}, ResolveOptions{}},
		{"walkback", map[string]string{"DOCUMENT_ROOT": d, "SCRIPT_NAME": "/cgi-bin/app.cgi/repo.git/info/refs"}, ResolveOptions{}},
		{"strict", map[string]string{"SCRIPT_FILENAME": d + "/cgi-bin/app.cgi"}, ResolveOptions{StrictPerms: true}}, // the daemon's default
		{"strict+roots", map[string]string{"SCRIPT_FILENAME": d + "/cgi-bin/app.cgi"}, ResolveOptions{Roots: []string{d + "/cgi-bin"}, StrictPerms: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Resolve(c.params, c.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
