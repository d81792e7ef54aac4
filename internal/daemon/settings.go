package daemon

import (
	"os"
	"reflect"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/gateway"
	"github.com/fcgi-wrap/fcgi-wrap/pool"
)

// Settings is everything fcgi-wrap serves with, checked and in the types
// the packages want: a Startup part that only a restart changes, and a
// Live part that a reload replaces whole.
type Settings struct {
	Startup Startup
	Live    Live
}

// Startup is what only a restart can change: the sockets, the identity,
// the log destinations and the FastCGI server's limits. A reload that
// changes a field here logs the field's flag name (its tag) and keeps the
// running value: this struct is the one list of restart-only settings.
type Startup struct {
	Script        string        `flag:"SCRIPT"` // absolute; "": the web server names the script
	Sockets       []string      `flag:"socket"` // nil: fd 0 or systemd's sockets
	SocketMode    os.FileMode   `flag:"socket-mode"`
	SocketOwner   string        `flag:"socket-owner"` // "": fcgi-wrap's own
	User          string        `flag:"user"`         // "": no privilege drop
	Group         string        `flag:"group"`        // "": the user's primary group
	AllowRoot     bool          `flag:"allow-root"`
	PidFile       string        `flag:"pid-file"`       // "": none
	LogFile       string        `flag:"log-file"`       // "": stderr
	LogFormat     string        `flag:"log-format"`     // text or json
	AccessLog     string        `flag:"access-log"`     // "": none; "-": stdout
	MetricsListen string        `flag:"metrics-listen"` // "": no metrics endpoint
	MaxConns      int           `flag:"max-conns"`      // 0: no limit
	MaxReqs       int           `flag:"max-reqs"`       // 0: no limit
	MaxParams     int           `flag:"max-params"`
	MaxParamCount int           `flag:"max-param-count"`
	ParamsTimeout time.Duration `flag:"params-timeout"` // 0: none
	IdleTimeout   time.Duration `flag:"idle-timeout"`   // 0: none
	SendTimeout   time.Duration `flag:"send-timeout"`   // 0: none
	// Containment and identity (contain_linux.go): they follow from the
	// cgroup tree and the capabilities fcgi-wrap set up at start.
	Cgroup       string   `flag:"cgroup"`       // "auto" (or ""), "off", or a cgroup2 directory
	CgroupLimits []string `flag:"cgroup-limit"` // KEY=VALUE written into each request cgroup
	RunAs        string   `flag:"run-as"`       // "owner": each script as its file's owner; "": as --user
	MinUID       int      `flag:"min-uid"`      // --run-as owner refuses owners below it
	MinGID       int      `flag:"min-gid"`      // --run-as owner refuses primary groups below it
}

// Live applies to requests that start after a reload; running requests
// keep the settings they started with.
type Live struct {
	Gateway         gateway.Settings
	Pool            pool.Config
	AllowFrom       []string // CIDRs; with FCGI_WEB_SERVER_ADDRS, empty allows everyone
	LogLevel        string
	ShutdownTimeout time.Duration
	// DrainDelay is how long a SIGTERM leaves fcgi-wrap accepting, with
	// the ping page answering 503, before it stops; 0: it stops at once.
	DrainDelay time.Duration
}

// restartOnly lists the flags whose value differs between old and next.
// It walks Startup's fields, so a setting added there is covered without
// being named anywhere else.
func restartOnly(old, next *Startup) []string {
	var changed []string
	o, n := reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem()
	for i := range o.NumField() {
		if !reflect.DeepEqual(o.Field(i).Interface(), n.Field(i).Interface()) {
			changed = append(changed, o.Type().Field(i).Tag.Get("flag"))
		}
	}
	return changed
}

// loosened lists the confinement settings that next relaxes against old:
// where scripts may be, which run, how strictly their files are checked,
// their limits, what they may see of fcgi-wrap's environment and who may
// connect. A reload the file watcher started never applies such a change
// (a half-written file looks exactly like one); SIGHUP or a restart does.
func loosened(old, next *Live) []string {
	o, n := &old.Gateway, &next.Gateway
	var why []string
	for _, c := range []struct {
		flag  string
		loose bool
	}{
		{"root", narrowedBy(o.Resolve.Roots) && !narrowedAsMuch(o.Resolve.Roots, n.Resolve.Roots)},
		{"allow", narrowedBy(o.Resolve.Allow) && !narrowedAsMuch(o.Resolve.Allow, n.Resolve.Allow)},
		{"ext", narrowedBy(o.Resolve.Exts) && !narrowedAsMuch(o.Resolve.Exts, n.Resolve.Exts)},
		// An interpreter makes files runnable that need not be executable.
		{"interpreter", !subset(n.Resolve.Interpreters, o.Resolve.Interpreters)},
		{"no-strict-perms", o.Resolve.StrictPerms && !n.Resolve.StrictPerms},
		{"rlimit", rlimitsLoosened(o, n)},
		{"max-body", limitRaised(o.MaxBody, n.MaxBody)},
		{"timeout", limitRaised(int64(o.Timeout), int64(n.Timeout))},
		{"pass-env", !subset(n.Env.PassEnv, o.Env.PassEnv)},
		{"drop-param", !subset(o.Env.DropParams, n.Env.DropParams)},
		{"allow-from", narrowedBy(old.AllowFrom) && !narrowedAsMuch(old.AllowFrom, next.AllowFrom)},
	} {
		if c.loose {
			why = append(why, c.flag)
		}
	}
	return why
}

// narrowedBy: an empty list of roots, patterns or addresses allows all.
func narrowedBy(list []string) bool { return len(list) > 0 }

// narrowedAsMuch reports whether next allows no more than old does.
func narrowedAsMuch(old, next []string) bool { return len(next) > 0 && subset(next, old) }

// subset reports whether every element of a is in b.
func subset[T comparable](a, b []T) bool {
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			return false
		}
	}
	return true
}

// limitRaised: 0 means no limit.
func limitRaised(old, next int64) bool { return old > 0 && (next == 0 || next > old) }

func rlimitsLoosened(o, n *gateway.Settings) bool {
	for _, ol := range o.Rlimits {
		kept := false
		for _, nl := range n.Rlimits {
			kept = kept || (nl.Resource == ol.Resource && nl.Cur <= ol.Cur && nl.Max <= ol.Max)
		}
		if !kept {
			return true
		}
	}
	return false
}

// UsageError is a setting that makes fcgi-wrap unable to start, as opposed
// to a failure of the system it runs on: the command line exits 2 for it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }
