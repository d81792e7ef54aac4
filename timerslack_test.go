package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The re-exec must run the binary by the name it was started with: the
// kernel names the process after that file, and ps, top and pgrep show it.
func TestOwnPathKeepsTheNameStartedBy(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	alias := filepath.Join(dir, "fw-alias")
	if err := os.Symlink(self, alias); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	defer func(args0 string) { os.Args[0] = args0 }(os.Args[0])

	os.Args[0] = "fw-alias"
	if got := ownPath(); got != alias {
		t.Errorf("started as %q via PATH: got %q, want %q", os.Args[0], got, alias)
	}
	// An argv[0] that names some other program (a launcher may set any)
	// is not trusted: the binary itself is run instead.
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Args[0] = other
	if got := ownPath(); got != self {
		t.Errorf("argv[0] %q is another file: got %q, want %q", other, got, self)
	}
}
