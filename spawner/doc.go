// Package spawner starts one program as its own process group and ends it.
//
// It owns everything between "run this path with this argv, environment and
// directory" and "it has exited with this status": the full-duplex pipes
// (stdin, stdout, stderr and, for the FastCGI Filter role, a data pipe on
// fd 3), credentials, resource limits, and killing the whole process group
// with SIGTERM, a grace period, then SIGKILL. Given a cgroup v2 directory
// (Config.Cgroup), it starts the program inside it with clone3 and the
// SIGKILL reaches the whole cgroup; the CPU time the program used comes
// from the rusage its exit reports. It knows nothing of FastCGI or
// CGI; the exit status it reports follows POSIX wait(2) semantics and the
// shell's 128+signal convention.
//
// It is Linux only: it relies on process groups, prctl(PR_SET_PDEATHSIG),
// close_range(2), fcntl(F_SETPIPE_SZ) and /proc. Resource limits are set by
// the running program re-executed (through /proc/self/exe, whatever became
// of its file) as a trampoline (see TrampolineName), so a program using
// Config.Rlimits calls RunTrampolineIfAsked first in main.
package spawner
