package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mount is where the cgroup2 hierarchy is mounted, as mountinfo(5) says.
type mount struct {
	point    string // the mount point, e.g. /sys/fs/cgroup/unified
	root     string // the hierarchy's path mounted there; "/" unless bind-mounted
	readOnly bool
}

// errNoCgroup2 means there is no cgroup2 mount in our mount namespace.
var errNoCgroup2 = errors.New("cgroup: no cgroup2 file system is mounted")

// findMount returns the first cgroup2 mount in a mountinfo(5) listing.
// Each line is "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE
// SOURCE SUPEROPTIONS"; the optional fields end at the lone "-".
func findMount(mountinfo []byte) (mount, error) {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		ro := false
		for _, opt := range strings.Split(f[5], ",") {
			ro = ro || opt == "ro"
		}
		return mount{point: unescape(f[4]), root: unescape(f[3]), readOnly: ro}, nil
	}
	if err := sc.Err(); err != nil {
		return mount{}, fmt.Errorf("cgroup: reading mountinfo: %w", err)
	}
	return mount{}, errNoCgroup2
}

// unescape undoes mountinfo's octal escapes (\040 for a space, \011, \012,
// \134 for a backslash).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownPath returns this process's cgroup v2 path from a /proc/self/cgroup
// listing: the "0::PATH" line. Hybrid hosts list v1 hierarchies too.
func ownPath(procCgroup []byte) (string, error) {
	for _, line := range strings.Split(string(procCgroup), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("cgroup: this process is in no cgroup v2 (/proc/self/cgroup has no 0:: line)")
}

// dirOf is the directory under m where the hierarchy's path p appears, or
// an error when p lies outside what m shows (a cgroup namespace or a bind
// mount of another part of the tree).
func (m mount) dirOf(p string) (string, error) {
	rel, err := filepath.Rel(m.root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("cgroup: our cgroup %s is not visible under the cgroup2 mount %s (which shows %s)", p, m.point, m.root)
	}
	return filepath.Join(m.point, rel), nil
}

// v1Controllers lists the controllers that cgroup v1 hierarchies hold, from
// /proc/self/cgroup: on a hybrid host these are unavailable to cgroup v2.
func v1Controllers(procCgroup []byte) map[string]bool {
	held := map[string]bool{}
	for _, line := range strings.Split(string(procCgroup), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[0] == "0" {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c != "" && !strings.HasPrefix(c, "name=") {
				held[c] = true
			}
		}
	}
	return held
}

// host is what Setup learns of the machine before deciding anything.
type host struct {
	mount      mount
	own        string // our cgroup's directory under mount.point
	procCgroup []byte
}

// lookHost reads /proc/self/mountinfo and /proc/self/cgroup.
func lookHost() (host, error) {
	var h host
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return h, fmt.Errorf("cgroup: %w", err)
	}
	if h.mount, err = findMount(mi); err != nil {
		return h, err
	}
	if h.procCgroup, err = os.ReadFile("/proc/self/cgroup"); err != nil {
		return h, fmt.Errorf("cgroup: %w", err)
	}
	p, err := ownPath(h.procCgroup)
	if err != nil {
		return h, err
	}
	h.own, err = h.mount.dirOf(p)
	return h, err
}
