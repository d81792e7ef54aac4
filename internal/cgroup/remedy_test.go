package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemedy: a limit whose controller is not available says what to
// change, for each reason it can be missing. The hierarchy is a fake one
// of plain files, so this runs on every machine.
func TestRemedy(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"cgroup.controllers":       "cpu memory pids",
		"a/cgroup.controllers":     "cpu",
		"a/b/cgroup.controllers":   "cpu",
		"a/b/c/cgroup.controllers": "",
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unified := "0::/a/b\n"
	hybrid := "4:memory:/\n0::/a/b\n"
	tests := []struct {
		name, procCgroup, base, limit string
		want                          []string
	}{
		{"parent offers it", unified, "a", "memory.max=1G",
			[]string{"--cgroup-limit memory.max=1G: the memory controller is not enabled for " + root + "/a (its cgroup.controllers: cpu)",
				"Delegate=yes (or Delegate=memory)", "echo +memory > " + root + "/cgroup.subtree_control"}},
		{"an ancestor must offer it", unified, "a/b", "pids.max=10",
			[]string{"the pids controller is not enabled for " + root + "/a/b", "from " + root + " down to " + root + "/a"}},
		{"a v1 hierarchy holds it", hybrid, "a/b", "memory.max=1G",
			[]string{"belongs to a cgroup v1 hierarchy", "systemd.unified_cgroup_hierarchy=1"}},
		{"the kernel has none", unified, "a/b/c", "io.max=8:0 rbps=1",
			[]string{"(its cgroup.controllers: none)", "the kernel offers no io controller"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := host{mount: mount{point: root, root: "/"}, procCgroup: []byte(tt.procCgroup)}
			l, err := ParseLimit(tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			err = checkControllers(h, filepath.Join(root, tt.base), []Limit{l})
			if err == nil {
				t.Fatal("got no error, want the controller refused")
			}
			for _, part := range tt.want {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("got %q, want it to contain %q", err, part)
				}
			}
		})
	}
	h := host{mount: mount{point: root, root: "/"}, procCgroup: []byte(unified)}
	if err := checkControllers(h, filepath.Join(root, "a"), []Limit{{Key: "cpu.max", Value: "max"}}); err != nil {
		t.Errorf("an available controller: got %v, want nil", err)
	}
}
