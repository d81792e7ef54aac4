package main

// The webserver command of the integration suite: it renders a real web
// server's config from examples/servers, starts the server in its own
// process group, and stops the whole group when the script ends.

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

// How each server runs in the foreground, so that its pid is the server.
var serverArgs = map[string]func(conf string) []string{
	"nginx": func(conf string) []string {
		// -e: errors before the config is read go next to it, not
		// to /var/log/nginx.
		return []string{"nginx", "-e", conf + ".startup.log", "-c", conf, "-g", "daemon off;"}
	},
	"lighttpd": func(conf string) []string { return []string{"lighttpd", "-D", "-f", conf} },
	"apache":   func(conf string) []string { return []string{"apache2", "-f", conf, "-D", "FOREGROUND"} },
	"haproxy":  func(conf string) []string { return []string{"haproxy", "-db", "-f", conf} },
	"caddy": func(conf string) []string {
		return []string{"caddy", "run", "--config", conf, "--adapter", "caddyfile"}
	},
	"h2o": func(conf string) []string { return []string{"h2o", "-c", conf} },
}

// webserver KIND CONFIG HOST:PORT: start KIND (nginx, lighttpd, apache,
// haproxy, caddy, h2o) in the foreground with CONFIG, its output in CONFIG.out, and
// wait until it accepts on HOST:PORT. The server and everything left in its
// process group (workers, the fcgi-wrap lighttpd spawned) are stopped when
// the script ends, pass or fail.
func cmdWebServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 || neg {
		ts.Fatalf("usage: webserver nginx|lighttpd|apache|haproxy|caddy|h2o CONFIG HOST:PORT")
	}
	argv, ok := serverArgs[args[0]]
	if !ok {
		ts.Fatalf("unknown server %q", args[0])
	}
	conf := ts.MkAbs(args[1])
	argList := argv(conf)
	out, err := os.Create(conf + ".out")
	ts.Check(err)
	defer out.Close()

	cmd := exec.Command(argList[0], argList[1:]...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = serverEnv(ts)
	if args[0] == "caddy" {
		cmd.Env = append(cmd.Env, caddyHome(ts)...)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own group: the stop below reaches every process it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ts.Check(cmd.Start())
	pid := cmd.Process.Pid
	done := make(chan struct{})
	go func() {
		// Owned by the deferred stop, which waits for done.
		cmd.Wait()
		close(done)
	}()
	ts.Defer(func() { stopServer(pid, done) })

	exited := false
	accepting := testutil.Poll(testutil.Deadline, func() bool {
		select {
		case <-done:
			exited = true
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", args[2], time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	switch {
	case exited:
		ts.Fatalf("%s exited at start:\n%s", args[0], readTail(conf+".out"))
	case !accepting:
		ts.Fatalf("%s does not accept on %s after %s:\n%s", args[0], args[2], testutil.Deadline, readTail(conf+".out"))
	}
}

// serverEnv is what a service manager would give a server, plus what the
// fcgi-wrap it may start needs in this suite (FCGI_WRAP_ALLOW_ROOT as root).
func serverEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "FCGI_WRAP_ALLOW_ROOT", "FCGI_WRAP_KILL_GRACE"} {
		if v := ts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "LANG=C")
}

// caddyHome gives Caddy a home, data and config directory of its own under
// $WORK/caddy: it keeps certificates, locks and saved configs there, and
// must touch neither the real ones nor the script's unusable $HOME. Later
// entries win over serverEnv's HOME.
func caddyHome(ts *testscript.TestScript) []string {
	var env []string
	for _, d := range []struct{ name, dir string }{
		{"HOME", "home"}, {"XDG_DATA_HOME", "data"}, {"XDG_CONFIG_HOME", "config"},
	} {
		dir := filepath.Join(ts.Getenv("WORK"), "caddy", d.dir)
		ts.Check(os.MkdirAll(dir, 0o755))
		env = append(env, d.name+"="+dir)
	}
	return env
}

// stopServer asks the server to stop, as its init script would, then ends
// whatever stayed behind in its process group.
func stopServer(pid int, done <-chan struct{}) {
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(testutil.Deadline):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	if len(groupMembers(pid)) == 0 {
		return
	}
	syscall.Kill(-pid, syscall.SIGTERM)
	testutil.Poll(testutil.Deadline, func() bool { return len(groupMembers(pid)) == 0 })
	syscall.Kill(-pid, syscall.SIGKILL)
}

// groupMembers lists the running (not zombie) processes in group pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// After the parenthesised name: state, ppid, pgrp.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// readTail returns the end of a log for a failure message.
func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
