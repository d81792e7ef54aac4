package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLeanCgroup: given -cgroup, the lean wrapper starts its scripts in
// that cgroup, and the harness's helpers make and remove it.
func TestLeanCgroup(t *testing.T) {
	cg, why := makeLeanCgroup("test-" + strconv.Itoa(os.Getpid()))
	if cg == "" {
		t.Skip("no writable cgroup: " + why)
	}
	dir := t.TempDir()
	script := shellScript(t, dir, "cgroup.cgi", `printf 'Content-Type: text/plain\r\n\r\n'; grep '^0::' /proc/self/cgroup`+"\n", 0o755)
	sock, stop := startLeanTest(t, "-cgroup", cg)
	out, end := leanRequest(t, sock, script)
	stop()
	removeLeanCgroup(cg)
	if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s after removeLeanCgroup: stat gives %v, want it gone", cg, err)
	}
	if want := "/" + filepath.Base(cg) + "\n"; !strings.HasSuffix(out, want) || end.AppStatus != 0 {
		t.Errorf("got %q, app status %d; want a cgroup path ending in %q, 0", out, end.AppStatus, want)
	}
}
