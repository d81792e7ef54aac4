package cli

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files (the man page)")

// TestManPage fails when man/fcgi-wrap.8 no longer matches the CLI, so the
// page cannot drift from --help. `go test -run TestManPage ./internal/cli -update`
// rewrites it.
func TestManPage(t *testing.T) {
	got, err := NewApp().ToManWithSection(8)
	if err != nil {
		t.Fatal(err)
	}
	const path = "../../man/fcgi-wrap.8"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test -run TestManPage ./internal/cli -update` to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s is stale: run `go test -run TestManPage ./internal/cli -update` and commit the result", path)
	}
}
