package daemon

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func listenTestSocket(t *testing.T, path string) *unixListener {
	t.Helper()
	l, err := listenUnix(SocketAddr{"unix", path}, &Startup{SocketMode: 0o660}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return l.(*unixListener)
}

// TestUnixSocketRemovedThroughDirectory pins the socket left behind after
// the privilege drop: the removal goes through the directory handle taken
// at bind, not the path, which the dropped user may no longer be able to
// walk. Here the path stops working because a directory above it moves.
func TestUnixSocketRemovedThroughDirectory(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "a")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l := listenTestSocket(t, filepath.Join(dir, "fw.sock"))
	moved := filepath.Join(top, "b")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Lstat(filepath.Join(moved, "fw.sock")); !os.IsNotExist(err) {
		t.Fatalf("socket still there after Close (%v)", err)
	}
	l.Close() // a second Close must not fail or remove anything
}

// TestUnixSocketKeptWhenNotOurs: a socket file that replaced ours (a
// successor bound anew) and a listener told not to unlink both stay.
func TestUnixSocketKeptWhenNotOurs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fw.sock")
	l := listenTestSocket(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	other.(*net.UnixListener).SetUnlinkOnClose(false)
	defer other.Close()
	l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("a socket that is not ours was removed: %v", err)
	}

	path2 := filepath.Join(dir, "fw2.sock")
	l2 := listenTestSocket(t, path2)
	l2.SetUnlinkOnClose(false)
	l2.Close()
	if _, err := os.Lstat(path2); err != nil {
		t.Fatalf("SetUnlinkOnClose(false) did not keep the socket: %v", err)
	}
}
