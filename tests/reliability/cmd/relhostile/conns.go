package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/tests/reliability/internal/wireraw"
)

// sources expands -from: "a", "a,b" or "a-b" (IPv4, inclusive).
func sources(spec string) []string {
	var out []string
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		if !isRange {
			out = append(out, lo)
			continue
		}
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil {
			fail(fmt.Errorf("bad -from range %q", part))
		}
		for ip := a; ip.Compare(b) <= 0 && len(out) < 1024; ip = ip.Next() {
			out = append(out, ip.String())
		}
	}
	return out
}

// picker hands out source IPs round-robin.
type picker struct {
	ips  []string
	next atomic.Uint64
}

func newPicker(spec string) *picker { return &picker{ips: sources(spec)} }

func (p *picker) pick() string { return p.ips[int(p.next.Add(1)-1)%len(p.ips)] }

const dialTimeout = 5 * time.Second

// hello is the well-formed HELLO the attackers use to get past the handshake.
func hello(codecs ...byte) wireraw.HelloFields {
	h := wireraw.DefaultHello("hostile")
	h.Codecs = codecs
	return h
}

// attack is one hostile connection: send writes the attack (it may run as
// long as it likes, until stop closes); the server's answer is awaited
// until the deadline.
type attack struct {
	from       string
	handshake  bool   // complete a HELLO/WELCOME first
	codecs     []byte // offered in that HELLO
	send       func(c *net.TCPConn, stop <-chan struct{}) (int, error)
	concurrent bool // read the answer while send runs (else after it)
	deadline   time.Time
}

// run opens the connection, attacks and waits for the end, recording the
// outcome. It returns the outcome too, for list attacks.
func (a attack) run(addr string, col *collector) (wireraw.Outcome, bool) {
	c, err := wireraw.Dial(addr, a.from, dialTimeout)
	if err != nil {
		col.dialError()
		col.note("%v", err)
		return wireraw.Outcome{}, false
	}
	defer wireraw.Reset(c)
	col.opened()
	if a.handshake {
		w, err := wireraw.Handshake(c, hello(a.codecs...), dialTimeout)
		if err == nil && len(a.codecs) > 0 && w.Codec != a.codecs[0] {
			// A bomb sent on a connection without the codec would be
			// refused for its flag, not for its content: not a test.
			err = fmt.Errorf("server chose codec %d, not the offered %d (compression not enabled?)", w.Codec, a.codecs[0])
		}
		if err != nil {
			col.note("handshake: %v", err)
			o := wireraw.Outcome{Kind: "ERROR", Reason: err.Error()}
			col.add(o)
			return o, true
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var o wireraw.Outcome
	if a.concurrent {
		wg.Add(1)
		go func() { defer wg.Done(); o = wireraw.AwaitEnd(c, a.deadline); close(stop) }()
		n, _ := a.send(c, stop)
		col.sent(n)
		wg.Wait()
	} else {
		n, _ := a.send(c, stop)
		col.sent(n)
		o = wireraw.AwaitEnd(c, a.deadline)
	}
	col.add(o)
	return o, true
}

// writeAll writes b, reporting how much went out.
func writeAll(c *net.TCPConn, b []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(dialTimeout))
	return c.Write(b)
}

// parallel runs n copies of fn at once and waits for all of them.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); fn(i) }()
	}
	wg.Wait()
}

// bounded runs n calls of fn with at most k in flight.
func bounded(n, k int, fn func(i int)) {
	sem := make(chan struct{}, max(k, 1))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer wg.Done(); defer func() { <-sem }(); fn(i) }()
	}
	wg.Wait()
}

// sleepOrStop sleeps d or until stop closes; it reports whether to go on.
func sleepOrStop(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// dribble writes b one byte per interval until done, stop or a write error.
func dribble(c *net.TCPConn, b []byte, interval time.Duration, stop <-chan struct{}) (int, error) {
	n := 0
	for _, x := range b {
		if _, err := writeAll(c, []byte{x}); err != nil {
			return n, err
		}
		n++
		if !sleepOrStop(interval, stop) {
			break
		}
	}
	return n, nil
}
