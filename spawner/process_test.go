package spawner

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEchoFullDuplex pushes 64 MiB through a child that writes while it
// reads: it deadlocks unless stdin and stdout flow at the same time.
func TestEchoFullDuplex(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	p := start(t, childConfig("echo"))

	block := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	want := sha256.New()
	for range size / len(block) {
		want.Write(block)
	}

	writeErr := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < size/len(block) && err == nil; i++ {
			_, err = p.Stdin().Write(block)
		}
		if cerr := p.Stdin().Close(); err == nil {
			err = cerr
		}
		writeErr <- err
	}()

	if err := p.Stdout().SetReadDeadline(time.Now().Add(2 * waitLimit)); err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, p.Stdout())
	if err != nil {
		t.Fatalf("read stdout: %v", err)
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write stdin: %v", err)
	}
	if n != size {
		t.Fatalf("got %d bytes back, want %d", n, size)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("got different bytes back than were sent")
	}
	if e := waitDone(t, p); e != (Exit{}) {
		t.Errorf("got %v, want exit status 0", e)
	}
}

func TestEnvExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{
			name: "nil is empty",
			cfg:  Config{Path: "/usr/bin/env"},
			want: nil,
		},
		{
			name: "exactly what was given",
			cfg:  Config{Path: self, Env: []string{modeEnv + "=env", "A=1", "B=x=y", "EMPTY="}},
			want: []string{modeEnv + "=env", "A=1", "B=x=y", "EMPTY="},
		},
		{
			name: "no PWD added with Dir",
			cfg:  Config{Path: self, Dir: "/", Env: []string{modeEnv + "=env"}},
			want: []string{modeEnv + "=env"},
		},
		{
			name: "later duplicate wins",
			cfg:  Config{Path: self, Env: []string{"A=1", modeEnv + "=env", "A=2"}},
			want: []string{modeEnv + "=env", "A=2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, tt.cfg)
			got := lines(readAll(t, p.Stdout()))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got env %q, want %q", got, tt.want)
			}
			waitDone(t, p)
		})
	}
}

func TestDir(t *testing.T) {
	t.Parallel()
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"explicit", tmp, tmp},
		{"default is the program's directory", "", filepath.Dir(self)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := childConfig("cwd")
			cfg.Dir = tt.dir
			p := start(t, cfg)
			want, err := filepath.EvalSymlinks(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(readAll(t, p.Stdout())); got != want {
				t.Errorf("got cwd %q, want %q", got, want)
			}
			waitDone(t, p)
		})
	}
}

func TestOwnProcessGroup(t *testing.T) {
	t.Parallel()
	p := start(t, childConfig("sleep", "ready"))
	readLine(t, p.Stdout())
	pgid, err := syscall.Getpgid(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.Pid() {
		t.Errorf("got pgid %d, want the child's pid %d", pgid, p.Pid())
	}
	if pgid == syscall.Getpgrp() {
		t.Errorf("got our own pgid %d, want a new group", pgid)
	}
	if got := p.Exit(); got != (Exit{}) {
		t.Errorf("before Done: got Exit %+v, want zero", got)
	}
	p.KillNow()
	waitDone(t, p)
}

// TestOnlyStdioFds checks that nothing but the pipes reaches the child:
// neither Go's own descriptors nor ones our process inherited without
// close-on-exec (as this test binary may have from whatever started it).
func TestOnlyStdioFds(t *testing.T) {
	t.Parallel()
	// A descriptor of ours without close-on-exec, as a careless parent
	// process would hand down to us.
	fds := make([]int, 2)
	if err := syscall.Pipe(fds); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])

	// The trampoline is handed its own executable, which must not reach
	// the program it execs.
	limits := []Rlimit{{Resource: syscall.RLIMIT_CORE}}
	tests := []struct {
		name    string
		data    bool
		rlimits []Rlimit
		want    string
	}{
		{"stdio", false, nil, "0 1 2"},
		{"with data", true, nil, "0 1 2 3"},
		{"stdio through the trampoline", false, limits, "0 1 2"},
		{"with data through the trampoline", true, limits, "0 1 2 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// cat, not the test binary: the Go runtime opens descriptors
			// of its own at start-up.
			p := start(t, Config{Path: "/bin/cat", Data: tt.data, Rlimits: tt.rlimits})
			// Once cat echoes, its dynamic loader has closed whatever it
			// opened, so its table is exactly what it was given.
			io.WriteString(p.Stdin(), "x\n")
			readLine(t, p.Stdout())
			if got := fdList(t, p.Pid()); got != tt.want {
				t.Errorf("got fds %q, want %q", got, tt.want)
			}
			p.Stdin().Close()
			if e := waitDone(t, p); e.Code != 0 {
				t.Errorf("got %v, want exit status 0", e)
			}
		})
	}
}

// fdList lists another process's open descriptors, sorted.
func fdList(t *testing.T, pid int) string {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			t.Fatalf("odd fd name %q", e.Name())
		}
		fds = append(fds, fd)
	}
	slices.Sort(fds)
	s := make([]string, len(fds))
	for i, fd := range fds {
		s[i] = strconv.Itoa(fd)
	}
	return strings.Join(s, " ")
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        Config
		want       Exit
		wantString string
		wantApp    uint32
	}{
		{"zero", childConfig("exit", "0"), Exit{}, "exit status 0", 0},
		{"three", childConfig("exit", "3"), Exit{Code: 3}, "exit status 3", 3},
		{"255", childConfig("exit", "255"), Exit{Code: 255}, "exit status 255", 255},
		{"SIGTERM", Config{Path: "/bin/sh", Args: []string{"-c", "kill -TERM $$"}},
			Exit{Code: -1, Signal: syscall.SIGTERM}, "signal: terminated", 143},
		{"SIGKILL", Config{Path: "/bin/sh", Args: []string{"-c", "kill -KILL $$"}},
			Exit{Code: -1, Signal: syscall.SIGKILL}, "signal: killed", 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, tt.cfg)
			got := waitDone(t, p)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.wantString {
				t.Errorf("got String %q, want %q", s, tt.wantString)
			}
			if a := got.AppStatus(); a != tt.wantApp {
				t.Errorf("got AppStatus %d, want %d", a, tt.wantApp)
			}
		})
	}
}

func TestStderrSeparate(t *testing.T) {
	t.Parallel()
	p := start(t, childConfig("stderr", "oops"))
	if got := readAll(t, p.Stderr()); got != "oops" {
		t.Errorf("got stderr %q, want %q", got, "oops")
	}
	if got := readAll(t, p.Stdout()); got != "" {
		t.Errorf("got stdout %q, want empty", got)
	}
	waitDone(t, p)
}

func TestData(t *testing.T) {
	t.Parallel()
	cfg := childConfig("data")
	cfg.Data = true
	p := start(t, cfg)
	if _, err := io.WriteString(p.Data(), "filter data"); err != nil {
		t.Fatal(err)
	}
	p.Data().Close()
	if got := readAll(t, p.Stdout()); got != "filter data" {
		t.Errorf("got %q on stdout, want the data sent to fd 3", got)
	}
	waitDone(t, p)

	p2 := start(t, childConfig("exit", "0"))
	if p2.Data() != nil {
		t.Errorf("got a Data file without Config.Data, want nil")
	}
	waitDone(t, p2)
}

func TestStdoutDeadline(t *testing.T) {
	t.Parallel()
	p := start(t, childConfig("sleep"))
	if err := p.Stdout().SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatalf("SetReadDeadline: got %v, want nil (a pollable pipe)", err)
	}
	var b [1]byte
	if _, err := p.Stdout().Read(b[:]); !errorsIsDeadline(err) {
		t.Errorf("Read: got %v, want os.ErrDeadlineExceeded", err)
	}
}

func errorsIsDeadline(err error) bool {
	return err != nil && os.IsTimeout(err)
}

func TestCredential(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch user")
	}
	// Through the trampoline, the other user execs our executable by its
	// descriptor, in a /proc/self it no longer owns.
	for _, rlimits := range [][]Rlimit{nil, {{Resource: syscall.RLIMIT_CORE}}} {
		t.Run(fmt.Sprintf("rlimits %v", rlimits), func(t *testing.T) {
			p := start(t, Config{
				Path:       "/bin/cat",
				Args:       []string{"/proc/self/status"},
				Dir:        "/",
				Credential: &syscall.Credential{Uid: 65534, Gid: 65533, Groups: []uint32{65532, 65531}},
				Rlimits:    rlimits,
			})
			checkCredential(t, readAll(t, p.Stdout()))
			if e := waitDone(t, p); e.Code != 0 {
				t.Errorf("got %v, want exit status 0", e)
			}
		})
	}
}

// checkCredential checks /proc/self/status text for TestCredential's ids.
func checkCredential(t *testing.T, status string) {
	t.Helper()
	want := map[string]string{
		"Uid:":    "65534 65534 65534 65534",
		"Gid:":    "65533 65533 65533 65533",
		"Groups:": "65531 65532",
	}
	for _, line := range lines(status) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		w, ok := want[f[0]]
		if !ok {
			continue
		}
		got := f[1:]
		slices.Sort(got) // Groups order is the kernel's
		if strings.Join(got, " ") != w {
			t.Errorf("got %s %q, want %q", f[0], strings.Join(got, " "), w)
		}
		delete(want, f[0])
	}
	if len(want) != 0 {
		t.Errorf("got no lines for %v in /proc/self/status", want)
	}
}
