package spawner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writeExec writes a file of the given mode into dir.
func writeExec(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// upgradeLimits are the limits the upgrade tests ask for: lowering the
// open-file limit is allowed to anyone.
var upgradeLimits = []Rlimit{{Resource: syscall.RLIMIT_NOFILE, Cur: 100, Max: 200}}

// upgradeChild is the "upgrade" mode of the test binary. It starts the
// script args[1] with upgradeLimits, does to its own executable what a
// package upgrade does (args[0]), and starts the script again. For each
// start it prints the script's "Max open files" row, or the error.
func upgradeChild(out io.Writer, args []string) int {
	how, script := args[0], args[1]
	if how != "delete-first" {
		upgradeStart(out, script)
	}
	switch how {
	case "delete", "delete-first":
		if err := os.Remove(self); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "replace": // as package managers do: a new file renamed over the old
		impostor := self + ".new"
		if err := os.WriteFile(impostor, []byte("#!/bin/sh\necho impostor\n"), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.Rename(impostor, self); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	upgradeStart(out, script)
	return 0
}

func upgradeStart(out io.Writer, script string) {
	p, err := Start(context.Background(), Config{Path: script, Rlimits: upgradeLimits})
	if err != nil {
		fmt.Fprintln(out, "error:", err)
		return
	}
	defer p.Close()
	p.Stdout().SetReadDeadline(time.Now().Add(waitLimit))
	b, err := io.ReadAll(p.Stdout())
	if err != nil {
		fmt.Fprintln(out, "error:", err)
		return
	}
	for _, l := range lines(string(b)) {
		if strings.HasPrefix(l, "Max open files") {
			fmt.Fprintln(out, strings.Join(strings.Fields(l), " "))
			return
		}
	}
	fmt.Fprintf(out, "no limits in %q\n", b)
}

// TestRlimitsAfterUpgrade pins the bug where the trampoline was whatever
// file os.Executable named: once an upgrade deleted or replaced it, every
// start with rlimits failed ("#! interpreter /bin/sh: no such file or
// directory") or ran the new file. The running executable must be what
// runs, whatever became of its file.
//
// Not parallel: it writes executables (see TestStartErrors).
func TestRlimitsAfterUpgrade(t *testing.T) {
	script := writeExec(t, t.TempDir(), "limits.cgi", "#!/bin/sh\nexec cat /proc/self/limits\n", 0o755)
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	const want = "Max open files 100 200 files"
	tests := []struct {
		how    string
		starts int
	}{
		{"delete", 2},
		{"replace", 2},
		{"delete-first", 1}, // the executable is first needed after it is gone
	}
	for _, tt := range tests {
		t.Run(tt.how, func(t *testing.T) {
			exe := writeExec(t, t.TempDir(), "spawner.test", string(bin), 0o755)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe, tt.how, script)
			cmd.Env = []string{modeEnv + "=upgrade"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper: %v, stderr %q", err, stderr.String())
			}
			got := lines(string(out))
			if len(got) != tt.starts {
				t.Fatalf("got %q, want %d starts", got, tt.starts)
			}
			for i, g := range got {
				if g != want {
					t.Errorf("start %d: got %q, want %q", i+1, g, want)
				}
			}
		})
	}
}

// TestTrampolineSaysWhatStartSays pins the bug where the trampoline
// described a failed exec in its own words, a second version of the hints
// StartError gives: the same failure must read the same whether Start or
// the trampoline met it.
//
// Not parallel: it writes executables (see TestStartErrors).
func TestTrampolineSaysWhatStartSays(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		code int // the trampoline's exit status, as a shell's
	}{
		{"missing program", filepath.Join(dir, "nope.cgi"), 127},
		{"missing interpreter", writeExec(t, dir, "perl.cgi", "#! /nonexistent/perl -w\n", 0o755), 127},
		{"no shebang, not ELF", writeExec(t, dir, "text.cgi", "echo hi\n", 0o755), 126},
		{"not executable", writeExec(t, dir, "plain.cgi", "#!/bin/sh\n", 0o644), 126},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(context.Background(), Config{Path: tt.path})
			if err == nil {
				t.Fatal("without rlimits: got a process, want an error")
			}
			p := start(t, Config{Path: tt.path, Rlimits: upgradeLimits})
			stderr := readAll(t, p.Stderr())
			if e := waitDone(t, p); e.Code != tt.code {
				t.Errorf("got %v, want exit status %d", e, tt.code)
			}
			if want := err.Error() + "\n"; stderr != want {
				t.Errorf("trampoline said %q, want what Start says: %q", stderr, want)
			}
		})
	}
}

// TestTrampolineStartError pins the other half of the upgrade bug: when
// the trampoline itself cannot be exec'd, the error must say so, and not
// blame the script's #! interpreter (ENOENT) or its permissions (EACCES).
//
// Not parallel: it swaps the kept executable for broken ones.
func TestTrampolineStartError(t *testing.T) {
	dir := t.TempDir()
	script := writeExec(t, dir, "ok.cgi", "#!/bin/sh\necho hi\n", 0o755)
	tests := []struct {
		name  string
		exe   string // what stands in for the running executable
		errno syscall.Errno
	}{
		{"exec says ENOENT", writeExec(t, dir, "noloader", "#!/nonexistent/interpreter\n", 0o755), syscall.ENOENT},
		{"exec says EACCES", writeExec(t, dir, "noexec", "#!/bin/sh\n", 0o644), syscall.EACCES},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := unix.Open(tt.exe, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			swapExe(t, fd)

			p, err := Start(context.Background(), Config{Path: script, Rlimits: upgradeLimits})
			if err == nil {
				p.Close()
				t.Fatal("got a process, want an error")
			}
			var se *StartError
			if !errors.As(err, &se) || !errors.Is(err, tt.errno) {
				t.Fatalf("got %#v, want a *StartError with %v", err, tt.errno)
			}
			if !se.Trampoline || se.Interp != "" || se.Dir != "" || se.Path != script {
				t.Errorf("got Trampoline %v, Interp %q, Dir %q, Path %q; want true, \"\", \"\", %q",
					se.Trampoline, se.Interp, se.Dir, se.Path, script)
			}
			msg := err.Error()
			if !strings.Contains(msg, "rlimit trampoline") || strings.Contains(msg, "#!") ||
				strings.Contains(msg, "not executable") {
				t.Errorf("got %q, want it to blame the trampoline alone", msg)
			}
		})
	}
}

// swapExe makes fd the running executable for Start until the test ends.
func swapExe(t *testing.T, fd int) {
	t.Helper()
	if _, err := exeFd(); err != nil {
		t.Fatal(err)
	}
	exe.mu.Lock()
	saved := exe.fd
	exe.fd = fd
	exe.mu.Unlock()
	t.Cleanup(func() {
		exe.mu.Lock()
		exe.fd = saved
		exe.mu.Unlock()
	})
}
