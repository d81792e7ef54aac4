package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// memStatus is a process's resident memory from /proc/PID/status: VmRSS
// now, and VmHWM, its peak since it started. Both in bytes.
type memStatus struct {
	RSS, HWM int64
	// Anon is the part of RSS that is the process's own memory (for a Go
	// program: heap, stacks, runtime metadata), as against pages of its
	// binary and libraries, which GOGC or GOMEMLIMIT cannot shrink.
	// Zero on kernels without RssAnon.
	Anon int64
	// For a group: how many processes were summed, and the RSS and peak
	// of the group leader alone (the rest is helpers: fcgi-wrap's group
	// guard, fcgiwrap's preforked workers).
	Procs                      int
	LeadRSS, LeadHWM, LeadAnon int64
}

func readMem(pid int) (memStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	defer f.Close()
	return parseMem(f.Name(), bufio.NewScanner(f))
}

func parseMem(name string, sc *bufio.Scanner) (memStatus, error) {
	var m memStatus
	var seen int
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM" && key != "RssAnon") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return m, fmt.Errorf("%s: %s: %v", name, key, err)
		}
		switch key {
		case "VmRSS":
			m.RSS = kb << 10
			seen++
		case "VmHWM":
			m.HWM = kb << 10
			seen++
		case "RssAnon":
			m.Anon = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if seen != 2 {
		return m, fmt.Errorf("%s: no VmRSS and VmHWM", name)
	}
	return m, nil
}

// daemonMem is a daemon's memory: the sum over the daemon and its
// helpers (see family). fcgiwrap has a parent and preforked workers
// running its own binary; fcgi-wrap has one helper, its guard (awk, or sh
// with cgroups), in its own process group. All of them live as long as
// the daemon, so the sum of their peaks is on record at the end. Scripts
// run other binaries and are nobody's overhead.
func daemonMem(srv *server) (memStatus, error) {
	return familyMem(srv.proc.pid(), srv.comms...)
}

func familyMem(pid int, comms ...string) (memStatus, error) {
	var total memStatus
	for _, p := range family(procRoot, pid, comms) {
		m, err := readMem(p)
		if err != nil {
			continue // exited meanwhile
		}
		total.RSS += m.RSS
		total.HWM += m.HWM
		total.Anon += m.Anon
		total.Procs++
		if p == pid {
			total.LeadRSS, total.LeadHWM, total.LeadAnon = m.RSS, m.HWM, m.Anon
		}
	}
	if total.Procs == 0 {
		return total, fmt.Errorf("bench: process %d not found", pid)
	}
	return total, nil
}

// procStat is what the harness reads from /proc/PID/stat.
type procStat struct {
	comm string
	ppid int
}

// parseStat reads /proc/PID/stat. The command name may hold spaces and
// parentheses, so it runs from the first '(' to the last ')', and the
// numbered fields count from there: state is the 3rd, ppid the 4th.
func parseStat(b []byte) (procStat, bool) {
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return procStat{}, false
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < 2 {
		return procStat{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, false
	}
	return procStat{comm: string(b[i+1 : j]), ppid: ppid}, true
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
