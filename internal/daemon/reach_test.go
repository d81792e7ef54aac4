package daemon

import (
	"os"
	"testing"
)

func TestReaches(t *testing.T) {
	web := identity{name: "www-data", uid: 33, gids: []uint32{33}}
	open := fileAccess{uid: 0, gid: 0, mode: os.ModeDir | 0o755}
	closed := fileAccess{uid: 0, gid: 0, mode: os.ModeDir | 0o700}
	tests := []struct {
		name string
		dirs []fileAccess
		sock fileAccess
		want bool
	}{
		// The bug: root:root 0660, what a root start with --user gave.
		{"root's socket", []fileAccess{open}, fileAccess{0, 0, 0o660}, false},
		{"the user's group", []fileAccess{open}, fileAccess{0, 33, 0o660}, true},
		{"owner", []fileAccess{open}, fileAccess{33, 0, 0o600}, true},
		{"group without write", []fileAccess{open}, fileAccess{0, 33, 0o640}, false},
		{"others may write", []fileAccess{open}, fileAccess{0, 0, 0o666}, true},
		// Owner bits decide for the owner, even when the group's would allow.
		{"owner bits win", []fileAccess{open}, fileAccess{33, 33, 0o060}, false},
		{"closed directory above", []fileAccess{closed, open}, fileAccess{0, 33, 0o660}, false},
		{"directory searchable by group", []fileAccess{{0, 33, os.ModeDir | 0o710}}, fileAccess{0, 33, 0o660}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reaches(web, tt.dirs, tt.sock); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSocketGroupFromUser pins the 502 of issue 15: started as root with
// --user and no --socket-owner, the socket belongs to that user and its
// group, not to root; --socket-owner :GROUP changes the group only.
func TestSocketGroupFromUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the default owner applies to a root start")
	}
	uid, gid, err := socketOwner(&Startup{User: "nobody"})
	if err != nil || uid != 65534 || gid != 65534 {
		t.Fatalf("got %d:%d, %v, want 65534:65534", uid, gid, err)
	}
	uid, gid, err = socketOwner(&Startup{User: "nobody", SocketOwner: ":root"})
	if err != nil || uid != 65534 || gid != 0 {
		t.Fatalf("got %d:%d, %v, want 65534:0", uid, gid, err)
	}
}

func TestLookupOwner(t *testing.T) {
	for _, tt := range []struct {
		spec     string
		uid, gid int
		err      bool
	}{
		{"root", 0, 0, false},
		{"root:", 0, 0, false},
		{"root:root", 0, 0, false},
		{":root", -1, 0, false}, // the group alone was "no user \"\""
		{":", 0, 0, true},
		{"no-such-user-here", 0, 0, true},
		{":no-such-group-here", 0, 0, true},
	} {
		uid, gid, err := lookupOwner(tt.spec)
		if (err != nil) != tt.err || !tt.err && (uid != tt.uid || gid != tt.gid) {
			t.Errorf("%q: got %d:%d, %v, want %d:%d (error %v)", tt.spec, uid, gid, err, tt.uid, tt.gid, tt.err)
		}
	}
}
