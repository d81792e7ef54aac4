package main

// Script commands for the integration suite (testscripts/server_*.txtar and
// testscripts/realcgi_*.txtar): fcgi-wrap behind the real nginx, lighttpd,
// Apache, HAProxy, Caddy and h2o from Debian's packages, driven over HTTP. The server
// configs are rendered from examples/servers, so the recipes in its README
// are exactly what runs here.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

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
