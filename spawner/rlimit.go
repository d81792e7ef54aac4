package spawner

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
)

// Rlimit is one resource limit for the child, as setrlimit(2) takes it.
type Rlimit struct {
	Resource int    // RLIMIT_* number, e.g. syscall.RLIMIT_NOFILE
	Cur, Max uint64 // soft and hard limit; Unlimited means no limit
}

// Unlimited is RLIM_INFINITY.
const Unlimited = math.MaxUint64

var errBadRlimit = errors.New("spawner: bad rlimit")

// rlimitKind describes one resource we accept by name. bytes says whether
// K/M/G suffixes make sense for it.
type rlimitKind struct {
	name     string
	resource int
	bytes    bool
}

// rlimitKinds is the closed set of names ParseRlimit accepts: the limits an
// operator plausibly wants on a CGI script. Others (stack, data, memlock...)
// are left out until someone needs them.
var rlimitKinds = []rlimitKind{
	{"nofile", syscall.RLIMIT_NOFILE, false},
	{"nproc", rlimitNproc, false},
	{"as", syscall.RLIMIT_AS, true},
	{"cpu", syscall.RLIMIT_CPU, false},
	{"fsize", syscall.RLIMIT_FSIZE, true},
	{"core", syscall.RLIMIT_CORE, true},
}

func kindByName(name string) (rlimitKind, bool) {
	for _, k := range rlimitKinds {
		if k.name == name {
			return k, true
		}
	}
	return rlimitKind{}, false
}

func kindByResource(res int) (rlimitKind, bool) {
	for _, k := range rlimitKinds {
		if k.resource == res {
			return k, true
		}
	}
	return rlimitKind{}, false
}

// ParseRlimit parses "name=value" or "name=soft:hard", e.g. "nofile=1024",
// "nproc=64:128", "as=512M", "cpu=10", "fsize=1G", "core=0". Names are
// nofile, nproc, as, cpu, fsize and core. A value is a decimal number or
// "unlimited"; the byte limits (as, fsize, core) also take a K, M or G suffix
// (powers of 1024). A single value sets both the soft and the hard limit.
func ParseRlimit(s string) (Rlimit, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return Rlimit{}, fmt.Errorf("%w %q: want name=value", errBadRlimit, s)
	}
	k, ok := kindByName(name)
	if !ok {
		return Rlimit{}, fmt.Errorf("%w %q: unknown resource %q (want nofile, nproc, as, cpu, fsize or core)", errBadRlimit, s, name)
	}
	curS, maxS, pair := strings.Cut(val, ":")
	cur, err := parseLimitValue(curS, k.bytes)
	if err != nil {
		return Rlimit{}, fmt.Errorf("%w %q: %v", errBadRlimit, s, err)
	}
	limit := cur
	if pair {
		if limit, err = parseLimitValue(maxS, k.bytes); err != nil {
			return Rlimit{}, fmt.Errorf("%w %q: %v", errBadRlimit, s, err)
		}
	}
	r := Rlimit{Resource: k.resource, Cur: cur, Max: limit}
	if err := r.check(); err != nil {
		return Rlimit{}, fmt.Errorf("%w %q: soft limit above hard limit", errBadRlimit, s)
	}
	return r, nil
}

func parseLimitValue(s string, bytes bool) (uint64, error) {
	if s == "unlimited" {
		return Unlimited, nil
	}
	mult := uint64(1)
	if bytes && s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	// ParseUint alone would accept "0x10" and "1_000" with base 0, and a
	// leading "+" nowhere; insist on plain digits so the syntax stays simple.
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("value %q is not a number or \"unlimited\"", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > Unlimited/mult {
		return 0, fmt.Errorf("value %q is too large", s)
	}
	return n * mult, nil
}

// check rejects what setrlimit(2) would reject with EINVAL, so Start can
// refuse before anything is spawned.
func (r Rlimit) check() error {
	// RLIM_NLIMITS is 16 on Linux; the trampoline cannot report a bad
	// resource as a start error, so it is refused here.
	if r.Resource < 0 || r.Resource >= 16 {
		return fmt.Errorf("%w %v: no such resource", errBadRlimit, r)
	}
	if r.Cur > r.Max {
		return fmt.Errorf("%w %v: soft limit above hard limit", errBadRlimit, r)
	}
	return nil
}

// String is the form ParseRlimit reads: "nofile=1024", "nproc=64:128",
// "as=unlimited". Byte limits are printed in bytes so the text round-trips
// exactly.
func (r Rlimit) String() string {
	name := "rlimit" + strconv.Itoa(r.Resource)
	if k, ok := kindByResource(r.Resource); ok {
		name = k.name
	}
	if r.Cur == r.Max {
		return name + "=" + limitString(r.Cur)
	}
	return name + "=" + limitString(r.Cur) + ":" + limitString(r.Max)
}

func limitString(n uint64) string {
	if n == Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(n, 10)
}
