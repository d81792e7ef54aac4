package spawner

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestParseRlimit(t *testing.T) {
	tests := []struct {
		in   string
		want Rlimit
	}{
		{"nofile=1024", Rlimit{syscall.RLIMIT_NOFILE, 1024, 1024}},
		{"nproc=64:128", Rlimit{rlimitNproc, 64, 128}},
		{"as=512M", Rlimit{syscall.RLIMIT_AS, 512 << 20, 512 << 20}},
		{"as=512m:1g", Rlimit{syscall.RLIMIT_AS, 512 << 20, 1 << 30}},
		{"cpu=10", Rlimit{syscall.RLIMIT_CPU, 10, 10}},
		{"fsize=1G", Rlimit{syscall.RLIMIT_FSIZE, 1 << 30, 1 << 30}},
		{"fsize=64K:unlimited", Rlimit{syscall.RLIMIT_FSIZE, 64 << 10, Unlimited}},
		{"core=0", Rlimit{syscall.RLIMIT_CORE, 0, 0}},
		{"core=unlimited", Rlimit{syscall.RLIMIT_CORE, Unlimited, Unlimited}},
		{"nofile=18446744073709551615", Rlimit{syscall.RLIMIT_NOFILE, Unlimited, Unlimited}},
		{"as=17179869183G", Rlimit{syscall.RLIMIT_AS, 17179869183 << 30, 17179869183 << 30}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRlimit(tt.in)
			if err != nil {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseRlimitErrors(t *testing.T) {
	tests := []struct {
		in, wantMsg string
	}{
		{"", "want name=value"},
		{"nofile", "want name=value"},
		{"stack=10", `unknown resource "stack"`},
		{"NOFILE=10", `unknown resource "NOFILE"`},
		{"nofile=", "not a number"},
		{"nofile=-1", "not a number"},
		{"nofile=+1", "not a number"},
		{"nofile=0x10", "not a number"},
		{"nofile= 10", "not a number"},
		{"nofile=1K", "not a number"}, // suffixes only for byte limits
		{"cpu=1G", "not a number"},
		{"as=1T", "not a number"},
		{"as=K", "not a number"},
		{"nofile=10:", "not a number"},
		{"nofile=:10", "not a number"},
		{"nofile=1:2:3", "not a number"},
		{"nofile=18446744073709551616", "too large"},
		{"as=17179869184G", "too large"},
		{"nofile=20:10", "soft limit above hard limit"},
		{"nofile=unlimited:10", "soft limit above hard limit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRlimit(tt.in)
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if !errors.Is(err, errBadRlimit) {
				t.Errorf("got %v, want it to wrap errBadRlimit", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got %q, want it to say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestRlimitString(t *testing.T) {
	tests := []struct {
		in   Rlimit
		want string
	}{
		{Rlimit{syscall.RLIMIT_NOFILE, 1024, 1024}, "nofile=1024"},
		{Rlimit{rlimitNproc, 64, 128}, "nproc=64:128"},
		{Rlimit{syscall.RLIMIT_AS, 512 << 20, Unlimited}, "as=536870912:unlimited"},
		{Rlimit{syscall.RLIMIT_STACK, 1, 2}, "rlimit3=1:2"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseRlimit(f *testing.F) {
	for _, s := range []string{"nofile=1024", "nproc=64:128", "as=512M", "cpu=10", "fsize=1G",
		"core=0", "as=unlimited", "nofile=20:10", "as=17179869184G", "x=", "=:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRlimit(s)
		if err != nil {
			return
		}
		if r.Cur > r.Max {
			t.Fatalf("%q: got soft %d above hard %d", s, r.Cur, r.Max)
		}
		again, err := ParseRlimit(r.String())
		if err != nil || again != r {
			t.Fatalf("%q: String %q parses to %+v, %v; want %+v", s, r.String(), again, err, r)
		}
	})
}

// limitNames are the row names of /proc/<pid>/limits.
var limitNames = map[int]string{
	syscall.RLIMIT_CPU:    "Max cpu time",
	syscall.RLIMIT_FSIZE:  "Max file size",
	syscall.RLIMIT_CORE:   "Max core file size",
	rlimitNproc:           "Max processes",
	syscall.RLIMIT_NOFILE: "Max open files",
	syscall.RLIMIT_AS:     "Max address space",
}

// parseLimits reads soft and hard limits out of /proc/<pid>/limits text.
func parseLimits(t *testing.T, text string) map[int][2]uint64 {
	t.Helper()
	got := map[int][2]uint64{}
	for _, line := range lines(text) {
		for res, name := range limitNames {
			rest, ok := strings.CutPrefix(line, name+" ")
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			var v [2]uint64
			for i := range v {
				if f[i] == "unlimited" {
					v[i] = Unlimited
				} else if v[i], ok = parseUint(f[i]); !ok {
					t.Fatalf("bad limits line %q", line)
				}
			}
			got[res] = v
		}
	}
	return got
}

func parseUint(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func TestRlimitsApplied(t *testing.T) {
	t.Parallel()
	var limits []Rlimit
	for _, s := range []string{"nofile=100:200", "nproc=500:600", "as=4G:unlimited", "cpu=100:200", "fsize=1G:2G", "core=0"} {
		r, err := ParseRlimit(s)
		if err != nil {
			t.Fatal(err)
		}
		limits = append(limits, r)
	}
	before, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, Config{
		Path: "/bin/sh",
		// No handshake: the limits must be in force from the first
		// instruction (the trampoline sets them before the exec).
		Args:    []string{"-c", "exec cat /proc/self/limits"},
		Rlimits: limits,
	})
	got := parseLimits(t, readAll(t, p.Stdout()))
	for _, r := range limits {
		if want := [2]uint64{r.Cur, r.Max}; got[r.Resource] != want {
			t.Errorf("%s: got soft/hard %v, want %v", limitNames[r.Resource], got[r.Resource], want)
		}
	}
	if e := waitDone(t, p); e.Code != 0 {
		t.Errorf("got %v, want exit status 0", e)
	}
	after, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("got our own limits changed to\n%s\nwant\n%s", after, before)
	}
}

// TestRlimitFailureKillsChild checks limits fail closed: a limit that
// cannot be set means the program never runs unlimited.
// Not parallel: it looks for any child of ours.
func TestRlimitFailureKillsChild(t *testing.T) {
	bad := Rlimit{Resource: 999, Cur: 1, Max: 1}
	p, err := Start(context.Background(), Config{Path: "/bin/cat", Rlimits: []Rlimit{bad}})
	if err == nil {
		p.Close()
		t.Fatal("got a process, want an error")
	}
	if !errors.Is(err, errBadRlimit) {
		t.Errorf("got %v, want errBadRlimit", err)
	}
	if kids := childPids(); len(kids) != 0 {
		t.Errorf("got children %v left, want none", kids)
	}

	// A limit the kernel refuses (raising the hard limit needs privilege;
	// as root, an impossible file limit) stops at the trampoline.
	refused := Rlimit{Resource: syscall.RLIMIT_NOFILE, Cur: 1 << 40, Max: 1 << 40}
	p, err = Start(context.Background(), Config{Path: "/bin/echo", Args: []string{"ran"}, Rlimits: []Rlimit{refused}})
	if err != nil {
		t.Fatal(err)
	}
	out := readAll(t, p.Stdout())
	stderr := readAll(t, p.Stderr())
	if e := waitDone(t, p); e.Code != 126 || out != "" || !strings.Contains(stderr, "setrlimit") {
		t.Errorf("got %v, stdout %q, stderr %q; want exit 126, no output, a setrlimit error", e, out, stderr)
	}

	_, err = Start(context.Background(), Config{Path: "/bin/cat", Rlimits: []Rlimit{{syscall.RLIMIT_NOFILE, 2, 1}}})
	if !errors.Is(err, errBadRlimit) {
		t.Errorf("soft above hard: got %v, want errBadRlimit before starting", err)
	}
}
