package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestParseMem(t *testing.T) {
	status := "Name:\tfcgi-wrap\nVmPeak:\t 1938068 kB\nVmHWM:\t   15360 kB\nVmRSS:\t   12032 kB\nRssAnon:\t    6144 kB\nRssFile:\t    5888 kB\nThreads:\t7\n"
	got, err := parseMem("status", bufio.NewScanner(strings.NewReader(status)))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := memStatus{RSS: 12032 << 10, HWM: 15360 << 10, Anon: 6144 << 10}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// A kernel thread has neither line.
	if _, err := parseMem("status", bufio.NewScanner(strings.NewReader("Name:\tkthreadd\n"))); err == nil {
		t.Error("got nil error for a status without VmRSS, want one")
	}
}

func TestParseStat(t *testing.T) {
	const rest = " 5 0 -1 4194560 1000 0 0 0 250 37 0 0 20 0 1 0 123 456" // session onwards
	tests := []struct {
		name   string
		stat   string
		want   procStat
		wantOK bool
	}{
		{"plain", "20685 (fcgiwrap) S 19615 20685" + rest,
			procStat{comm: "fcgiwrap", ppid: 19615}, true},
		{"name with spaces and parentheses", "7 (a) b (c)) S 1 42" + rest,
			procStat{comm: "a) b (c)", ppid: 1}, true},
		{"truncated", "7 (x) S", procStat{}, false},
		{"ppid not a number", "7 (x) S y 7", procStat{}, false},
		{"garbage", "nonsense", procStat{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseStat([]byte(tt.stat))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFamilyMemSelf(t *testing.T) {
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip(err)
	}
	m, err := familyMem(os.Getpid(), strings.TrimSpace(string(comm)), "awk")
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if m.Procs < 1 || m.LeadRSS <= 0 || m.RSS < m.LeadRSS {
		t.Errorf("got %+v, want this process counted as the leader", m)
	}
}

func TestReadMemSelf(t *testing.T) {
	m, err := readMem(os.Getpid())
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("got RSS %d, HWM %d; want 0 < RSS <= HWM", m.RSS, m.HWM)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("20685 (fcgiwrap) S 19615 20685 20685 0 -1 4194560 1000 0 0 0 250 37 0 0"))
	f.Add([]byte("1 ()) R 0 0"))
	f.Add([]byte(")("))
	f.Add([]byte("(0)0 0 -1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, ok := parseStat(b)
		if ok && !strings.Contains(string(b), "("+st.comm+")") {
			t.Errorf("got comm %q, not parenthesised in %q", st.comm, b)
		}
		if !ok && st != (procStat{}) {
			t.Errorf("got %+v with ok false, want the zero value", st)
		}
	})
}
