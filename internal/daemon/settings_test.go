package daemon

import (
	"slices"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/internal/gateway"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

func confined() *Live {
	return &Live{
		Gateway: gateway.Settings{
			Resolve: cgienv.ResolveOptions{Roots: []string{"/srv/cgi"}, Allow: []string{"/srv/cgi/*.cgi"}, Exts: []string{".cgi"}, StrictPerms: true},
			Rlimits: []spawner.Rlimit{{Resource: 7, Cur: 64, Max: 64}},
			MaxBody: 1 << 20,
			Timeout: time.Minute,
			Env:     cgienv.EnvPolicy{PassEnv: []string{"LANG"}, DropParams: []string{"HTTP_AUTHORIZATION"}},
		},
		AllowFrom: []string{"127.0.0.1"},
	}
}

// TestReloadNeverLoosensConfinementByItself: a config file truncated in
// place, or with only its first line written, was reloaded as valid and
// dropped root: and ext:, letting a script outside the root run. Each such
// change is now named, so the file watcher can refuse it.
func TestReloadNeverLoosensConfinementByItself(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*Live)
		want   []string
	}{
		{"unchanged", func(*Live) {}, nil},
		{"half-written file: everything dropped", func(l *Live) { *l = Live{} },
			[]string{"root", "allow", "ext", "no-strict-perms", "rlimit", "max-body", "timeout", "drop-param", "allow-from"}},
		{"tighter everywhere", func(l *Live) {
			g := &l.Gateway
			g.Resolve.Roots, g.Resolve.Exts = []string{"/srv/cgi"}, []string{".cgi"}
			g.Rlimits[0].Cur = 32
			g.MaxBody, g.Timeout = 1024, time.Second
			g.Env.PassEnv = nil
			g.Env.DropParams = append(g.Env.DropParams, "HTTP_COOKIE")
		}, nil},
		{"another root", func(l *Live) { l.Gateway.Resolve.Roots = []string{"/"} }, []string{"root"}},
		{"one more extension", func(l *Live) { l.Gateway.Resolve.Exts = []string{".cgi", ".sh"} }, []string{"ext"}},
		{"higher rlimit", func(l *Live) { l.Gateway.Rlimits = []spawner.Rlimit{{Resource: 7, Cur: 64, Max: 128}} }, []string{"rlimit"}},
		{"body unlimited", func(l *Live) { l.Gateway.MaxBody = 0 }, []string{"max-body"}},
		{"more of the environment", func(l *Live) { l.Gateway.Env.PassEnv = []string{"LANG", "AWS_*"} }, []string{"pass-env"}},
		{"anyone may connect", func(l *Live) { l.AllowFrom = nil }, []string{"allow-from"}},
		{"an interpreter runs files that are not executable", func(l *Live) {
			l.Gateway.Resolve.Interpreters = []cgienv.Interpreter{{Ext: ".php", Program: "/usr/bin/php-cgi"}}
		}, []string{"interpreter"}},
		{"workers are capacity, not confinement", func(l *Live) { l.Pool.Workers = 100 }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next := confined()
			next.Gateway.Rlimits = slices.Clone(next.Gateway.Rlimits)
			tt.change(next)
			if got := loosened(confined(), next); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRestartOnlyComesFromOneDeclaration: every Startup field is compared
// and reported by its flag name, so the list cannot drift from the struct.
func TestRestartOnlyComesFromOneDeclaration(t *testing.T) {
	old := &Startup{Sockets: []string{"unix:/a"}, MaxConns: 10, SendTimeout: time.Second}
	next := &Startup{Sockets: []string{"unix:/b"}, MaxConns: 10, SendTimeout: 2 * time.Second, User: "www-data"}
	if got, want := restartOnly(old, next), []string{"socket", "user", "send-timeout"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := restartOnly(old, old); len(got) != 0 {
		t.Errorf("no change reported %q", got)
	}
}
