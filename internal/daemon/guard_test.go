package daemon

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// sleeper is a sleeping process that leads its own process group.
type sleeper struct {
	pid  int
	done chan struct{} // closed once it has exited and been reaped
}

func startGroup(t *testing.T) *sleeper {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sleeper{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-s.pid, syscall.SIGKILL)
		<-s.done
	})
	return s
}

// exitedWithin reports whether the sleeper ends within d.
func (s *sleeper) exitedWithin(d time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestGroupGuardDeferredRemovals: a removal waits to ride along with the
// next add, yet the guard never kills a removed group once it has heard
// of the removal, and a clean stop sends what still waits.
func TestGroupGuardDeferredRemovals(t *testing.T) {
	t.Run("carried by the next add", func(t *testing.T) {
		g, err := startGroupGuard()
		if err != nil {
			t.Skip("no awk:", err)
		}
		a, b := startGroup(t), startGroup(t)
		g.Add(a.pid)
		g.Remove(a.pid)
		g.Add(b.pid)
		// fcgi-wrap dying: the pipe closes with nothing flushed.
		g.w.Close()
		g.cmd.Wait()
		if !b.exitedWithin(20 * time.Second) {
			t.Error("the listed group survived the guard")
		}
		// The guard has exited, so any kill it sent is already on its way.
		if a.exitedWithin(200 * time.Millisecond) {
			t.Error("the removed group was killed")
		}
	})
	t.Run("sent at a clean stop", func(t *testing.T) {
		g, err := startGroupGuard()
		if err != nil {
			t.Skip("no awk:", err)
		}
		a := startGroup(t)
		g.Add(a.pid)
		g.Remove(a.pid)
		g.stop()
		// The guard has exited, so any kill it sent is already on its way.
		if a.exitedWithin(200 * time.Millisecond) {
			t.Error("the removed group was killed at stop")
		}
	})
}
