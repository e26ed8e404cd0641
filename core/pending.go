package core

import (
	"net/netip"
	"sync"
)

// pendingHandshakes tracks the server's connections accepted whose HELLO
// has not been processed yet, oldest first, overall and per source
// address. They do not count against MaxConnections; instead, a new
// connection over either bound refuses the oldest pending one, so peers
// that connect and never speak cannot keep others out.
//
// Every accepted connection passes through here, so the tracker allocates
// nothing per connection in the steady state: its queues are slices that
// keep their capacity, and a removal only marks the connection (its
// pendingHS flag) and leaves a dead entry that the queue drops when it
// reaches the front or compacts.
type pendingHandshakes struct {
	mu     sync.Mutex
	all    pendingQueue
	byAddr map[netip.Addr]*pendingQueue
	spare  *pendingQueue // an emptied per-address queue, reused by the next address
	// addrPeak is the most addresses byAddr has held since it was made: a
	// map keeps its peak size, so a large one is released once empty.
	addrPeak int
}

// maxIdleAddrs is the size up to which an empty byAddr is kept for the
// next connection instead of being made again.
const maxIdleAddrs = 64

// pendingQueue is a FIFO of connections, some of them no longer pending.
type pendingQueue struct {
	conns []*conn // conns[head:] in arrival order; dead entries have pendingHS false
	head  int
	live  int
}

// maxIdleQueueCap is the capacity an emptied queue keeps for the next
// burst; beyond it the backing array is released.
const maxIdleQueueCap = 1024

func (q *pendingQueue) push(c *conn) {
	q.conns = append(q.conns, c)
	q.live++
}

// oldest returns the oldest live connection; q.live must be > 0.
func (q *pendingQueue) oldest() *conn {
	for {
		c := q.conns[q.head]
		if c.pendingHS {
			return c
		}
		q.conns[q.head] = nil
		q.head++
	}
}

// forget accounts for one of q's connections leaving: its entry stays
// until it reaches the front, or until dead entries outnumber live ones
// and the queue compacts, so removals cost O(1) amortized and the dead
// never hold more than the live do (plus a little).
func (q *pendingQueue) forget() {
	q.live--
	if q.live == 0 {
		clear(q.conns)
		if cap(q.conns) > maxIdleQueueCap {
			q.conns = nil
		}
		q.conns, q.head = q.conns[:0], 0
		return
	}
	if dead := len(q.conns) - q.head - q.live; dead > q.live+32 {
		kept := q.conns[:0]
		for _, c := range q.conns[q.head:] {
			if c.pendingHS {
				kept = append(kept, c)
			}
		}
		clear(q.conns[len(kept):])
		q.conns, q.head = kept, 0
	}
}

// add records c as pending and returns the connections it displaces: the
// oldest of its address beyond perAddr, the oldest overall beyond total.
func (p *pendingHandshakes) add(c *conn, total, perAddr int) []*conn {
	addr := c.remoteAddr().Addr().Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byAddr == nil {
		p.byAddr = make(map[netip.Addr]*pendingQueue)
	}
	q := p.byAddr[addr]
	if q == nil {
		if q = p.spare; q != nil {
			p.spare = nil
		} else {
			q = new(pendingQueue)
		}
		p.byAddr[addr] = q
		p.addrPeak = max(p.addrPeak, len(p.byAddr))
	}
	c.pendingHS = true
	p.all.push(c)
	q.push(c)
	var evicted []*conn
	for q.live > perAddr {
		evicted = append(evicted, p.removeLocked(q.oldest()))
	}
	for p.all.live > total {
		evicted = append(evicted, p.removeLocked(p.all.oldest()))
	}
	return evicted
}

// remove forgets c (its HELLO was processed, or it closed); it reports
// whether c was pending.
func (p *pendingHandshakes) remove(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !c.pendingHS {
		return false
	}
	p.removeLocked(c)
	return true
}

func (p *pendingHandshakes) removeLocked(c *conn) *conn {
	c.pendingHS = false
	p.all.forget()
	addr := c.remoteAddr().Addr().Unmap()
	if q := p.byAddr[addr]; q != nil {
		q.forget()
		if q.live == 0 {
			delete(p.byAddr, addr)
			p.spare = q
		}
	}
	if len(p.byAddr) == 0 && p.addrPeak > maxIdleAddrs {
		p.byAddr, p.addrPeak = nil, 0
	}
	return c
}

// count returns the number of pending handshakes.
func (p *pendingHandshakes) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all.live
}
