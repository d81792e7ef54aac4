//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package spawner

// rlimitNproc is RLIMIT_NPROC, which package syscall does not define; its
// number differs by architecture (asm-generic: 6).
const rlimitNproc = 6
