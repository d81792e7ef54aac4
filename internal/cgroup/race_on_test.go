//go:build race

package cgroup

// raceEnabled: the race detector's annotations of system calls move
// buffers to the heap, so allocation counts hold only without it.
const raceEnabled = true
