package wire

import (
	"syscall"
	"testing"
)

// TestNothingUnread checks the question lingerClose asks before it closes
// at once: a wrong "nothing" would reset a client whose bytes we never
// read, a wrong "something" only costs a linger.
func TestNothingUnread(t *testing.T) {
	if nothingUnread(nil) {
		t.Error("no conn: got nothing unread, want unknown (false)")
	}
	server, client := socketPair(t)
	defer client.Close()
	rc, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if !nothingUnread(rc) {
		t.Error("fresh socket: got bytes unread, want none")
	}
	if _, err := client.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if nothingUnread(rc) {
		t.Error("3 bytes sent: got nothing unread")
	}
	if _, err := server.Read(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	if !nothingUnread(rc) {
		t.Error("all read: got bytes unread, want none")
	}
	server.Close()
	if nothingUnread(rc) {
		t.Error("closed socket: got nothing unread, want unknown (false)")
	}
}
