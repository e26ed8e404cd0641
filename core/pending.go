package core

import (
	"container/list"
	"net/netip"
	"sync"
)

// pendingPlace is a pending connection's place in both lists. It is kept
// in the tracker, not in the connection: an open connection needs none.
type pendingPlace struct{ all, addr *list.Element }

// pendingHandshakes tracks the server's connections accepted whose HELLO
// has not been processed yet, oldest first, overall and per source
// address. They do not count against MaxConnections; instead, a new
// connection over either bound refuses the oldest pending one, so peers
// that connect and never speak cannot keep others out.
type pendingHandshakes struct {
	mu     sync.Mutex
	all    list.List
	byAddr map[netip.Addr]*list.List
	places map[*conn]pendingPlace
}

// add records c as pending and returns the connections it displaces: the
// oldest of its address beyond perAddr, the oldest overall beyond total.
func (p *pendingHandshakes) add(c *conn, total, perAddr int) []*conn {
	addr := c.remote.Addr().Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byAddr == nil {
		p.byAddr = make(map[netip.Addr]*list.List)
	}
	if p.places == nil {
		p.places = make(map[*conn]pendingPlace)
	}
	l := p.byAddr[addr]
	if l == nil {
		l = list.New()
		p.byAddr[addr] = l
	}
	p.places[c] = pendingPlace{p.all.PushBack(c), l.PushBack(c)}
	var evicted []*conn
	for l.Len() > perAddr {
		evicted = append(evicted, p.removeLocked(l.Front().Value.(*conn)))
	}
	for p.all.Len() > total {
		evicted = append(evicted, p.removeLocked(p.all.Front().Value.(*conn)))
	}
	return evicted
}

// remove forgets c (its HELLO was processed, or it closed); it reports
// whether c was pending.
func (p *pendingHandshakes) remove(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.places[c]; !ok {
		return false
	}
	p.removeLocked(c)
	return true
}

func (p *pendingHandshakes) removeLocked(c *conn) *conn {
	addr := c.remote.Addr().Unmap()
	place := p.places[c]
	delete(p.places, c)
	if len(p.places) == 0 {
		p.places = nil // a map keeps its peak size: release it
	}
	p.all.Remove(place.all)
	if l := p.byAddr[addr]; l != nil {
		l.Remove(place.addr)
		if l.Len() == 0 {
			delete(p.byAddr, addr)
		}
	}
	return c
}

// count returns the number of pending handshakes.
func (p *pendingHandshakes) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all.Len()
}
