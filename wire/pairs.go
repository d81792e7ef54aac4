package wire

import (
	"encoding/binary"
	"errors"
)

var errPairs = errors.New("wire: malformed name-value pairs")

// maxPairLen is the largest length a 4-byte length field can hold.
const maxPairLen = 1<<31 - 1

// Pair is one name-value pair (spec section 3.4).
type Pair struct {
	Name, Value string
}

// AppendPair appends one name-value pair. Lengths below 128 take one byte,
// others four with the high bit set.
func AppendPair(dst []byte, name, value string) []byte {
	dst = appendPairLen(dst, len(name))
	dst = appendPairLen(dst, len(value))
	dst = append(dst, name...)
	return append(dst, value...)
}

func appendPairLen(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	if n > maxPairLen {
		panic("wire: name-value pair longer than 2^31-1 bytes")
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)|1<<31)
}

// ParsePairs decodes b, which must hold whole pairs and nothing else.
func ParsePairs(b []byte) ([]Pair, error) {
	var pairs []Pair
	err := eachPair(b, func(name, value []byte) {
		pairs = append(pairs, Pair{string(name), string(value)})
	})
	return pairs, err
}

// eachPair calls fn for each pair of b; the slices alias b. It lets the
// server build its params map without an intermediate []Pair.
func eachPair(b []byte, fn func(name, value []byte)) error {
	for len(b) > 0 {
		nlen, rest, ok := pairLen(b)
		if !ok {
			return errPairs
		}
		vlen, rest, ok := pairLen(rest)
		if !ok {
			return errPairs
		}
		// Compare each length separately: their sum could overflow on 32-bit.
		if nlen > len(rest) || vlen > len(rest)-nlen {
			return errPairs
		}
		fn(rest[:nlen], rest[nlen:nlen+vlen])
		b = rest[nlen+vlen:]
	}
	return nil
}

// countPairs counts the pairs of b, or fails as eachPair does.
func countPairs(b []byte) (int, error) {
	n := 0
	err := eachPair(b, func(_, _ []byte) { n++ })
	return n, err
}

// pairsMap decodes b, which holds count well-formed pairs, into a map; for
// a name sent twice the last value wins. Every name and value is a
// substring of one copy of b: one allocation where a string each took
// forty for nginx's default params, and 1.7% of the daemon's CPU per tiny
// request. The price, that a value a handler keeps holds all of them, is
// bounded by MaxParamsBytes.
func pairsMap(b []byte, count int) map[string]string {
	m := make(map[string]string, count)
	s := string(b)
	for i := 0; i < len(b); {
		nlen, rest, _ := pairLen(b[i:])
		vlen, rest, _ := pairLen(rest)
		i = len(b) - len(rest)
		m[s[i:i+nlen]] = s[i+nlen : i+nlen+vlen]
		i += nlen + vlen
	}
	return m
}

func pairLen(b []byte) (n int, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	if b[0] < 0x80 {
		return int(b[0]), b[1:], true
	}
	if len(b) < 4 {
		return 0, nil, false
	}
	return int(binary.BigEndian.Uint32(b) &^ (1 << 31)), b[4:], true
}
