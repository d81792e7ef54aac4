package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what wrk --latency reports for one run.
type wrkResult struct {
	Requests int
	RPS      float64
	P50, P99 time.Duration
	Non2xx   int // "Non-2xx or 3xx responses"
	SockErrs int // connect + read + write + timeout
}

var errWrkOutput = errors.New("bench: wrk output without Requests/sec")

// runWrk runs wrk against url with c connections for dur.
func runWrk(ctx context.Context, url string, c int, dur time.Duration) (wrkResult, error) {
	threads := min(c, 2)
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(c),
		"-d", fmt.Sprintf("%ds", max(int(dur.Seconds()), 1)), "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	return parseWrk(string(out))
}

// parseWrk reads the summary wrk 4 prints, e.g.
//
//	    50%    1.61ms
//	    99%    4.02ms
//	  2400 requests in 2.00s, 400.00KB read
//	  Socket errors: connect 0, read 1, write 0, timeout 0
//	  Non-2xx or 3xx responses: 3
//	Requests/sec:   1199.51
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	haveRPS := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk Requests/sec %q: %v", f[1], err)
			}
			r.RPS, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.P50 = d
			} else {
				r.P99 = d
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return r, fmt.Errorf("wrk request count %q: %v", f[0], err)
			}
			r.Requests = n
		case len(f) == 5 && strings.Join(f[:4], " ") == "Non-2xx or 3xx responses:":
			n, err := strconv.Atoi(f[4])
			if err != nil {
				return r, fmt.Errorf("wrk non-2xx count %q: %v", f[4], err)
			}
			r.Non2xx = n
		case len(f) == 10 && f[0] == "Socket" && f[1] == "errors:":
			for i := 3; i < 10; i += 2 {
				n, err := strconv.Atoi(strings.TrimSuffix(f[i], ","))
				if err != nil {
					return r, fmt.Errorf("wrk socket errors %q: %v", f[i], err)
				}
				r.SockErrs += n
			}
		}
	}
	if !haveRPS {
		return r, errWrkOutput
	}
	return r, nil
}

// parseWrkDuration reads wrk's latency units: us, ms, s, m, h.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || v > 1e6 {
			return 0, fmt.Errorf("wrk latency %q", s)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("wrk latency %q: unknown unit", s)
}
