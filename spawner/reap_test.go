package spawner

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

func TestNoStdinGivesDevNull(t *testing.T) {
	cfg := childConfig("stdin")
	cfg.NoStdin = true
	p := start(t, cfg)
	if p.Stdin() != nil {
		t.Errorf("got a stdin pipe with NoStdin, want nil")
	}
	if got := strings.TrimSpace(readAll(t, p.Stdout())); got != "/dev/null 0" {
		t.Errorf("child's stdin: got %q, want \"/dev/null 0\"", got)
	}
	if e := waitDone(t, p); e.Code != 0 {
		t.Errorf("got %v, want exit status 0", e)
	}

	// Without it, a pipe as before.
	p = start(t, childConfig("stdin"))
	if _, err := p.Stdin().Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	p.Stdin().Close()
	if got := strings.TrimSpace(readAll(t, p.Stdout())); !strings.HasPrefix(got, "pipe:") || !strings.HasSuffix(got, " 3") {
		t.Errorf("child's stdin: got %q, want a pipe that gave 3 bytes", got)
	}
	waitDone(t, p)
}

// threads counts this process's OS threads.
func threads(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A running child must not hold an OS thread of ours while we wait for it:
// with a blocking wait per child, 64 sleeping scripts would mean 64 more
// threads.
func TestWaitingHoldsNoThread(t *testing.T) {
	if !pidfdsWork() {
		t.Skip("no pidfds on this kernel: waiting blocks a thread by design")
	}
	const n = 64
	before := threads(t)
	procs := make([]*Process, n)
	for i := range procs {
		procs[i] = start(t, childConfig("sleep", "ready"))
	}
	for _, p := range procs {
		if got := readLine(t, p.Stdout()); got != "ready" {
			t.Fatalf("got %q, want ready", got)
		}
		p.Done() // starts its reaper
	}
	// The reapers have all had the chance to block by now: every child is
	// running its sleep.
	if grown := threads(t) - before; grown > n/4 {
		t.Errorf("got %d more threads with %d children waited for, want at most %d", grown, n, n/4)
	}
	for _, p := range procs {
		p.KillNow()
		if e := waitDone(t, p); e.Signal.String() != "killed" {
			t.Errorf("got %v, want killed", e)
		}
	}
}

// TestTryReap: a leader still running is not reaped by TryReap, and then
// is, once it has exited, with its status; Done, Exit and Close agree, and
// no reaper was needed for it.
func TestTryReap(t *testing.T) {
	p := start(t, childConfig("exit", "3"))
	readAll(t, p.Stdout())
	testutil.WaitFor(t, "TryReap to reap the exited leader", p.TryReap)
	select {
	case <-p.done:
	default:
		t.Fatal("TryReap reported the leader reaped, but done is open")
	}
	if p.reaping {
		t.Error("a reaper goroutine was started for a leader TryReap reaped")
	}
	if e := p.Exit(); e.Code != 3 {
		t.Errorf("got %v, want exit status 3", e)
	}

	p = start(t, childConfig("sleep", "ready"))
	if got := readLine(t, p.Stdout()); got != "ready" {
		t.Fatalf("got %q, want ready", got)
	}
	if p.TryReap() {
		t.Fatal("TryReap reaped a leader that is still running")
	}
	p.KillNow()
	if e := waitDone(t, p); e.Signal.String() != "killed" {
		t.Errorf("got %v, want killed", e)
	}
	if !p.TryReap() {
		t.Error("TryReap after Done: got false, want true")
	}
}

// TestReadStderrNow: an exited child's stderr is read without the
// netpoller, to its end; a running child's empty stderr would block, and
// once Stderr has been asked for, that is the way to read it.
func TestReadStderrNow(t *testing.T) {
	p := start(t, childConfig("stderr", "oops"))
	waitDone(t, p)
	buf := make([]byte, 64)
	n, err := p.ReadStderrNow(buf)
	if err != nil || string(buf[:n]) != "oops" {
		t.Fatalf("got %q, %v; want \"oops\"", buf[:n], err)
	}
	if n, err := p.ReadStderrNow(buf); n != 0 || err != io.EOF {
		t.Errorf("at the end: got %d, %v; want 0, EOF", n, err)
	}

	p = start(t, childConfig("sleep", "ready"))
	if got := readLine(t, p.Stdout()); got != "ready" {
		t.Fatalf("got %q, want ready", got)
	}
	if _, err := p.ReadStderrNow(buf); !errors.Is(err, ErrWouldBlock) {
		t.Errorf("running child, empty stderr: got %v, want ErrWouldBlock", err)
	}
	if p.Stderr() == nil {
		t.Fatal("Stderr: got nil for an open pipe")
	}
	if _, err := p.ReadStderrNow(buf); !errors.Is(err, ErrWouldBlock) {
		t.Errorf("after Stderr: got %v, want ErrWouldBlock", err)
	}
	p.KillNow()
	waitDone(t, p)
}

// TestGrowStdoutLater: the stdout pipe keeps the kernel's default until
// GrowStdout, which gives it the configured size once.
func TestGrowStdoutLater(t *testing.T) {
	cfg := childConfig("exit", "0")
	cfg.GrowStdoutLater = true
	p := start(t, cfg)
	if got := pipeSize(t, p.Stdout()); got != 64<<10 {
		t.Errorf("before GrowStdout: got %d, want the kernel's 65536", got)
	}
	p.GrowStdout()
	if got := pipeSize(t, p.Stdout()); got != defaultPipeSize && os.Geteuid() == 0 {
		t.Errorf("after GrowStdout: got %d, want %d", got, defaultPipeSize)
	}
	waitDone(t, p)
}
