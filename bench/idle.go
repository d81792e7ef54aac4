package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// holdConns opens n connections to sock and makes one KEEP_CONN request on
// each, so the server holds every connection in its served-and-waiting
// state. It returns the clients it managed to open even on error.
func holdConns(ctx context.Context, sock string, params []wire.Pair, n int) ([]*conn, error) {
	clients := make([]*conn, n)
	errs := make([]error, n)
	next := make(chan int)
	// openers waits for the goroutines that open connections; a few at a
	// time, so the burst stays within the server's queue.
	var openers sync.WaitGroup
	for range 32 {
		openers.Go(func() {
			for i := range next {
				spec := loadSpec{Network: "unix", Addr: sock, Params: params, KeepConn: true, WantBody: -1, Timeout: requestTimeout}
				_, _, _, errs[i] = oneRequest(ctx, &spec, &clients[i])
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	openers.Wait()
	held := clients[:0]
	var firstErr error
	failed := 0
	for i, c := range clients {
		if errs[i] != nil {
			failed++
			if firstErr == nil {
				firstErr = errs[i]
			}
			c.close()
			continue
		}
		held = append(held, c)
	}
	if firstErr != nil {
		return held, fmt.Errorf("%d of %d keep-alive connections failed: %w", failed, n, firstErr)
	}
	return held, nil
}

// countAlive asks every held connection for FCGI_MAX_CONNS: the server
// answers only on connections it still serves.
func countAlive(ctx context.Context, clients []*conn) int {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok := make([]bool, len(clients))
	// askers waits for one GET_VALUES per connection.
	var askers sync.WaitGroup
	for i, c := range clients {
		askers.Go(func() {
			_, err := c.wireClient().GetValues(ctx, wire.MaxConnsName)
			ok[i] = err == nil
		})
	}
	askers.Wait()
	n := 0
	for _, v := range ok {
		if v {
			n++
		}
	}
	return n
}

func closeAll(clients []*conn) {
	for _, c := range clients {
		c.close()
	}
}
