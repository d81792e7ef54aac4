package cgroup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// Dir is the instance's directory, BASE/fcgi-wrap.PID.
func (t *Tree) Dir() string { return t.dir }

// Scripts is the directory that holds every request cgroup.
func (t *Tree) Scripts() string { return t.scripts }

// KillFile is the control file that kills every script at once: what the
// guard writes to when fcgi-wrap is gone.
func (t *Tree) KillFile() string { return filepath.Join(t.scripts, "cgroup.kill") }

// Controllers are the controllers request cgroups have.
func (t *Tree) Controllers() []string { return slices.Clone(t.controller) }

// Removed lists the trees of instances that are gone (killed with their
// guard) that Setup killed and removed.
func (t *Tree) Removed() []string { return slices.Clone(t.stale) }

// KillAll kills every script of this instance, whatever request it
// belongs to.
func (t *Tree) KillAll() error { return writeFile(t.KillFile(), "1") }

// Close kills what is left of the scripts, removes their cgroups, moves
// fcgi-wrap back to the cgroup it came from and removes the instance. A
// fcgi-wrap that gave up root usually may not move back (that needs
// write access to the original cgroup's parent): the empty instance then
// stays until the next start on the same directory removes it, and Close
// reports why.
func (t *Tree) Close(ctx context.Context) error {
	t.closeIdle()
	t.KillAll()
	var errs []error
	ents, _ := os.ReadDir(t.scripts)
	for _, e := range ents {
		if e.IsDir() {
			errs = append(errs, RemoveTree(ctx, filepath.Join(t.scripts, e.Name())))
		}
	}
	unix.Close(t.scriptsFD)
	errs = append(errs, os.Remove(t.scripts))
	if err := t.leave(); err != nil {
		errs = append(errs, err)
		return errors.Join(errs...)
	}
	errs = append(errs, os.Remove(filepath.Join(t.dir, "supervisor")), os.Remove(t.dir))
	return errors.Join(errs...)
}

// OwnDir is the directory --cgroup auto would work under: this process's
// cgroup v2 directory, as the cgroup2 mount shows it.
func OwnDir() (string, error) {
	h, _, err := findBase("auto")
	if err != nil {
		return "", err
	}
	return ownBase(h.own), nil
}
