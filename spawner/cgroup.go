package spawner

// Cgroup is a cgroup v2 directory to start a child in and to kill whole;
// the caller creates, limits, accounts and removes it.
type Cgroup interface {
	// FD is an open descriptor of the cgroup's directory (O_PATH is
	// enough), for clone3's CLONE_INTO_CGROUP.
	FD() int
	// Kill sends SIGKILL to every process in the cgroup (cgroup.kill).
	Kill() error
}
