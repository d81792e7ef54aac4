package spawner

import (
	"syscall"
	"testing"
)

func TestExitOf(t *testing.T) {
	tests := []struct {
		name       string
		ws         syscall.WaitStatus // raw wait(2) status
		want       Exit
		wantString string
		wantApp    uint32
	}{
		{"exit 0", 0x0000, Exit{}, "exit status 0", 0},
		{"exit 3", 0x0300, Exit{Code: 3}, "exit status 3", 3},
		{"exit 255", 0xff00, Exit{Code: 255}, "exit status 255", 255},
		{"SIGKILL", 0x0009, Exit{Code: -1, Signal: syscall.SIGKILL}, "signal: killed", 137},
		{"SIGTERM", 0x000f, Exit{Code: -1, Signal: syscall.SIGTERM}, "signal: terminated", 143},
		{"SIGSEGV with core", 0x008b, Exit{Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true},
			"signal: segmentation fault (core dumped)", 139},
		{"stopped is not an exit", 0x137f, Exit{Code: -1}, "exit status unknown", 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExitOf(tt.ws)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.wantString {
				t.Errorf("got String %q, want %q", s, tt.wantString)
			}
			if a := got.AppStatus(); a != tt.wantApp {
				t.Errorf("got AppStatus %d, want %d", a, tt.wantApp)
			}
		})
	}
}
