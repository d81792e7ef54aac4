package main

import (
	"slices"
	"time"
)

// percentile gives the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: always a latency that was really observed, which
// keeps p99 of a short run honest instead of interpolating past the data.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// median of xs; the mean of the middle two for an even count. Medians,
// not means, because one run disturbed by a neighbour on a shared machine
// must not move the result.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianDuration is median for durations.
func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// pairedRatio is the median over rounds of a[i]/b[i]. Pairing values from
// the same round cancels the slow drift of a shared machine, which a
// ratio of two medians would not; rounds where either side is missing or
// zero are left out.
func pairedRatio(a, b []float64) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if a[i] > 0 && b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	return median(rs)
}
