package spawner

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// pipeSize reads a pipe's buffer size with F_GETPIPE_SZ.
func pipeSize(t *testing.T, f *os.File) int {
	t.Helper()
	const fGetPipeSz = 1032
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got uintptr
	var errno syscall.Errno
	rc.Control(func(fd uintptr) {
		got, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, fGetPipeSz, 0)
	})
	if errno != 0 {
		t.Fatal(errno)
	}
	return int(got)
}

func TestPipeSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		stdout     int // Config.PipeSize
		stdin      int // Config.StdinPipeSize
		wantStdout int
		wantStdin  int
	}{
		{"default", 0, 0, defaultPipeSize, 64 << 10},
		{"kernel default", -1, 0, 64 << 10, 64 << 10},
		{"asked", 256 << 10, 512 << 10, 256 << 10, 512 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := childConfig("exit", "0")
			cfg.PipeSize, cfg.StdinPipeSize = tt.stdout, tt.stdin
			p := start(t, cfg)
			if max(tt.wantStdout, tt.wantStdin) > 64<<10 && os.Geteuid() != 0 {
				max, _ := os.ReadFile("/proc/sys/fs/pipe-max-size")
				if n, _ := strconv.Atoi(strings.TrimSpace(string(max))); n < tt.wantStdout || n < tt.wantStdin {
					t.Skipf("pipe-max-size %d below what the test asks", n)
				}
			}
			if got := pipeSize(t, p.Stdout()); got != tt.wantStdout {
				t.Errorf("got stdout pipe size %d, want %d", got, tt.wantStdout)
			}
			if got := pipeSize(t, p.Stdin()); got != tt.wantStdin {
				t.Errorf("got stdin pipe size %d, want %d", got, tt.wantStdin)
			}
			waitDone(t, p)
		})
	}
}
