package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// checkControllers refuses a limit whose controller base cannot hand to
// its children, saying what to change. A limit is never silently ignored:
// a script would then run without the bound the operator asked for.
func checkControllers(h host, base string, limits []Limit) error {
	if len(limits) == 0 {
		return nil
	}
	avail, err := words(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	var problems []error
	for _, l := range limits {
		c := l.Controller()
		if avail[c] {
			continue
		}
		problems = append(problems, fmt.Errorf("--cgroup-limit %s: the %s controller is not enabled for %s (its cgroup.controllers: %s): %s",
			l, c, base, list(avail), remedy(h, base, c)))
	}
	return errors.Join(problems...)
}

// remedy says how to make controller c available to base.
func remedy(h host, base, c string) string {
	if v1Controllers(h.procCgroup)[c] {
		return fmt.Sprintf("on this host the %s controller belongs to a cgroup v1 hierarchy, which cgroup v2 cannot share; "+
			"boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=%s) to give it to cgroup v2", c, c)
	}
	root, _ := words(filepath.Join(h.mount.point, "cgroup.controllers"))
	if !root[c] {
		return fmt.Sprintf("the kernel offers no %s controller (it is not in %s)", c, filepath.Join(h.mount.point, "cgroup.controllers"))
	}
	parent := filepath.Dir(base)
	if pa, _ := words(filepath.Join(parent, "cgroup.controllers")); pa[c] || parent == h.mount.point {
		return fmt.Sprintf("run fcgi-wrap under systemd with Delegate=yes (or Delegate=%s) in its unit, "+
			"or enable it for this directory as root: echo +%s > %s", c, c, filepath.Join(parent, "cgroup.subtree_control"))
	}
	return fmt.Sprintf("run fcgi-wrap under systemd with Delegate=yes (or Delegate=%s) in its unit, "+
		"or enable it as root in cgroup.subtree_control of every directory from %s down to %s", c, h.mount.point, parent)
}

// busyRemedy explains a failure to enable controller c in base's
// cgroup.subtree_control, usually EBUSY: base still holds processes other
// than fcgi-wrap, and cgroup v2 gives controllers to the children of a
// cgroup only while it holds none.
func busyRemedy(h host, base, c string, err error) error {
	if !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("cgroup: enabling the %s controller in %s: %w", c, filepath.Join(base, "cgroup.subtree_control"), err)
	}
	others := "other processes"
	if b, rerr := os.ReadFile(filepath.Join(base, "cgroup.procs")); rerr == nil {
		others = "processes " + strings.Join(strings.Fields(string(b)), " ")
	}
	return fmt.Errorf("cgroup: cannot enable the %s controller for the scripts: %s also holds %s, and cgroup v2 lets only a cgroup "+
		"without processes share controllers with its children; run fcgi-wrap in a cgroup of its own (systemd Delegate=yes) "+
		"or give --cgroup a directory that holds no process (%w)", c, base, others, err)
}

func list(set map[string]bool) string {
	if len(set) == 0 {
		return "none"
	}
	var names []string
	for k := range set {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// Check is Setup without changing anything, for `fcgi-wrap check`: it
// fails where Setup would fail (a --cgroup DIR that is not a cgroup2
// directory, a limit whose controller is not available) and says why.
func Check(opts Options) error {
	mode := opts.Mode
	switch {
	case mode == "" || mode == "auto":
		mode = "auto"
	case mode == "off":
		if len(opts.Limits) > 0 {
			return errors.New("--cgroup-limit needs cgroups, but --cgroup is off")
		}
		return nil
	}
	h, base, err := findBase(mode)
	if err == nil {
		err = checkKernel()
	}
	if err != nil {
		_, _, err = fallBack(mode, opts, err)
		return err
	}
	return checkControllers(h, base, opts.Limits)
}
