package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine is what the results depend on besides the code: they are only
// comparable between runs on the same kind of machine.
type machine struct {
	Date     time.Time
	CPU      string
	CPUs     int
	MemTotal string
	Kernel   string
	Go       string
	Commit   string
	Fcgiwrap string
	Nginx    string
	Wrk      string
}

func probeMachine(repo, rev, fwBin, fcgiwrapBin string) machine {
	m := machine{
		Date:   time.Now(),
		CPUs:   runtime.NumCPU(),
		Go:     runtime.Version(),
		Kernel: strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64); err == nil {
		m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	switch {
	case fwBin != "":
		m.Commit = "binary " + fwBin
	case rev != "":
		m.Commit = "commit " + firstLine(commandOutput("git", "-C", repo, "rev-parse", "--short", rev))
	default:
		m.Commit = "commit " + firstLine(commandOutput("git", "-C", repo, "rev-parse", "--short", "HEAD"))
		// The harness's own edits do not change what is measured.
		if firstLine(commandOutput("git", "-C", repo, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench")) != "" {
			m.Commit += " (working tree, with uncommitted changes)"
		}
	}
	for _, l := range strings.Split(commandOutput(fcgiwrapBin, "-h"), "\n") {
		if strings.HasPrefix(l, "fcgiwrap version") {
			m.Fcgiwrap = strings.TrimPrefix(l, "fcgiwrap version ")
		}
	}
	m.Nginx = strings.TrimPrefix(firstLine(commandOutput("nginx", "-v")), "nginx version: ")
	m.Wrk = wrkVersion(commandOutput("wrk", "--version"))
	return m
}

// wrkVersion takes the version from `wrk --version` ("wrk 4.1.0 [epoll]
// ..."); "" when wrk is missing or says something else.
func wrkVersion(out string) string {
	if f := strings.Fields(firstLine(out)); len(f) >= 2 && f[0] == "wrk" {
		return f[1]
	}
	return ""
}

func (m machine) rows() [][2]string {
	return [][2]string{
		{"CPU", fmt.Sprintf("%s, %d logical CPUs", orUnknown(m.CPU), m.CPUs)},
		{"memory", orUnknown(m.MemTotal)},
		{"kernel", "Linux " + orUnknown(m.Kernel)},
		{"Go", m.Go},
		{"fcgi-wrap", orUnknown(m.Commit)},
		{"fcgiwrap", orUnknown(m.Fcgiwrap)},
		{"nginx, wrk", orUnknown(m.Nginx) + ", " + orUnknown(m.Wrk)},
	}
}

// label is the machine in a few words, to stand beside every figure,
// e.g. "AMD EPYC, 2 CPUs, Linux 6.18.44"; the machine table has the rest.
func (m machine) label() string {
	kernel, _, _ := strings.Cut(m.Kernel, "-")
	return fmt.Sprintf("%s, %d CPUs, Linux %s", compactCPU(m.CPU), m.CPUs, orUnknown(kernel))
}

// compactCPU drops from a CPU model name what tells machines apart least:
// trademarks, the word CPU or Processor, the core count and the clock,
// e.g. "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz" becomes "Intel
// Xeon Platinum 8375C".
func compactCPU(model string) string {
	model, _, _ = strings.Cut(model, " @ ")
	model = strings.NewReplacer("(R)", "", "(r)", "", "(TM)", "", "(tm)", "").Replace(model)
	var kept []string
	for _, w := range strings.Fields(model) {
		if w == "CPU" || w == "Processor" || strings.HasSuffix(w, "-Core") {
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		return "unknown CPU"
	}
	return strings.Join(kept, " ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// procField is the value of the first "key: value" line with this key.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// commandOutput is stdout and stderr of a version probe; tools print their
// versions on either, and a missing tool just leaves the field unknown.
func commandOutput(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	return string(out)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l)
}
