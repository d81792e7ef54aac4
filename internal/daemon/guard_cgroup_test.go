package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/internal/cgroup"
	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

// TestCgroupGuardKillsAtEOF: when fcgi-wrap's end of the pipe closes (it
// died), the cgroup guard kills everything in the scripts' cgroup, a
// process in a session of its own included; no message per script was
// needed.
func TestCgroupGuardKillsAtEOF(t *testing.T) {
	own, err := cgroup.OwnDir()
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and a cgroup2 mount:", err)
	}
	base := filepath.Join(own, fmt.Sprintf("daemon-test.%d", os.Getpid()))
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Skip("cgroup2 not writable:", err)
	}
	tree, why, err := cgroup.Setup(cgroup.Options{Mode: base})
	if err != nil || tree == nil {
		os.Remove(base)
		t.Skipf("no cgroup tree: %s %v", why, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Deadline)
		defer cancel()
		tree.Close(ctx)
		os.Remove(base)
	})
	r, err := tree.New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Remove(context.Background())
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: r.FD()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	g, err := startCgroupGuard(tree.KillFile())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		t.Fatal("the script died before fcgi-wrap's end closed")
	default:
	}
	g.w.Close() // what the kernel does when fcgi-wrap dies
	select {
	case <-exited:
	case <-time.After(testutil.Deadline):
		t.Fatal("the script outlived fcgi-wrap's end of the guard pipe")
	}
	g.cmd.Wait()
}
