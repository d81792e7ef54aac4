package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/fcgi-wrap/fcgi-wrap/internal/testutil"
)

// TestReopenFailureIsLoud pins the rotation that silently went on writing
// into the moved file: when the new file cannot be made, the log and
// stderr both say so, and writing goes on to the old file.
func TestReopenFailureIsLoud(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := openReopenFile(filepath.Join(dir, "fw.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The directory goes away: O_CREAT at the old path fails, as it does
	// with EACCES in a directory the dropped user may not write.
	if err := os.Rename(dir, filepath.Join(top, "rotated")); err != nil {
		t.Fatal(err)
	}
	var stderr testutil.SyncBuffer
	log := hclog.New(&hclog.LoggerOptions{Output: f})
	reopenAll([]*reopenFile{f}, log, &stderr)
	if !strings.Contains(stderr.String(), "cannot reopen log file "+f.path) {
		t.Errorf("stderr got %q, want the failure", stderr.String())
	}
	old, err := os.ReadFile(filepath.Join(top, "rotated", "fw.log"))
	if err != nil || !strings.Contains(string(old), "cannot reopen log file") {
		t.Errorf("old file got %q, %v, want the error logged there", old, err)
	}
}

// TestLogFileGivenToUser: a file fcgi-wrap creates before the privilege
// drop is handed to --user, so that reopening it later works and
// logrotate's create copies the right owner; one the operator made keeps
// its owner.
func TestLogFileGivenToUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	made, err := openReopenFile(filepath.Join(dir, "new.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer made.Close()
	kept := filepath.Join(dir, "kept.log")
	if err := os.WriteFile(kept, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	existing, err := openReopenFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	defer existing.Close()
	for _, f := range []*reopenFile{made, existing} {
		if err := f.giveTo(65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]uint32{made.path: 65534, kept: 0} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != want {
			t.Errorf("%s: owner %d, want %d", path, uid, want)
		}
	}
}
