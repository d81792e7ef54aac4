package pool

import "time"

// waiter is one Acquire call sleeping in the queue. Its fields after ready
// are written under Pool.mu, once, just before ready is closed.
type waiter struct {
	prev, next *waiter
	info       JobInfo
	queued     time.Time
	ready      chan struct{} // closed when slot or err is set
	slot       *Slot
	err        error
}

// queue is an intrusive doubly linked FIFO: a waiter that gives up leaves
// from the middle in O(1), and queueing allocates nothing beyond the waiter.
type queue struct {
	head, tail *waiter
	n          int
}

func (q *queue) push(w *waiter) {
	w.prev, w.next = q.tail, nil
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.n++
}

// pop removes and returns the head; the queue must not be empty.
func (q *queue) pop() *waiter {
	w := q.head
	q.remove(w)
	return w
}

// remove unlinks w, which must be in q.
func (q *queue) remove(w *waiter) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	q.n--
}
