package main

// Script commands for the integration suite (testscripts/server_*.txtar and
// testscripts/realcgi_*.txtar): fcgi-wrap behind the real nginx, lighttpd,
// Apache, HAProxy, Caddy and h2o from Debian's packages, driven over HTTP. The server
// configs are rendered from examples/servers, so the recipes in its README
// are exactly what runs here.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

func init() {
	extraCmds["freeport"] = cmdFreePort
	extraCmds["render"] = cmdRender
	extraCmds["webserver"] = cmdWebServer
	extraCmds["http"] = cmdHTTP
	extraCmds["mkdata"] = cmdMkData
	extraCmds["rss"] = cmdRSS
	extraCmds["unixconns"] = cmdUnixConns
	extraCmds["traversable"] = cmdTraversable
}

// httpDeadline bounds one HTTP exchange: the big transfers (256 MiB, a
// 50 MB clone) run through the race-instrumented test binary.
const httpDeadline = 90 * time.Second

// freeport VAR...: set each VAR to a TCP port on 127.0.0.1 that was free a
// moment ago. The kernel picks it, so parallel scripts do not collide the
// way fixed ports would.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 || neg {
		ts.Fatalf("usage: freeport VAR...")
	}
	for _, name := range args {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		port := l.Addr().(*net.TCPAddr).Port
		ts.Check(l.Close())
		ts.Setenv(name, strconv.Itoa(port))
	}
}

var placeholder = regexp.MustCompile(`@([A-Z][A-Z0-9_]*)@`)

// render TEMPLATE OUT: write TEMPLATE with every @NAME@ replaced by the
// script's $NAME; @FCGI_WRAP@ defaults to the fcgi-wrap on the script's
// PATH (this test binary), for servers that start it themselves.
func cmdRender(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: render TEMPLATE OUT")
	}
	tmpl := ts.ReadFile(args[0])
	var missing []string
	out := placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[1 : len(m)-1]
		v := ts.Getenv(name)
		if v == "" && name == "FCGI_WRAP" {
			v = lookPath(ts, "fcgi-wrap")
		}
		if v == "" {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		ts.Fatalf("%s: no value for placeholders %v", args[0], slices.Compact(missing))
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(out), 0o644))
}

// lookPath finds prog on the script's PATH, which is not the test's own.
func lookPath(ts *testscript.TestScript, prog string) string {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	ts.Fatalf("%s not found on the script's PATH", prog)
	return ""
}

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

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// http [-X METHOD] [-H 'Name: value']... [-d DATA|@FILE] [-u USER:PASS]
// [-chunked] [-hash] [-pieces MIN] URL: one HTTP/1.1 request, as a browser
// would send it; -chunked sends the body without a Content-Length, as
// chunks, so only a server that reads it all first can tell the script its
// length. Prints "HTTP <status>", the response headers sorted, a blank line and
// the body. -hash prints "body: N bytes sha256 HEX" instead of the body, for
// transfers too big to keep. -pieces fails unless the body's lines came in
// at least MIN separate reads (streamed output arrives as it is written,
// buffered output all at once), and prints "pieces: L lines in R reads".
// Any status is a success; check it with stdout.
func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	fs.SetOutput(ts.Stderr())
	method := fs.String("X", "", "request method (default GET, or POST with -d)")
	var headers headerFlags
	fs.Var(&headers, "H", "request header 'Name: value' (repeatable)")
	data := fs.String("d", "", "request body: DATA, or @FILE")
	user := fs.String("u", "", "basic auth USER:PASS")
	hash := fs.Bool("hash", false, "print the body's size and sha256 instead of the body")
	pieces := fs.Int("pieces", 0, "fail unless the body's lines arrive in at least this many reads")
	chunked := fs.Bool("chunked", false, "send the request body chunked, without Content-Length")
	if neg || fs.Parse(args) != nil || fs.NArg() != 1 {
		ts.Fatalf("usage: http [-X METHOD] [-H 'Name: value']... [-d DATA|@FILE] [-u USER:PASS] [-chunked] [-hash] [-pieces MIN] URL")
	}

	ctx, cancel := context.WithTimeout(context.Background(), httpDeadline)
	defer cancel()
	var body io.Reader
	size := int64(0)
	if strings.HasPrefix(*data, "@") {
		f, err := os.Open(ts.MkAbs((*data)[1:]))
		ts.Check(err)
		defer f.Close()
		fi, err := f.Stat()
		ts.Check(err)
		body, size = f, fi.Size()
	} else if *data != "" {
		body, size = strings.NewReader(*data), int64(len(*data))
	}
	if *method == "" {
		*method = "GET"
		if body != nil {
			*method = "POST"
		}
	}
	req, err := http.NewRequestWithContext(ctx, *method, fs.Arg(0), body)
	ts.Check(err)
	req.ContentLength = size
	if *chunked && body != nil {
		req.ContentLength = -1
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			ts.Fatalf("-H %q: want 'Name: value'", h)
		}
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if u, p, ok := strings.Cut(*user, ":"); ok {
		req.SetBasicAuth(u, p)
	}

	// A fresh connection per command, and the body exactly as sent.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	resp, err := client.Do(req)
	ts.Check(err)
	defer resp.Body.Close()

	out := ts.Stdout()
	fmt.Fprintf(out, "HTTP %d\n", resp.StatusCode)
	names := make([]string, 0, len(resp.Header))
	for name := range resp.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range resp.Header[name] {
			fmt.Fprintf(out, "%s: %s\n", name, v)
		}
	}
	fmt.Fprintln(out)

	switch {
	case *hash:
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		ts.Check(err)
		fmt.Fprintf(out, "body: %d bytes sha256 %s\n", n, hex.EncodeToString(h.Sum(nil)))
	case *pieces > 0:
		lines, reads := countPieces(ts, resp.Body, out)
		fmt.Fprintf(out, "pieces: %d lines in %d reads\n", lines, reads)
		if reads < *pieces {
			ts.Fatalf("the %d lines arrived in %d reads, want at least %d: the response was buffered, not streamed", lines, reads, *pieces)
		}
	default:
		_, err := io.Copy(out, resp.Body)
		ts.Check(err)
	}
}

// countPieces copies body to out and counts the lines, and the reads in
// which at least one line ended. No clock is involved: a body held back and
// sent whole comes in one or two reads, whatever the machine's speed.
func countPieces(ts *testscript.TestScript, body io.Reader, out io.Writer) (lines, reads int) {
	buf := make([]byte, 64<<10)
	for {
		n, err := body.Read(buf)
		if k := bytes.Count(buf[:n], []byte("\n")); k > 0 {
			lines += k
			reads++
		}
		out.Write(buf[:n])
		if err == io.EOF {
			return lines, reads
		}
		ts.Check(err)
	}
}

// mkdata PATH SIZE VAR: write SIZE bytes (suffixes Ki, Mi, Gi) of
// incompressible, repeatable data to PATH and set VAR to their sha256.
func cmdMkData(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 || neg {
		ts.Fatalf("usage: mkdata PATH SIZE VAR")
	}
	size, err := parseSize(args[1])
	ts.Check(err)
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	// Seeded by the size, so each size has its own fixed content.
	rng := rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(size >> 16), byte(size >> 24)})
	_, err = io.CopyN(w, rng, size)
	ts.Check(err)
	ts.Check(w.Flush())
	ts.Check(f.Close())
	ts.Setenv(args[2], hex.EncodeToString(h.Sum(nil)))
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// rss mark PIDFILE: remember the resident memory of the process in PIDFILE
// now, as the baseline.
// rss check PIDFILE MAXMIB: its peak resident memory (VmHWM) since it
// started must exceed that baseline by at most MAXMIB; prints both. A peak,
// not a sample, so a short burst during a transfer is not missed, and a
// growth, not a total, so the race detector's overhead at start does not
// count.
func cmdRSS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || (args[0] == "mark") != (len(args) == 2) || (args[0] != "mark" && args[0] != "check") {
		ts.Fatalf("usage: rss mark PIDFILE | rss check PIDFILE MAXMIB")
	}
	pid := readPids(ts, args[1])[0]
	key := fmt.Sprintf("RSS_BASELINE_%d", pid)
	if args[0] == "mark" {
		base := procStatusKiB(ts, pid, "VmRSS:")
		ts.Setenv(key, strconv.Itoa(base))
		fmt.Fprintf(ts.Stdout(), "baseline RSS %d MiB\n", base>>10)
		return
	}
	limit, err := strconv.Atoi(args[2])
	ts.Check(err)
	base, err := strconv.Atoi(ts.Getenv(key))
	if err != nil {
		ts.Fatalf("no baseline for pid %d: run rss mark first", pid)
	}
	peak := procStatusKiB(ts, pid, "VmHWM:")
	growth := max(peak-base, 0) >> 10
	fmt.Fprintf(ts.Stdout(), "peak RSS %d MiB, %d MiB over the baseline\n", peak>>10, growth)
	if growth > limit {
		ts.Fatalf("pid %d peaked %d MiB over its baseline of %d MiB, want at most %d MiB", pid, growth, base>>10, limit)
	}
}

// procStatusKiB reads one "Name: N kB" field of /proc/PID/status.
func procStatusKiB(ts *testscript.TestScript, pid int, field string) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	ts.Check(err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			ts.Check(err)
			return kib
		}
	}
	ts.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// unixconns SOCKET N: wait until exactly N connections to the unix socket
// SOCKET are open (accepted sockets carry the listener's path in
// /proc/net/unix). Shows whether a server keeps FastCGI connections alive,
// or multiplexes requests over one.
func cmdUnixConns(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: unixconns SOCKET N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	if !testutil.Poll(testutil.Deadline, func() bool { return unixConns(path) == want }) {
		ts.Fatalf("%d connections to %s after %s, want %d", unixConns(path), args[0], testutil.Deadline, want)
	}
}

func unixConns(path string) int {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return -1
	}
	n := 0
	// Num RefCount Protocol Flags Type St Inode Path; St 03 is connected.
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 8 && f[5] == "03" && f[7] == path {
			n++
		}
	}
	return n
}

// traversable DIR: let other users (the servers' www-data workers) reach
// into DIR by adding o+x to it and to its parents inside the temporary
// directory; nothing becomes listable or writable.
func cmdTraversable(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: traversable DIR")
	}
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	ts.Check(err)
	dir, err := filepath.EvalSymlinks(ts.MkAbs(args[0]))
	ts.Check(err)
	for ; strings.HasPrefix(dir, tmp+string(filepath.Separator)); dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		ts.Check(err)
		ts.Check(os.Chmod(dir, fi.Mode().Perm()|0o001))
	}
}
