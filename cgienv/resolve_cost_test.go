package cgienv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lookupCount is what Resolve asked the kernel to look up: calls, and path
// components summed over them (the steps of the kernel's path walks).
type lookupCount struct{ calls, components int }

// countLookups counts every lookup Resolve makes until the test ends.
func countLookups(t *testing.T) *lookupCount {
	t.Helper()
	n := new(lookupCount)
	testHookLookup = func(name string) {
		n.calls++
		n.components += components(name)
	}
	t.Cleanup(func() { testHookLookup = nil })
	return n
}

// components counts the names in a slash-separated path, "." and ".."
// included: each is one step of the kernel's walk.
func components(p string) int {
	n := 0
	for c := range strings.SplitSeq(p, "/") {
		if c != "" {
			n++
		}
	}
	return n
}

// padDots lengthens p with "/." components (and a final "/" if the length
// needs it) to exactly n bytes.
func padDots(t *testing.T, p string, n int) string {
	t.Helper()
	if len(p) > n {
		t.Fatalf("padDots: %d-byte prefix is over %d", len(p), n)
	}
	p += strings.Repeat("/.", (n-len(p))/2)
	if len(p) < n {
		p += "/"
	}
	return p
}

// TestResolveRefusesPathOverPathMax pins the bug where a path longer than
// the kernel takes was walked back prefix by prefix (1 MB took 42 s of
// CPU): it is refused with a 404 before any lookup, and the log line does
// not carry the whole path.
func TestResolveRefusesPathOverPathMax(t *testing.T) {
	d := testTree(t)
	app := d + "/cgi-bin/app.cgi"
	tests := []struct {
		name   string
		params map[string]string
		opts   ResolveOptions
	}{
		{name: "SCRIPT_FILENAME", params: map[string]string{"SCRIPT_FILENAME": padDots(t, app, pathMax+1)}},
		{name: "SCRIPT_FILENAME far over", params: map[string]string{"SCRIPT_FILENAME": padDots(t, app, 64<<10)}},
		{name: "proxy SCRIPT_FILENAME", params: map[string]string{"SCRIPT_FILENAME": "proxy:fcgi://h:9000" + padDots(t, app, pathMax+1)}},
		{name: "SCRIPT_NAME", params: map[string]string{"DOCUMENT_ROOT": d, "SCRIPT_NAME": padDots(t, "/cgi-bin/app.cgi", pathMax+1-len(d))}},
		{name: "DOCUMENT_ROOT", params: map[string]string{"DOCUMENT_ROOT": padDots(t, d, pathMax-10), "SCRIPT_NAME": "/cgi-bin/app.cgi"}},
		{name: "SCRIPT_NAME that cleans short", params: map[string]string{"DOCUMENT_ROOT": d, "SCRIPT_NAME": "/cgi-bin" + strings.Repeat("/x/..", pathMax/5) + "/app.cgi"}},
		{name: "fixed script", opts: ResolveOptions{FixedScript: d + "/" + strings.Repeat("x", pathMax-len(d))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := countLookups(t)
			got, err := Resolve(tt.params, tt.opts)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %+v, %v; want *Error 404", got, err)
			}
			if e.Status != 404 {
				t.Errorf("got status %d (%s), want 404", e.Status, e.Reason)
			}
			if n.calls != 0 {
				t.Errorf("got %d filesystem lookups, want none", n.calls)
			}
			if len(e.Error()) > 200 || strings.Contains(e.Error(), d) {
				t.Errorf("got a %d-byte error naming the path, want a short reason: %.200s", len(e.Error()), e.Error())
			}
		})
	}
}

// TestResolveNotQuadraticInPathLength pins the bug where resolution did
// one lookup of the whole prefix per component walked back, so a path of
// many "/." components cost the kernel a number of steps quadratic in its
// length. Legal paths of many components must cost a number of steps
// linear in them.
func TestResolveNotQuadraticInPathLength(t *testing.T) {
	d := testTree(t)
	app := d + "/cgi-bin/app.cgi"
	dots := func(prefix string, n int) string { return strings.Repeat("/.", (n-len(prefix))/2) }
	long := 4000 // bytes: close to PATH_MAX, under it

	tests := []struct {
		name   string
		params map[string]string
		want   Script
		status int
	}{
		{
			name:   "dots as PATH_INFO",
			params: map[string]string{"SCRIPT_FILENAME": app + dots(app, long)},
			want:   Script{Path: app, Dir: d + "/cgi-bin", PathInfo: dots(app, long), PathInfoSet: true},
		},
		{
			name:   "dots before the script",
			params: map[string]string{"SCRIPT_FILENAME": d + dots(app, long) + "/cgi-bin/app.cgi/x"},
			want:   Script{Path: app, Dir: d + "/cgi-bin", PathInfo: "/x", PathInfoSet: true},
		},
		{
			name:   "dots as PATH_INFO under DOCUMENT_ROOT",
			params: map[string]string{"DOCUMENT_ROOT": d, "SCRIPT_NAME": "/cgi-bin/app.cgi" + dots(app, long)},
			want:   Script{Path: app, Dir: d + "/cgi-bin", ScriptName: "/cgi-bin/app.cgi", PathInfo: dots(app, long), PathInfoSet: true},
		},
		{
			name:   "x/.. under DOCUMENT_ROOT",
			params: map[string]string{"DOCUMENT_ROOT": d, "SCRIPT_NAME": "/cgi-bin" + strings.Repeat("/x/..", (long-len(app))/5) + "/app.cgi/i"},
			want:   Script{Path: app, Dir: d + "/cgi-bin", ScriptName: "/cgi-bin/app.cgi", PathInfo: "/i", PathInfoSet: true},
		},
		{
			name:   "dots after a missing directory",
			params: map[string]string{"SCRIPT_FILENAME": d + "/nope" + dots(app, long)},
			status: 404,
		},
		{
			name:   "dots after a directory",
			params: map[string]string{"SCRIPT_FILENAME": d + "/cgi-bin" + dots(app, long)},
			status: 403,
		},
		{
			// The kernel refuses this length (PATH_MAX counts the NUL), so
			// the script is found by walking.
			name:   "exactly PATH_MAX",
			params: map[string]string{"SCRIPT_FILENAME": padDots(t, app, pathMax)},
			want:   Script{Path: app, Dir: d + "/cgi-bin", PathInfo: padDots(t, app, pathMax)[len(app):], PathInfoSet: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params["SCRIPT_FILENAME"]
			if p == "" {
				p = tt.params["DOCUMENT_ROOT"] + tt.params["SCRIPT_NAME"]
			}
			n := countLookups(t)
			got, err := Resolve(tt.params, ResolveOptions{})
			if tt.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != tt.status {
					t.Fatalf("got %+v, %v; want *Error %d", got, err, tt.status)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			// One walk of the whole path, one to find the script, one to
			// check it: three steps per component at most.
			if limit := 3 * components(p); n.components > limit {
				t.Errorf("got %d lookup steps (%d lookups) for %d components, want at most %d",
					n.components, n.calls, components(p), limit)
			}
		})
	}
}

// TestResolveStrictLookups pins what the daemon's default policy (strict
// permissions) costs for a script whose path holds no symlink: one lookup
// of the file, one of each directory on its path, and the execute check;
// the directory's mode comes from its lookup, not from a stat more. A
// symlinked directory must still be seen through.
func TestResolveStrictLookups(t *testing.T) {
	d, err := filepath.EvalSymlinks(testTree(t)) // the temporary directory may lie behind one
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("wwdir", d+"/wwlink"); err != nil {
		t.Fatal(err)
	}
	strict := ResolveOptions{StrictPerms: true}
	tests := []struct {
		name   string
		script string
		want   Script
		reason string // of a 403
		calls  int    // lookups; 0: not checked
	}{
		{name: "plain", script: d + "/cgi-bin/app.cgi", want: Script{Path: d + "/cgi-bin/app.cgi", Dir: d + "/cgi-bin"},
			calls: components(d+"/cgi-bin/app.cgi") + 1},
		{name: "world-writable directory", script: d + "/wwdir/x.cgi", reason: "in a directory writable by others"},
		{name: "symlink to a world-writable directory", script: d + "/wwlink/x.cgi", reason: "in a directory writable by others: " + d + "/wwlink"},
		{name: "symlinked directory", script: d + "/rootlink/app.cgi", want: Script{Path: d + "/rootlink/app.cgi", Dir: d + "/rootlink"}},
		{name: "symlinked file", script: d + "/cgi-bin/link.cgi", want: Script{Path: d + "/cgi-bin/link.cgi", Dir: d + "/cgi-bin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := countLookups(t)
			got, err := Resolve(map[string]string{"SCRIPT_FILENAME": tt.script}, strict)
			if tt.reason != "" {
				var e *Error
				if !errors.As(err, &e) || e.Status != 403 || !strings.Contains(e.Reason, tt.reason) {
					t.Fatalf("got %+v, %v; want 403 %q", got, err, tt.reason)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if tt.calls != 0 && n.calls != tt.calls {
				t.Errorf("got %d lookups, want %d", n.calls, tt.calls)
			}
		})
	}
}
