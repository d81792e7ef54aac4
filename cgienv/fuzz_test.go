package cgienv

import (
	"errors"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"Content-Type: text/html\n\nbody",
		"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n",
		"Location: /local\n\n",
		"Location: http://h/\r\nX: 1\n\r\n",
		"Status: 999\tx\n\n",
		"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",
		"X: 1\n  fold\n\n",
		"Status: 200\nStatus: 200\n\n",
		"Content-Type: a\x00\n\n",
		"\r\n",
		"Content-Type: t",
	} {
		f.Add([]byte(s), false, 0)
		f.Add([]byte(s), true, 16)
	}
	f.Fuzz(func(t *testing.T, b []byte, nph bool, max int) {
		h, n, err := ParseHead(b, nph, max)
		if err != nil {
			if n != 0 || h.Status != 0 || h.Fields != nil {
				t.Fatalf("got %+v, %d with error %v; want zero values", h, n, err)
			}
			if !errors.Is(err, ErrIncompleteHead) && !errors.Is(err, ErrHeadTooLarge) && !errors.Is(err, ErrBadHead) {
				t.Fatalf("got error %v, want one of the package's sentinels", err)
			}
			return
		}
		if n <= 0 || n > len(b) || (max > 0 && n > max) {
			t.Fatalf("got %d bytes consumed of %d (max %d)", n, len(b), max)
		}
		if h.Status != 0 && (h.Status < 100 || h.Status > 999) {
			t.Fatalf("got status %d, want 0 or 100-999", h.Status)
		}
		// The head we pass on must read back as the same head.
		out := h.AppendTo(nil)
		h2, n2, err := ParseHead(out, false, len(out))
		if err != nil || n2 != len(out) {
			t.Fatalf("re-parse of %q: got %d, %v; want %d, nil", out, n2, err, len(out))
		}
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("re-parse of %q: got %+v, want %+v", out, h2, h)
		}
	})
}

func FuzzEnviron(f *testing.F) {
	f.Add("HTTP_PROXY", "http://evil", "REQUEST_METHOD", "GET", "HTTP_*", "*")
	f.Add("X-Y", "1", "A\x00B", "v", "[", "PATH")
	f.Add("http_proxy", "x", "HTTP_HOST", "a\x00", "HTTP_HOST", "SECRET")
	f.Add("", "", "PATH", "/bin", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, drop, pass string) {
		params := map[string]string{k1: v1}
		params[k2] = v2
		params["HTTP_PROXY"] = "http://evil"
		// Fixed and Wrapper names are kept apart from the params' so that
		// an operator's deliberate HTTP_PROXY cannot look like a leak.
		policy := EnvPolicy{
			DropParams: []string{drop},
			PassEnv:    []string{pass},
			Fixed:      []string{"FIXED_" + k1 + "=" + v1},
			Wrapper:    []string{"SECRET=x", "PATH=/usr/bin", "W" + k2 + "=" + v2, "W" + k2 + "=dup"},
		}
		script := Script{Path: "/s", PathInfo: v1, PathInfoSet: true}
		env, dropped := Environ(params, script, "RESPONDER", policy)
		checkEnv(t, env, params)
		if wantEnv, wantDropped := environByMap(params, script, "RESPONDER", policy); !slices.Equal(env, wantEnv) || !slices.Equal(dropped, wantDropped) {
			t.Fatalf("got %q, dropped %q; want %q, dropped %q (the map-built environment)", env, dropped, wantEnv, wantDropped)
		}
		for _, kv := range env {
			if kv == "HTTP_PROXY=http://evil" {
				t.Fatalf("got %q, want httpoxy dropped", kv)
			}
			if kv == "SECRET=x" && !matchName(policy.PassEnv, "SECRET") {
				t.Fatalf("got %q without PassEnv matching it, want no leak", kv)
			}
		}
	})
}

func FuzzResolve(f *testing.F) {
	d := testTree(f)
	f.Add("$D/cgi-bin/app.cgi/x", "", "")
	f.Add("proxy:fcgi://h:1$D/cgi-bin/app.cgi%2fa?q", "", "")
	f.Add("", "$D", "/cgi-bin/app.cgi/x/../y")
	f.Add("", "$D/cgi-bin", "/../outside/evil.cgi")
	f.Add("$D/cgi-bin/escape.cgi", "", "")
	f.Add("", "$D/", "//cgi-bin//sub/./../link.cgi//")
	f.Add("$D/cgi-bin/loop1/x", "\x00", "a")
	f.Add("$D/rootlink/./app.cgi/x", "", "")
	f.Add("$D/cgi-bin/fifo.cgi/x", "", "")
	f.Add("$D/cgi-bin/app.cgi"+strings.Repeat("/.", 1900), "", "")
	f.Add("$D/cgi-bin/app.cgi"+strings.Repeat("/.", 2100), "", "") // over PATH_MAX
	f.Fuzz(func(t *testing.T, filename, root, name string) {
		sub := func(s string) string { return strings.ReplaceAll(s, "$D", d) }
		params := map[string]string{"SCRIPT_FILENAME": sub(filename), "DOCUMENT_ROOT": sub(root), "SCRIPT_NAME": name}
		s, err := Resolve(params, ResolveOptions{Roots: []string{d + "/cgi-bin"}})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Status != 403 && e.Status != 404) || e.Reason == "" {
				t.Fatalf("got error %#v, want *Error with 403 or 404 and a reason", err)
			}
			return
		}
		if !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path || s.Dir != path.Dir(s.Path) {
			t.Fatalf("got %+v, want a clean absolute path and its directory", s)
		}
		if st, err := os.Stat(s.Path); err != nil || !st.Mode().IsRegular() {
			t.Fatalf("got %+v, want an existing regular file (%v)", s, err)
		}
		if strings.Contains(s.Path, "outside") {
			t.Fatalf("got %+v, want nothing outside the root", s)
		}
		if s.NPH != strings.HasPrefix(path.Base(s.Path), "nph-") {
			t.Fatalf("got NPH %v for %s", s.NPH, s.Path)
		}
	})
}
