package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options say what Setup is to build.
type Options struct {
	// Mode is --cgroup: "auto" (or ""), "off", or the absolute path of a
	// cgroup2 directory to create the tree under.
	Mode string
	// Limits are written into every request cgroup; nil writes none.
	Limits []Limit
	// Fresh makes and removes a cgroup for every request instead of
	// reusing empty ones (pool_linux.go); for measuring what reuse saves.
	// false: reuse, unless the memory controller is on.
	Fresh bool
	// Owner, if set, is the user fcgi-wrap runs as once it drops its
	// privileges: the parts of the tree it still writes to then are given
	// to it, as systemd does for a unit with Delegate=yes. nil: fcgi-wrap
	// keeps the identity it has.
	Owner *Owner
}

// Owner is a uid and gid to give files to.
type Owner struct{ UID, GID int }

// Tree is this instance's cgroup tree, ready to make request cgroups.
type Tree struct {
	base       string // the delegated directory: our own cgroup, or --cgroup DIR
	dir        string // base/fcgi-wrap.PID
	scripts    string // dir/scripts
	origin     string // where fcgi-wrap was before it moved into dir/supervisor
	scriptsFD  int
	limits     []Limit
	memory     bool     // the memory controller is enabled for request cgroups
	controller []string // the controllers enabled for request cgroups
	stale      []string // trees of instances that were gone, removed by Setup
	seq        atomic.Uint64

	mu       sync.Mutex
	reusable atomic.Bool  // empty request cgroups are kept for reuse (pool_linux.go)
	idle     []idleCgroup // kept for reuse, the last kept last
	closed   bool         // Close has begun: keep nothing more
}

// Setup builds the tree as Options ask. It returns a nil Tree and why
// (for the start-up log) when cgroups are off, or when --cgroup auto finds
// them unusable and no limit needs them; an error when --cgroup DIR or a
// limit cannot be had, with what to change.
func Setup(opts Options) (*Tree, string, error) {
	mode := opts.Mode
	if mode == "" {
		mode = "auto"
	}
	if mode == "off" {
		if len(opts.Limits) > 0 {
			return nil, "", errors.New("--cgroup-limit needs cgroups, but --cgroup is off")
		}
		return nil, "--cgroup off", nil
	}
	h, base, err := findBase(mode)
	if err == nil {
		err = checkKernel()
	}
	if err != nil {
		return fallBack(mode, opts, err)
	}
	if err := checkControllers(h, base, opts.Limits); err != nil {
		return nil, "", err
	}
	stale := cleanStale(base, os.Getpid())
	t, err := build(h, base, opts)
	if err != nil {
		if mode == "auto" && isPermission(err) {
			return fallBack(mode, opts, fmt.Errorf("cgroup %s is not writable: %w", base, err))
		}
		return nil, "", err
	}
	t.stale = stale
	why := "--cgroup " + base
	if mode == "auto" {
		why = "fcgi-wrap's own cgroup " + base + " is writable"
	}
	return t, why, nil
}

// fallBack is what --cgroup auto does without usable cgroups: process
// groups, unless a limit needs a cgroup.
func fallBack(mode string, opts Options, err error) (*Tree, string, error) {
	if mode != "auto" {
		return nil, "", fmt.Errorf("--cgroup %s: %w", mode, err)
	}
	if len(opts.Limits) > 0 {
		return nil, "", fmt.Errorf("--cgroup-limit needs cgroups, but: %w", err)
	}
	return nil, err.Error(), nil
}

// findBase is the delegated directory: our own cgroup, or DIR.
func findBase(mode string) (host, string, error) {
	h, err := lookHost()
	if err != nil {
		return h, "", err
	}
	if h.mount.readOnly {
		return h, "", fmt.Errorf("cgroup: the cgroup2 file system at %s is mounted read-only", h.mount.point)
	}
	if mode == "auto" {
		return h, ownBase(h.own), nil
	}
	dir := filepath.Clean(mode)
	if !filepath.IsAbs(dir) {
		return h, "", fmt.Errorf("cgroup: %q is not auto, off or an absolute directory", mode)
	}
	if rel, err := filepath.Rel(h.mount.point, dir); err != nil || strings.HasPrefix(rel, "..") {
		return h, "", fmt.Errorf("cgroup: %s is not under the cgroup2 mount %s", dir, h.mount.point)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return h, "", fmt.Errorf("cgroup: %s is not a cgroup2 directory: %w", dir, err)
	}
	return h, dir, nil
}

// ownBase is the directory --cgroup auto works under: our own cgroup, or,
// for a fcgi-wrap started by another one (an upgrade) and so still in that
// one's supervisor leaf, the directory that one worked under.
func ownBase(own string) string {
	if filepath.Base(own) == "supervisor" && strings.HasPrefix(filepath.Base(filepath.Dir(own)), instancePrefix) {
		return filepath.Dir(filepath.Dir(own))
	}
	return own
}

// checkKernel refuses a kernel (or a seccomp filter) without clone3, which
// starting a script inside its cgroup needs (Linux 5.7). cgroup.kill
// (5.14) is looked for in the probe cgroup. clone3 with no arguments is
// refused with EINVAL where it exists; a filter that hides it says ENOSYS.
func checkKernel() error {
	_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	if e == unix.ENOSYS || e == unix.EPERM {
		return fmt.Errorf("cgroup: clone3 is not available (%v): Linux 5.7 or later, without a seccomp filter that blocks it, is needed to start scripts inside a cgroup", e)
	}
	return nil
}

func isPermission(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS)
}

// build creates the instance, moves fcgi-wrap into its supervisor leaf,
// enables the controllers, and tries the limits on a probe cgroup.
func build(h host, base string, opts Options) (t *Tree, err error) {
	t = newTree(h, base, opts)
	if err := os.Mkdir(t.dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: creating this instance's cgroup: %w", err)
	}
	defer func() {
		if err != nil {
			t.undo()
		}
	}()
	if err := os.Mkdir(filepath.Join(t.dir, "supervisor"), 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if err := writeFile(filepath.Join(t.dir, "supervisor", "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
		return nil, fmt.Errorf("cgroup: moving fcgi-wrap into its own leaf: %w", err)
	}
	if err := t.enable(h, base, opts); err != nil {
		return nil, err
	}
	if err := t.probe(); err != nil {
		return nil, err
	}
	if opts.Owner != nil {
		if err := t.chown(*opts.Owner); err != nil {
			return nil, err
		}
	}
	if t.scriptsFD, err = openDir(t.scripts); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	return t, nil
}

// newTree is the tree Setup builds under base, not yet created.
func newTree(h host, base string, opts Options) *Tree {
	dir := filepath.Join(base, instancePrefix+strconv.Itoa(os.Getpid()))
	// Started in another instance's leaf (an upgrade), fcgi-wrap returns
	// to that instance's directory: the leaf goes when that instance does.
	origin := ownBase(h.own)
	return &Tree{base: base, dir: dir, scripts: filepath.Join(dir, "scripts"), origin: origin, scriptsFD: -1, limits: opts.Limits}
}

// instancePrefix starts the name of every instance directory; the rest is
// the pid of the fcgi-wrap that made it.
const instancePrefix = "fcgi-wrap."

// enable turns on, from base down to scripts, the controllers the limits
// need and the memory controller where it is available (for memory.peak).
// cgroup v2 gives a cgroup's children only what its cgroup.subtree_control
// lists, and lets a cgroup other than the root list controllers only while
// it holds no process.
func (t *Tree) enable(h host, base string, opts Options) error {
	avail, err := words(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	var want []string
	for _, l := range opts.Limits {
		if !slices.Contains(want, l.Controller()) {
			want = append(want, l.Controller())
		}
	}
	needed := slices.Clone(want)
	if avail["memory"] && !slices.Contains(want, "memory") {
		want = append(want, "memory")
	}
	for _, c := range want {
		err := enableIn(base, c)
		if err != nil && slices.Contains(needed, c) {
			return busyRemedy(h, base, c, err)
		}
		if err == nil {
			t.controller = append(t.controller, c)
		}
	}
	if err := os.Mkdir(t.scripts, 0o755); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	for _, dir := range []string{t.dir, t.scripts} {
		for _, c := range t.controller {
			if err := enableIn(dir, c); err != nil {
				return fmt.Errorf("cgroup: enabling %s in %s: %w", c, dir, err)
			}
		}
	}
	t.memory = slices.Contains(t.controller, "memory")
	t.reusable.Store(!t.memory && !opts.Fresh)
	return nil
}

// enableIn lists controller c in dir's cgroup.subtree_control, unless it
// is there already (writing it again would fail in a cgroup that holds
// processes, such as a shell's, even though nothing changes).
func enableIn(dir, c string) error {
	on, err := words(filepath.Join(dir, "cgroup.subtree_control"))
	if err == nil && on[c] {
		return nil
	}
	return writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+c)
}

// probe writes every limit into a throw-away request cgroup, so that a
// value or file the kernel refuses fails start-up, not each request, and
// checks that the kernel has cgroup.kill.
func (t *Tree) probe() error {
	dir := filepath.Join(t.scripts, "probe")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	defer os.Remove(dir)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		return fmt.Errorf("cgroup: this kernel has no cgroup.kill (Linux 5.14 or later is needed): %w", err)
	}
	for _, l := range t.limits {
		if err := writeFile(filepath.Join(dir, l.Key), l.Value); err != nil {
			return fmt.Errorf("--cgroup-limit %s: the kernel refused it: %w", l, err)
		}
	}
	return nil
}

// chown gives the user fcgi-wrap will run as what it writes to after the
// drop: the instance's cgroup.procs (starting a script into a cgroup needs
// write access to the common ancestor's, which is the instance), the
// scripts directory (to create and remove request cgroups) and its
// cgroup.kill (for the guard, and the kill of everything at shutdown).
func (t *Tree) chown(o Owner) error {
	for _, p := range []string{
		t.dir, filepath.Join(t.dir, "cgroup.procs"),
		t.scripts, filepath.Join(t.scripts, "cgroup.kill"),
	} {
		if err := os.Lchown(p, o.UID, o.GID); err != nil {
			return fmt.Errorf("cgroup: giving the tree to uid %d: %w", o.UID, err)
		}
	}
	return nil
}

// undo takes back a half-built tree.
func (t *Tree) undo() {
	t.leave()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	RemoveTree(ctx, t.dir)
}

// leave moves fcgi-wrap back where it came from, so its leaf can go.
func (t *Tree) leave() error {
	if t.origin == "" {
		return errors.New("cgroup: fcgi-wrap's original cgroup is unknown")
	}
	return writeFile(filepath.Join(t.origin, "cgroup.procs"), strconv.Itoa(os.Getpid()))
}
