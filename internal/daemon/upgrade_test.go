package daemon

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// nonBlocking reports whether l's socket is in non-blocking mode.
func nonBlocking(t *testing.T, l net.Listener) bool {
	t.Helper()
	rc, err := l.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	if err := rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil || ferr != nil {
		t.Fatal(err, ferr)
	}
	return flags&unix.O_NONBLOCK != 0
}

// The copy handed to the new process must not put the shared socket into
// blocking mode, as a listener's own File copy does once exec passes it on:
// this process's accept would then wait in the kernel, where closing the
// listener at the end of an upgrade does not reach it.
func TestSocketFileKeepsTheListenerNonBlocking(t *testing.T) {
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := socketFile(l, nameBound)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("true")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if !nonBlocking(t, l) {
		t.Errorf("after handing socketFile's copy to a child, the listener blocks; want it non-blocking")
	}
}

func TestUpgradeEnv(t *testing.T) {
	env := []string{"PATH=/bin", "LISTEN_PID=7", "LISTEN_FDS=9", "LISTEN_FDNAMES=x", "WATCHDOG_PID=7",
		"WATCHDOG_USEC=1000", "NOTIFY_SOCKET=/run/n", envUpgradeFrom + "=1", "FCGI_WRAP_WORKERS=2"}
	got := upgradeEnv(env, []string{"fcgi", nameBound, nameMetrics}, 42, 6)
	want := []string{"PATH=/bin", "WATCHDOG_USEC=1000", "NOTIFY_SOCKET=/run/n", "FCGI_WRAP_WORKERS=2",
		"LISTEN_FDS=3", "LISTEN_FDNAMES=fcgi:fcgi-wrap:fcgi-wrap-metrics",
		envUpgradeFrom + "=42", envUpgradeReady + "=6"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSelfPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fcgi-wrap")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	for _, tt := range []struct{ argv0, startDir, want string }{
		{"fcgi-wrap", "/elsewhere", bin},
		{"/usr/sbin/fcgi-wrap", "/elsewhere", "/usr/sbin/fcgi-wrap"},
		{"./bin/fcgi-wrap", "/srv", "/srv/bin/fcgi-wrap"},
	} {
		t.Run(tt.argv0, func(t *testing.T) {
			got, err := selfPath(tt.argv0, tt.startDir)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

// startFakeUpgrade runs sh -c script as the new process, with the ready
// pipe's write end on fd 3.
func startFakeUpgrade(t *testing.T, script string) *upgrade {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command("sh", "-c", script)
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &upgrade{cmd: cmd, ready: r, exitWait: 200 * time.Millisecond}
}

// gone reports whether pid has been reaped: not even a zombie is left.
func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

func TestUpgradeWait(t *testing.T) {
	for _, tt := range []struct {
		name, script string
		cancel       bool
		want         string // "" for ready
	}{
		{"ready", "echo READY=1 >&3; exec sleep 60", false, ""},
		{"exits first", "echo starting >&2; exit 3", false, "exited before it was ready: exit status 3"},
		{"closes the pipe and stays", "exec 3>&-; exec sleep 60", false, "exited before it was ready: signal: killed"},
		{"says something else", "echo STATUS=x >&3; exec sleep 60", false, "reported"},
		{"never ready", "exec sleep 60", false, "did not report ready within 300ms"},
		{"cancelled", "exec sleep 60", true, "fcgi-wrap is stopping"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := startFakeUpgrade(t, tt.script)
			defer func() {
				u.cmd.Process.Kill()
				u.cmd.Wait()
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			err := u.wait(ctx, 300*time.Millisecond)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want ready", err)
			case tt.want == "":
				return
			case err == nil || !strings.Contains(err.Error(), tt.want):
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if !gone(u.cmd.Process.Pid) {
				t.Errorf("the failed new process %d is still there (or not reaped), want it gone", u.cmd.Process.Pid)
			}
		})
	}
}

func TestTakeUpgrade(t *testing.T) {
	t.Run("not an upgrade", func(t *testing.T) {
		if u, err := takeUpgrade(); u != nil || err != nil {
			t.Fatalf("got %v, %v, want nothing", u, err)
		}
	})
	t.Run("someone else's variables", func(t *testing.T) {
		// A process whose parent is not the one named never adopts the
		// descriptors LISTEN_FDS counts.
		t.Setenv(envUpgradeFrom, strconv.Itoa(os.Getpid()))
		t.Setenv(envUpgradeReady, "3")
		t.Setenv("LISTEN_PID", "")
		u, err := takeUpgrade()
		if u != nil || err == nil {
			t.Fatalf("got %v, %v, want a refusal", u, err)
		}
		for _, k := range []string{envUpgradeFrom, envUpgradeReady, "LISTEN_PID"} {
			if v := os.Getenv(k); v != "" {
				t.Errorf("%s=%q after the refusal, want it unset", k, v)
			}
		}
	})
	t.Run("from the parent", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// A descriptor of its own, as the new process inherits it.
		fd, err := unix.Dup(int(w.Fd()))
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(envUpgradeFrom, strconv.Itoa(os.Getppid()))
		t.Setenv(envUpgradeReady, strconv.Itoa(fd))
		t.Setenv("LISTEN_PID", "")
		u, err := takeUpgrade()
		if err != nil || u == nil {
			t.Fatalf("got %v, %v, want the upgrade taken", u, err)
		}
		if got := os.Getenv("LISTEN_PID"); got != strconv.Itoa(os.Getpid()) {
			t.Errorf("LISTEN_PID=%q, want this process's pid", got)
		}
		if flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("the ready descriptor would be inherited by scripts; want it close-on-exec")
		}
		u.reportReady(hclog.NewNullLogger())
		buf := make([]byte, 64)
		n, _ := r.Read(buf)
		if string(buf[:n]) != readyMessage {
			t.Errorf("the parent read %q, want %q", buf[:n], readyMessage)
		}
	})
}
