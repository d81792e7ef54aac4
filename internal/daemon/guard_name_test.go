package daemon

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// TestGroupGuardShortCommandLine pins the ps listing that showed the
// guard's whole awk program: its command line is now a few words, and
// the guard still works (it reads its program from fd 3).
func TestGroupGuardShortCommandLine(t *testing.T) {
	if _, err := exec.LookPath("awk"); err != nil {
		t.Skip("no awk:", err)
	}
	g, err := startGroupGuard()
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", g.cmd.Process.Pid))
	g.stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(cmdline) > 64 || bytes.ContainsAny(cmdline, "\n{") {
		t.Errorf("guard's command line is %q, want a short one", cmdline)
	}
	if g.cmd.ProcessState == nil || !g.cmd.ProcessState.Success() {
		t.Errorf("guard did not exit cleanly: %v", g.cmd.ProcessState)
	}
}
