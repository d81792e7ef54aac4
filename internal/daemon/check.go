package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// Warning is something serving would do as told but that is probably not
// what the operator meant. Serving logs it; `fcgi-wrap check` prints it.
type Warning struct {
	Msg  string
	Args []any // key/value pairs, as hclog takes them
}

// String is the warning as the text log writes it: "msg: key=value ...",
// a value with spaces quoted.
func (w Warning) String() string {
	var b strings.Builder
	b.WriteString(w.Msg)
	sep := ": "
	for i := 0; i+1 < len(w.Args); i += 2 {
		v := fmt.Sprint(w.Args[i+1])
		if strings.ContainsAny(v, " \t\"") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, "%s%v=%s", sep, w.Args[i], v)
		sep = " "
	}
	return b.String()
}

// Validate is everything serving checks before it binds a socket, and all
// that `fcgi-wrap check` checks: one function, so that check passes
// exactly when serving would start. It looks at the filesystem, the user
// database and the resolver as they are now. An error that lies in the
// settings themselves is a *UsageError.
func Validate(s *Settings) ([]Warning, error) {
	st := &s.Startup
	var problems []error
	var warnings []Warning
	if _, err := checkPrivileges(st); err != nil {
		problems = append(problems, err)
	}
	if err := checkContainment(st); err != nil {
		problems = append(problems, err) // contain_linux.go
	}
	for _, raw := range st.Sockets {
		w, err := checkSocket(raw, st)
		if err != nil {
			problems = append(problems, err)
		}
		warnings = append(warnings, w...)
	}
	if st.SocketOwner != "" {
		if _, _, err := lookupOwner(st.SocketOwner); err != nil {
			problems = append(problems, fmt.Errorf("--socket-owner: %v", err))
		}
	}
	for _, f := range []struct{ flag, path string }{{"--log-file", st.LogFile}, {"--access-log", st.AccessLog}, {"--pid-file", st.PidFile}} {
		if err := checkParentDir(f.flag, f.path); err != nil {
			problems = append(problems, err)
		}
	}
	if st.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(st.MetricsListen); err != nil {
			problems = append(problems, fmt.Errorf("--metrics-listen %q: %v", st.MetricsListen, err))
		}
	}
	warnings = append(warnings, allowPatternWarnings(s.Live.Gateway.Resolve.Allow)...)
	if _, err := parseAllowed(s.Live.AllowFrom, os.Getenv("FCGI_WEB_SERVER_ADDRS")); err != nil {
		// In the settings, not the system: the same usage error (exit 2)
		// serving has always given for it.
		if len(problems) == 0 {
			return warnings, &UsageError{Err: err}
		}
		problems = append(problems, err)
	}
	return warnings, errors.Join(problems...)
}

// checkSocket finds what binding raw would fail on, and warns when no web
// server could connect to the unix socket it would create.
func checkSocket(raw string, st *Startup) ([]Warning, error) {
	addr, err := ParseSocketURL(raw)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	if addr.Network != "unix" {
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		defer cancel()
		_, err := tcpAddresses(ctx, netResolver{}, raw, addr)
		return nil, err
	}
	dir := filepath.Dir(addr.Address)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("socket %s: directory %s does not exist", raw, dir)
	} else if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return nil, fmt.Errorf("socket %s: directory %s is not writable", raw, dir)
	}
	if fi, err := os.Lstat(addr.Address); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("socket %s: the path exists and is not a socket; not removing it", raw)
	}
	return socketReachWarnings(raw, addr.Address, st), nil
}

// checkParentDir: serving opens these files before it does anything else;
// a missing directory would stop it there.
func checkParentDir(flag, path string) error {
	if path == "" || path == "-" {
		return nil
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s %s: directory %s does not exist", flag, path, dir)
	}
	return nil
}

// allowPatternWarnings catches --allow patterns that can never match:
// they are matched against the script's absolute path, and a glob's "*"
// never matches a "/", so a pattern that does not start with "/" matches
// nothing. The usual cause is spawn-fcgi's "-p 9000" (a port), which here
// is fcgiwrap's -p (an allowed script).
func allowPatternWarnings(patterns []string) []Warning {
	var warnings []Warning
	for _, p := range patterns {
		if strings.HasPrefix(p, "/") {
			continue
		}
		hint := "patterns match the script's absolute path: write /srv/cgi/" + p + " or /srv/cgi/*.cgi"
		if p != "" && strings.Trim(p, "0123456789") == "" {
			hint = "-p is fcgiwrap's allowed-script option, not spawn-fcgi's port: listen with --socket tcp:127.0.0.1:" + p
		}
		warnings = append(warnings, Warning{
			Msg:  "--allow (-p) pattern is not an absolute path or glob, so it matches no script",
			Args: []any{"pattern", p, "hint", hint},
		})
	}
	return warnings
}

// validate is Validate at the start of serving: the warnings go to the log.
func validate(s *Settings, log hclog.Logger) error {
	warnings, err := Validate(s)
	for _, w := range warnings {
		log.Warn(w.Msg, w.Args...)
	}
	return err
}
