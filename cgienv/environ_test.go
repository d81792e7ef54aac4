package cgienv

import (
	"slices"
	"strings"
	"testing"
)

func TestEnviron(t *testing.T) {
	script := Script{Path: "/srv/cgi-bin/app.cgi", Dir: "/srv/cgi-bin"}
	// base is what every script gets from a server that sends nothing.
	base := []string{
		"GATEWAY_INTERFACE=CGI/1.1",
		"PATH=" + DefaultPath,
		"SCRIPT_FILENAME=/srv/cgi-bin/app.cgi",
		"SERVER_SOFTWARE=fcgi-wrap",
	}
	// with returns base with extra "K=V" entries added or replacing
	// base's, sorted as Environ sorts.
	with := func(extra ...string) []string {
		m := make(map[string]string)
		for _, kv := range append(slices.Clone(base), extra...) {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		out := make([]string, 0, len(m))
		for k, v := range m {
			out = append(out, k+"="+v)
		}
		slices.SortFunc(out, func(a, b string) int {
			ka, _, _ := strings.Cut(a, "=")
			kb, _, _ := strings.Cut(b, "=")
			return strings.Compare(ka, kb)
		})
		return out
	}

	tests := []struct {
		name        string
		params      map[string]string
		script      Script
		role        string
		policy      EnvPolicy
		want        []string
		wantDropped []string
	}{
		{name: "empty", script: script, want: base},
		{name: "params pass through", script: script,
			params: map[string]string{"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1&b", "HTTP_USER_AGENT": "curl/8", "REMOTE_USER": "ann", "EMPTY": ""},
			want:   with("EMPTY=", "HTTP_USER_AGENT=curl/8", "QUERY_STRING=a=1&b", "REMOTE_USER=ann", "REQUEST_METHOD=GET")},
		{name: "httpoxy", script: script,
			params:      map[string]string{"HTTP_PROXY": "http://evil:8080", "http_proxy": "http://evil", "HTTP_PROXY_X": "kept"},
			want:        with("HTTP_PROXY_X=kept"),
			wantDropped: []string{"HTTP_PROXY: httpoxy", "http_proxy: httpoxy"}},
		{name: "httpoxy even if passed from the wrapper is the wrapper's value", script: script,
			params: map[string]string{"HTTP_PROXY": "http://evil:8080"},
			policy: EnvPolicy{PassEnv: []string{"HTTP_PROXY"}, Wrapper: []string{"HTTP_PROXY=http://corp:3128"}},
			want:   with("HTTP_PROXY=http://corp:3128"), wantDropped: []string{"HTTP_PROXY: httpoxy"}},
		{name: "invalid names", script: script,
			params:      map[string]string{"X-Y": "1", "1ABC": "2", "": "3", "A B": "4", "A=B": "5", "N\x00UL": "6", "ÄÖ": "7", "A1_b": "ok"},
			want:        with("A1_b=ok"),
			wantDropped: []string{`"": invalid name`, `"A B": invalid name`, `"N\x00UL": invalid name`, `"ÄÖ": invalid name`, "1ABC: invalid name", "A=B: invalid name", "X-Y: invalid name"}},
		{name: "NUL in value", script: script,
			params:      map[string]string{"HTTP_X": "a\x00b", "HTTP_Y": "fine"},
			want:        with("HTTP_Y=fine"),
			wantDropped: []string{"HTTP_X: NUL in value"}},
		{name: "drop params by name and glob", script: script,
			params:      map[string]string{"HTTP_AUTHORIZATION": "Basic x", "HTTP_X_SECRET_A": "1", "HTTP_X_SECRET_B": "2", "HTTP_HOST": "h"},
			policy:      EnvPolicy{DropParams: []string{"HTTP_AUTHORIZATION", "HTTP_X_SECRET_*", "[bad"}},
			want:        with("HTTP_HOST=h"),
			wantDropped: []string{"HTTP_AUTHORIZATION: --drop-param", "HTTP_X_SECRET_A: --drop-param", "HTTP_X_SECRET_B: --drop-param"}},
		{name: "wrapper env does not leak", script: script,
			policy: EnvPolicy{Wrapper: []string{"SECRET=x", "HOME=/root", "AWS_KEY=k", "PATH=/opt/bin:/usr/bin"}},
			want:   with("PATH=/opt/bin:/usr/bin")},
		{name: "PATH default when wrapper has none", script: script,
			policy: EnvPolicy{Wrapper: []string{"SECRET=x"}},
			want:   base},
		{name: "PATH default when wrapper PATH is empty", script: script,
			policy: EnvPolicy{Wrapper: []string{"PATH="}},
			want:   base},
		{name: "server PATH wins over wrapper PATH", script: script,
			params: map[string]string{"PATH": "/srv/bin"},
			policy: EnvPolicy{Wrapper: []string{"PATH=/usr/bin"}},
			want:   with("PATH=/srv/bin")},
		{name: "pass env names and globs", script: script,
			policy: EnvPolicy{PassEnv: []string{"HOME", "GIT_*"}, Wrapper: []string{"SECRET=x", "HOME=/home/git", "GIT_PROJECT_ROOT=/srv/git", "GIT_HTTP_EXPORT_ALL=", "GIT_X=second", "GIT_X=third", "BAD-NAME=1", "GIT_N=a\x00b", "noequals"}},
			want:   with("GIT_HTTP_EXPORT_ALL=", "GIT_PROJECT_ROOT=/srv/git", "GIT_X=second", "HOME=/home/git")},
		{name: "pass env overrides params", script: script,
			params: map[string]string{"GIT_PROJECT_ROOT": "/tmp/evil"},
			policy: EnvPolicy{PassEnv: []string{"GIT_PROJECT_ROOT"}, Wrapper: []string{"GIT_PROJECT_ROOT=/srv/git"}},
			want:   with("GIT_PROJECT_ROOT=/srv/git")},
		{name: "pass env cannot override CGI variables", script: script,
			policy: EnvPolicy{PassEnv: []string{"*"}, Wrapper: []string{"SCRIPT_FILENAME=/bin/sh", "GATEWAY_INTERFACE=x", "A=1"}},
			want:   with("A=1")},
		{name: "CGI variables override params", script: script, role: "RESPONDER",
			params: map[string]string{"GATEWAY_INTERFACE": "CGI/9", "SCRIPT_FILENAME": "/other", "FCGI_ROLE": "X", "SERVER_SOFTWARE": "nginx/1.25"},
			want:   with("FCGI_ROLE=RESPONDER", "SERVER_SOFTWARE=nginx/1.25")},
		{name: "role authorizer", script: script, role: "AUTHORIZER", want: with("FCGI_ROLE=AUTHORIZER")},
		{name: "script name from resolution", script: Script{Path: script.Path, ScriptName: "/cgi-bin/app.cgi"},
			params: map[string]string{"SCRIPT_NAME": "/cgi-bin/app.cgi/x"},
			want:   with("SCRIPT_NAME=/cgi-bin/app.cgi")},
		{name: "script name from server when resolution left it", script: script,
			params: map[string]string{"SCRIPT_NAME": "/cgi-bin/app.cgi", "PATH_INFO": "/x", "PATH_TRANSLATED": "/srv/x"},
			want:   with("PATH_INFO=/x", "PATH_TRANSLATED=/srv/x", "SCRIPT_NAME=/cgi-bin/app.cgi")},
		{name: "path info from resolution with DOCUMENT_ROOT", script: Script{Path: script.Path, ScriptName: "/cgi-bin/app.cgi", PathInfo: "/repo.git/HEAD", PathInfoSet: true},
			params: map[string]string{"DOCUMENT_ROOT": "/srv/", "SCRIPT_NAME": "/cgi-bin/app.cgi/repo.git/HEAD", "PATH_INFO": "/stale", "PATH_TRANSLATED": "/stale"},
			want:   with("DOCUMENT_ROOT=/srv/", "PATH_INFO=/repo.git/HEAD", "PATH_TRANSLATED=/srv/repo.git/HEAD", "SCRIPT_NAME=/cgi-bin/app.cgi")},
		{name: "path info from resolution without DOCUMENT_ROOT", script: Script{Path: script.Path, PathInfo: "/p", PathInfoSet: true},
			params: map[string]string{"PATH_TRANSLATED": "/stale"},
			want:   with("PATH_INFO=/p")},
		{name: "NUL in resolved fields dropped", script: Script{Path: "/s\x00", ScriptName: "/a\x00", PathInfo: "/p\x00", PathInfoSet: true}, role: "R\x00",
			params:      map[string]string{"DOCUMENT_ROOT": "/srv", "PATH_TRANSLATED": "/stale"},
			want:        []string{"DOCUMENT_ROOT=/srv", "GATEWAY_INTERFACE=CGI/1.1", "PATH=" + DefaultPath, "SERVER_SOFTWARE=fcgi-wrap"},
			wantDropped: []string{"FCGI_ROLE: NUL in value", "PATH_INFO: NUL in value", "SCRIPT_FILENAME: NUL in value", "SCRIPT_NAME: NUL in value"}},
		{name: "fixed overrides all", script: script,
			params:      map[string]string{"GIT_PROJECT_ROOT": "/tmp/evil", "HTTP_HOST": "h"},
			policy:      EnvPolicy{Fixed: []string{"GIT_PROJECT_ROOT=/srv/git", "GIT_HTTP_EXPORT_ALL=", "PATH=/x", "EQ=a=b", "bad-name=1", "novalue", "NUL=a\x00"}},
			want:        with("EQ=a=b", "GIT_HTTP_EXPORT_ALL=", "GIT_PROJECT_ROOT=/srv/git", "HTTP_HOST=h", "PATH=/x"),
			wantDropped: []string{`--env "NUL=a\x00": not NAME=value`, `--env "bad-name=1": not NAME=value`, `--env "novalue": not NAME=value`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, dropped := Environ(tt.params, tt.script, tt.role, tt.policy)
			if !slices.Equal(env, tt.want) {
				t.Errorf("got env\n%q\nwant\n%q", env, tt.want)
			}
			if !slices.Equal(dropped, tt.wantDropped) {
				t.Errorf("got dropped %q, want %q", dropped, tt.wantDropped)
			}
			checkEnv(t, env, tt.params)
		})
	}
}

// checkEnv asserts what must hold for every environment Environ builds.
func checkEnv(t *testing.T, env []string, params map[string]string) {
	t.Helper()
	seen := make(map[string]bool)
	prev := ""
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !validEnvName(k) {
			t.Errorf("got entry %q, want NAME=value with a valid name", kv)
		}
		if strings.IndexByte(v, 0) >= 0 {
			t.Errorf("got NUL in %q, want none", kv)
		}
		if seen[k] {
			t.Errorf("got %s twice, want once", k)
		}
		if k < prev {
			t.Errorf("got %s after %s, want sorted", k, prev)
		}
		seen[k], prev = true, k
		if strings.EqualFold(k, "HTTP_PROXY") && params[k] != "" && v == params[k] {
			t.Errorf("got %s=%s from params, want httpoxy dropped", k, v)
		}
	}
	if !seen["GATEWAY_INTERFACE"] || !seen["PATH"] {
		t.Errorf("got %q, want GATEWAY_INTERFACE and PATH", env)
	}
}

func BenchmarkEnviron(b *testing.B) {
	params := map[string]string{
		"QUERY_STRING": "service=git-upload-pack", "REQUEST_METHOD": "GET", "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
		"SCRIPT_NAME": "/cgi-bin/git", "REQUEST_URI": "/cgi-bin/git/repo.git/info/refs?service=git-upload-pack",
		"DOCUMENT_URI": "/cgi-bin/git/repo.git/info/refs", "DOCUMENT_ROOT": "/srv/www", "SERVER_PROTOCOL": "HTTP/1.1",
		"REQUEST_SCHEME": "https", "HTTPS": "on", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx/1.24.0",
		"REMOTE_ADDR": "192.0.2.1", "REMOTE_PORT": "51234", "REMOTE_USER": "ann", "SERVER_ADDR": "192.0.2.2",
		"SERVER_PORT": "443", "SERVER_NAME": "git.example.org", "REDIRECT_STATUS": "200",
		"SCRIPT_FILENAME": "/usr/lib/git-core/git-http-backend", "PATH_INFO": "/repo.git/info/refs",
		"HTTP_HOST": "git.example.org", "HTTP_USER_AGENT": "git/2.43.0", "HTTP_ACCEPT": "*/*",
		"HTTP_ACCEPT_ENCODING": "deflate, gzip, br, zstd", "HTTP_PRAGMA": "no-cache", "HTTP_GIT_PROTOCOL": "version=2",
		"HTTP_AUTHORIZATION": "Basic YW5uOnB3", "HTTP_PROXY": "http://evil",
	}
	script := Script{Path: "/usr/lib/git-core/git-http-backend", Dir: "/usr/lib/git-core"}
	policy := EnvPolicy{
		Fixed:      []string{"GIT_PROJECT_ROOT=/srv/git", "GIT_HTTP_EXPORT_ALL="},
		PassEnv:    []string{"LANG", "LC_*"},
		DropParams: []string{"HTTP_AUTHORIZATION"},
		Wrapper:    []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "SECRET=x", "TERM=xterm"},
	}
	for b.Loop() {
		Environ(params, script, "RESPONDER", policy)
	}
}
