// Package cgroup owns fcgi-wrap's cgroup v2 tree: one cgroup per script, so
// that everything a script starts can be killed, limited and accounted for,
// including descendants that left its process group (setsid, a daemonizing
// tool, Fossil's backoffice).
//
// Setup decides whether cgroups are used (--cgroup auto|off|DIR), finds the
// cgroup2 mount from /proc/self/mountinfo (/sys/fs/cgroup on a unified host,
// /sys/fs/cgroup/unified on a hybrid one), and builds this layout under the
// delegated directory BASE (fcgi-wrap's own cgroup, or DIR):
//
//	BASE/fcgi-wrap.PID/              the instance; holds no process
//	BASE/fcgi-wrap.PID/supervisor/   fcgi-wrap itself, and its guard
//	BASE/fcgi-wrap.PID/scripts/      holds no process; what the guard kills
//	BASE/fcgi-wrap.PID/scripts/N     a request's script and its descendants
//
// fcgi-wrap moves itself into the supervisor leaf because cgroup v2 lets
// only a cgroup without processes hand controllers to its children (the
// "no internal process" rule), and because starting a script into a
// cgroup needs write access to the common ancestor's cgroup.procs: with
// both under the instance, that is the instance's own, which Setup gives
// to the --user fcgi-wrap will run as.
//
// Scripts are started directly inside their cgroup (clone3 with
// CLONE_INTO_CGROUP, done by package spawner with the descriptor that
// Request.FD returns), killed with cgroup.kill (Linux 5.14), accounted from
// cpu.stat and memory.peak, and removed when their request ends, or, when
// nothing of the request is left in them, kept for a later request (see
// pool_linux.go for why and when). A tree left by an instance that died is
// killed and removed by the next Setup on the same BASE.
//
// The package is fcgi-wrap's policy as well as the mechanism: its errors name
// fcgi-wrap's flags and systemd's Delegate=, which is why it lives under
// internal/ rather than beside spawner.
package cgroup
