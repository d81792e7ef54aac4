package cgienv

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestStrictPermsSayHowToFix: each strict-permission refusal tells the
// operator both ways out: the chmod that fixes the file, and the flag
// that allows it.
func TestStrictPermsSayHowToFix(t *testing.T) {
	d := testTree(t)
	tests := []struct {
		script, fix string
	}{
		{"cgi-bin/gw.cgi", "chmod g-w"},
		{"cgi-bin/ww.cgi", "chmod o-w"},
		{"cgi-bin/suid.cgi", "chmod u-s"},
		{"cgi-bin/sgid.cgi", "chmod g-s"},
		{"wwdir/x.cgi", "chmod +t"},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			_, err := Resolve(map[string]string{"SCRIPT_FILENAME": filepath.Join(d, tt.script)}, ResolveOptions{StrictPerms: true})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a refusal", err)
			}
			for _, want := range []string{tt.fix, "--no-strict-perms"} {
				if !strings.Contains(e.Reason, want) {
					t.Errorf("got %q, want it to name %q", e.Reason, want)
				}
			}
		})
	}
}

// TestHeadErrorsSayWhatAHeadNeeds: the mistakes a first CGI script makes
// (body first, no Content-Type, no empty line) are explained, not only
// named.
func TestHeadErrorsSayWhatAHeadNeeds(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
	}{
		{"body first", func() error { _, _, err := ParseHead([]byte("Hello world\n\n"), false, 0); return err }},
		{"no Content-Type", func() error { _, _, err := ParseHead([]byte("X-A: b\n\nbody"), false, 0); return err }},
		{"no empty line within the limit", func() error {
			_, _, err := ParseHead([]byte("Content-Type: t\nX: "+strings.Repeat("y", 100)), false, 64)
			return err
		}},
		{"output ended before the empty line", func() error { return UnendedHead([]byte("Content-Type: text/html\n")) }},
		{"no output", func() error { return UnendedHead(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if !errors.Is(err, ErrBadHead) && !errors.Is(err, ErrHeadTooLarge) {
				t.Fatalf("got %v, want a head error", err)
			}
			if want := "a CGI response must start with header lines such as Content-Type: text/html, then an empty line"; !strings.Contains(err.Error(), want) {
				t.Errorf("got %q, want it to say %q", err, want)
			}
		})
	}
}
