package spawner

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestKill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mode  string
		grace time.Duration
		want  syscall.Signal
	}{
		{"no grace kills at once", "sleep", 0, syscall.SIGKILL},
		{"TERM is enough", "sleep", time.Hour, syscall.SIGTERM},
		{"TERM ignored, KILL after grace", "ignoreterm", 50 * time.Millisecond, syscall.SIGKILL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := childConfig(tt.mode, "ready")
			cfg.KillGrace = tt.grace
			p := start(t, cfg)
			readLine(t, p.Stdout()) // its signal dispositions are in place
			p.Kill()
			p.Kill() // idempotent
			got := waitDone(t, p)
			want := Exit{Code: -1, Signal: tt.want}
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
			// An hour's grace must not keep Close waiting.
			if err := p.Close(); err != nil {
				t.Errorf("Close: got %v, want nil", err)
			}
		})
	}
}

func TestKillNowCutsGrace(t *testing.T) {
	t.Parallel()
	cfg := childConfig("ignoreterm")
	cfg.KillGrace = time.Hour
	p := start(t, cfg)
	readLine(t, p.Stdout())
	p.Kill()
	p.KillNow()
	if got, want := waitDone(t, p), (Exit{Code: -1, Signal: syscall.SIGKILL}); got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestKillBackgroundAfterLeaderExit pins the `cmd &` problem: the script
// exits but its background job holds stdout open; killing the group must
// still reach it.
// TestKillBackgroundAfterLeaderExit pins the `cmd &` problem: the script
// exits but its background job holds stdout open; killing the group must
// still reach it.
func TestKillBackgroundAfterLeaderExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kill func(p *Process, cancel context.CancelFunc)
	}{
		{"Kill", func(p *Process, _ context.CancelFunc) { p.Kill() }},
		{"context cancel", func(_ *Process, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := childConfig("bg")
			cfg.KillGrace = time.Hour
			p, err := Start(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			bgPid, err := strconv.Atoi(readLine(t, p.Stdout()))
			if err != nil {
				t.Fatalf("bad pid line: %v", err)
			}
			if e := waitDone(t, p); e.Code != 0 {
				t.Fatalf("leader: got %v, want exit status 0", e)
			}
			if !alive(bgPid) {
				t.Fatalf("background pid %d: got dead before the kill, want alive", bgPid)
			}
			tt.kill(p, cancel)
			// EOF on stdout proves the last writer, the background job,
			// is gone.
			if got := readAll(t, p.Stdout()); got != "" {
				t.Errorf("got %q after the pid line, want nothing", got)
			}
			waitDead(t, bgPid)
		})
	}
}

func TestCloseKillsLeftovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode string
	}{
		{"running leader", "ignoreterm"},
		{"background job with SIGKILL pending", "bg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := childConfig(tt.mode)
			cfg.KillGrace = time.Hour
			p, err := Start(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			pid := p.Pid()
			if line := readLine(t, p.Stdout()); tt.mode == "bg" {
				if pid, err = strconv.Atoi(line); err != nil {
					t.Fatal(err)
				}
				waitDone(t, p)
				p.Kill() // TERM kills the sleeper; the pending KILL is Close's to cancel
			}
			if err := p.Close(); err != nil {
				t.Errorf("Close: got %v, want nil", err)
			}
			select {
			case <-p.Done():
			default:
				t.Errorf("got Close returning before the leader was reaped, want reaped")
			}
			waitDead(t, pid)
			if err := p.Close(); err != nil {
				t.Errorf("second Close: got %v, want nil", err)
			}
			p.Kill() // after Close: must do nothing, and not panic
			p.KillNow()
		})
	}
}

func TestContextCancelKills(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := childConfig("ignoreterm")
	cfg.KillGrace = 20 * time.Millisecond
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	readLine(t, p.Stdout())
	cancel()
	if got, want := waitDone(t, p), (Exit{Code: -1, Signal: syscall.SIGKILL}); got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestStartWithDoneContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err := Start(ctx, childConfig("sleep"))
	if err == nil {
		p.Close()
		t.Fatalf("got a process, want context.Canceled")
	}
	if err != context.Canceled {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestPdeathsig(t *testing.T) {
	t.Parallel()
	p := start(t, childConfig("nested"))
	grandchild, err := strconv.Atoi(readLine(t, p.Stdout()))
	if err != nil {
		t.Fatal(err)
	}
	if !alive(grandchild) {
		t.Fatalf("grandchild %d: got dead, want alive while its parent lives", grandchild)
	}
	// The grandchild has its own process group, so this kills only its
	// parent; Pdeathsig must take the grandchild with it.
	p.KillNow()
	waitDone(t, p)
	waitDead(t, grandchild)
}
