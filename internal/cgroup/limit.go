package cgroup

import (
	"errors"
	"fmt"
	"strings"
)

// Limit is one --cgroup-limit: a control file of a request cgroup and what
// is written to it before the script starts, e.g. memory.max=256M,
// pids.max=64, cpu.max="50000 100000". The kernel parses the value (memory
// sizes take K, M and G suffixes), and Setup writes every limit once into a
// probe cgroup, so a value the kernel refuses stops start-up rather than
// every request.
type Limit struct {
	Key   string // the control file, "CONTROLLER.NAME"
	Value string
}

var errBadLimit = errors.New("cgroup: bad limit")

// ParseLimit parses KEY=VALUE. KEY names a control file of a controller
// (memory.max, memory.swap.max, memory.high, pids.max, cpu.max,
// cpu.weight, io.max...); the core cgroup.* files are not limits.
func ParseLimit(s string) (Limit, error) {
	key, val, ok := strings.Cut(s, "=")
	if !ok || val == "" {
		return Limit{}, fmt.Errorf("%w %q: want KEY=VALUE, e.g. memory.max=256M", errBadLimit, s)
	}
	ctrl, file, ok := strings.Cut(key, ".")
	if !ok || ctrl == "" || file == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789_.") != "" {
		return Limit{}, fmt.Errorf("%w %q: %q is not a control file name such as memory.max", errBadLimit, s, key)
	}
	if ctrl == "cgroup" {
		return Limit{}, fmt.Errorf("%w %q: cgroup.* files are fcgi-wrap's to manage, not limits", errBadLimit, s)
	}
	if strings.ContainsAny(val, "\n\x00") {
		return Limit{}, fmt.Errorf("%w %q: the value holds a newline or NUL", errBadLimit, s)
	}
	return Limit{Key: key, Value: val}, nil
}

// Controller is the controller the limit's file belongs to: "memory" for
// memory.max.
func (l Limit) Controller() string {
	ctrl, _, _ := strings.Cut(l.Key, ".")
	return ctrl
}

func (l Limit) String() string { return l.Key + "=" + l.Value }
