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
	err := eachPair(string(b), func(name, value string) {
		pairs = append(pairs, Pair{name, value})
	})
	return pairs, err
}

// eachPair calls fn for each pair of s. The names and values are
// substrings of s, so decoding a request's params costs one allocation,
// for s, where a string for each name and value cost forty for nginx's
// default params (1.7% of the daemon's CPU per tiny request). The price,
// that a value a handler keeps holds all of them, is bounded by
// MaxParamsBytes.
func eachPair(s string, fn func(name, value string)) error {
	for len(s) > 0 {
		nlen, rest, ok := pairLen(s)
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
		s = rest[nlen+vlen:]
	}
	return nil
}

// pairsMap decodes s into a map sized for its pairs; for a name sent twice
// the last value wins. It fails as eachPair does, and when s holds more
// than maxCount pairs, with their count.
func pairsMap(s string, maxCount int) (map[string]string, int, error) {
	count := 0
	if err := eachPair(s, func(_, _ string) { count++ }); err != nil || count > maxCount {
		return nil, count, err
	}
	m := make(map[string]string, count)
	_ = eachPair(s, func(name, value string) { m[name] = value })
	return m, count, nil
}

func pairLen(s string) (n int, rest string, ok bool) {
	if len(s) == 0 {
		return 0, "", false
	}
	if s[0] < 0x80 {
		return int(s[0]), s[1:], true
	}
	if len(s) < 4 {
		return 0, "", false
	}
	return int(s[0]&0x7f)<<24 | int(s[1])<<16 | int(s[2])<<8 | int(s[3]), s[4:], true
}
