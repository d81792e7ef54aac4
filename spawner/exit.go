package spawner

import (
	"strconv"
	"syscall"
)

// Exit is how the leader process ended, as wait(2) reported it.
type Exit struct {
	Code       int            // exit status 0-255, or -1 if the process was killed by a signal (or its status is unknown)
	Signal     syscall.Signal // the signal that killed it; 0 if it exited
	CoreDumped bool           // the kernel wrote a core dump
}

// ExitOf converts a wait status, for callers that reap a process
// themselves (the bench's lean wrapper does, and must report the same
// app status as fcgi-wrap). It is split out of the reaper so the decoding
// can be tested with synthetic statuses (core dumps are not something a
// test should provoke).
func ExitOf(ws syscall.WaitStatus) Exit {
	switch {
	case ws.Exited():
		return Exit{Code: ws.ExitStatus()}
	case ws.Signaled():
		return Exit{Code: -1, Signal: ws.Signal(), CoreDumped: ws.CoreDump()}
	}
	return unknownExit
}

// unknownExit stands for a leader whose status could not be collected
// (wait(2) failed, e.g. because something else reaped it).
var unknownExit = Exit{Code: -1}

// String follows os.ProcessState: "exit status 3", "signal: killed",
// "signal: segmentation fault (core dumped)".
func (e Exit) String() string {
	if e.Code >= 0 {
		return "exit status " + strconv.Itoa(e.Code)
	}
	if e.Signal == 0 {
		return "exit status unknown"
	}
	s := "signal: " + e.Signal.String()
	if e.CoreDumped {
		s += " (core dumped)"
	}
	return s
}

// AppStatus is the status for FCGI_END_REQUEST's appStatus: the exit code, or
// 128+signal as a shell reports a signalled child. An unknown status is 255,
// so it never looks like success.
func (e Exit) AppStatus() uint32 {
	switch {
	case e.Code >= 0:
		return uint32(e.Code)
	case e.Signal > 0:
		return 128 + uint32(e.Signal)
	}
	return 255
}
