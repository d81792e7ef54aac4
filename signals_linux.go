package main

import (
	"os/signal"
	"syscall"
	"unsafe"
)

// signalsLeftDefault are the signals fcgi-wrap leaves at the kernel's
// default action instead of the Go runtime's handler. The runtime installs
// a handler for almost every signal, and a forked child must reset each
// of them before exec (the child shares the parent's memory until then):
// 77 system calls in every script start, while fcgi-wrap's scheduler waits
// for the exec. Leaving these 36 at their default spares the child 36 of
// them, which was worth about 1% more tiny requests per second at
// concurrency 2 on the bench machine.
//
// For SIGCHLD, SIGWINCH (ignore), SIGCONT (continue) and SIGTSTP, SIGTTIN,
// SIGTTOU (stop) the default does what the runtime's handler does when no
// one asked for the signal. Real-time signals 35-64 the runtime would
// ignore; at their default they end fcgi-wrap, as they end a C daemon.
// Signals the runtime needs (SIGURG, SIGPROF, the fault signals, 32-34),
// the ones fcgi-wrap handles (SIGHUP, SIGINT, SIGTERM, SIGUSR1), SIGPIPE,
// and the rest, whose defaults would end fcgi-wrap where Go ignores them,
// keep the runtime's handler.
func signalsLeftDefault() []syscall.Signal {
	sigs := []syscall.Signal{syscall.SIGCHLD, syscall.SIGWINCH, syscall.SIGCONT,
		syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU}
	for rt := 35; rt <= 64; rt++ {
		sigs = append(sigs, syscall.Signal(rt))
	}
	return sigs
}

// leaveSignalsAtDefault drops the runtime's handler for signalsLeftDefault.
// signal.Ignore is the one way to make the runtime forget a handler (and
// so stop resetting it in children), but an ignored signal stays ignored
// across exec, in every script; so each is then set to its default.
func leaveSignalsAtDefault() {
	for _, sig := range signalsLeftDefault() {
		signal.Ignore(sig)
		setSignalDefault(sig)
	}
}

// setSignalDefault is rt_sigaction(sig, SIG_DFL). An all-zero sigaction is
// SIG_DFL with no flags and an empty mask on every architecture; only the
// size of the signal set differs (16 bytes on MIPS, 8 elsewhere).
func setSignalDefault(sig syscall.Signal) {
	var act [64]byte
	for _, setSize := range []uintptr{8, 16} {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act[0])), 0, setSize, 0, 0)
		if e != syscall.EINVAL {
			return
		}
	}
}
