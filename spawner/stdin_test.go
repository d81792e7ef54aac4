package spawner

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStdinFile: with Config.Stdin the child reads that very file from
// its start, through the rlimit trampoline too, and gets no pipe.
func TestStdinFile(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rlimits []Rlimit
	}{
		{"direct", nil},
		{"through the trampoline", []Rlimit{{Resource: syscall.RLIMIT_NOFILE, Cur: 256, Max: 256}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := filepath.Join(t.TempDir(), "body")
			if err := os.WriteFile(body, []byte("hello world"), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(body)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cfg := childConfig("stdin")
			cfg.Stdin = f
			cfg.Rlimits = tt.rlimits
			// Neither matters with a file; neither may break it.
			cfg.NoStdin, cfg.StdinPipeSize = true, 1<<20
			p := start(t, cfg)
			f.Close() // the child has its own descriptor
			if p.Stdin() != nil {
				t.Errorf("got a stdin pipe with Config.Stdin, want nil")
			}
			if got, want := strings.TrimSpace(readAll(t, p.Stdout())), body+" 11"; got != want {
				t.Errorf("child's stdin: got %q, want %q", got, want)
			}
			if e := waitDone(t, p); e.Code != 0 {
				t.Errorf("got %v, want exit status 0", e)
			}
		})
	}
}
