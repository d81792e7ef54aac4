package daemon

import (
	"os"
	"os/user"
	"strings"
	"testing"
)

type privilegeCase struct {
	name string
	st   Startup
	err  string // "" means allowed
	drop bool
}

// TestCheckPrivileges is the rule check and serving share: what a root
// start and an unprivileged one may do with --user and --allow-root.
func TestCheckPrivileges(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	tests := []privilegeCase{
		{"group without user", Startup{Group: "nogroup"}, "--group needs --user", false},
		{"no such user", Startup{User: "no-such-user-here"}, "no such user", false},
		{"already that user", Startup{User: me.Username, AllowRoot: true}, "", root},
	}
	if root {
		tests = append(tests,
			privilegeCase{"root without --user", Startup{}, "refusing to run scripts as root", false},
			privilegeCase{"root with --allow-root", Startup{AllowRoot: true}, "", false},
			privilegeCase{"--user root", Startup{User: "root"}, "refusing to run scripts as root without --allow-root", false},
			privilegeCase{"--user nobody", Startup{User: "nobody"}, "", true})
	} else {
		tests = append(tests,
			privilegeCase{"another user", Startup{User: "root", AllowRoot: true}, "needs fcgi-wrap to start as root", false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := checkPrivileges(&tt.st)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if drop := cred != nil && cred.drop; drop != tt.drop {
				t.Errorf("got drop %v, want %v", drop, tt.drop)
			}
		})
	}
}
