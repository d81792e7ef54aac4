package wire

import (
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hangupPoll is how long one poll for the peer's hang-up blocks before the
// watcher checks whether the read loop is still stalled.
const hangupPoll = 100 * time.Millisecond

// hangupWatcher notices a client that goes away while the read loop is
// stalled by back-pressure: the loop cannot read then, so it would not see
// the close. It polls the socket for POLLRDHUP (the peer shut down its
// side, even with unread data before the FIN) and aborts the connection
// as a close read by the loop would. One per connection, started at the
// first stall; it ends with the connection.
type hangupWatcher struct {
	rc      syscall.RawConn
	stalled atomic.Bool
	wake    chan struct{} // cap 1: stalled was set
	done    chan struct{} // closed when the goroutine ends
}

// stall is the read loop's callback for inStream.push.
func (c *conn) stall() (unstall func()) {
	if c.hup == nil {
		if c.raw == nil {
			return func() {}
		}
		c.hup = &hangupWatcher{rc: c.raw, wake: make(chan struct{}, 1), done: make(chan struct{})}
		go c.watchHangup(c.hup)
	}
	w := c.hup
	w.stalled.Store(true)
	signal(w.wake)
	return func() { w.stalled.Store(false) }
}

func (c *conn) watchHangup(w *hangupWatcher) {
	defer close(w.done)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-w.wake:
		}
		for w.stalled.Load() && c.ctx.Err() == nil {
			// Fresh each time: ppoll writes the time left back into it,
			// and a zero timeout would turn this into a busy loop.
			ts := unix.NsecToTimespec(int64(hangupPoll))
			hup := false
			err := w.rc.Control(func(fd uintptr) {
				fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
				n, err := unix.Ppoll(fds, &ts, nil)
				hup = err == nil && n == 1 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
			})
			if err != nil {
				return
			}
			if hup {
				c.logger().Debug("client hung up while the read loop was stalled")
				c.abort(ErrConnClosed)
				return
			}
		}
	}
}

// waitHangupWatcher waits for the watcher, if any, once the connection is
// aborted.
func (c *conn) waitHangupWatcher() {
	if c.hup != nil {
		<-c.hup.done
	}
}
