package core

import (
	"math/rand"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The tracker is checked against a plain model (slices of the pending
// connections in arrival order, overall and per address) through random
// adds and removals, so eviction order, counts and the bound on dead
// entries hold whatever the order of events.
func TestPendingHandshakesMatchAPlainModel(t *testing.T) {
	const total, perAddr = 40, 7
	rng := rand.New(rand.NewSource(1))
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("::1"), netip.MustParseAddr("::ffff:10.0.0.1")} // the last is 10.0.0.1 mapped
	var p pendingHandshakes
	var model []*conn // pending, oldest first
	drop := func(c *conn) {
		for i, m := range model {
			if m == c {
				model = append(model[:i], model[i+1:]...)
				return
			}
		}
		t.Fatalf("removed a connection the model does not hold")
	}
	sameAddr := func(a, b *conn) bool { return a.remoteAddr().Addr().Unmap() == b.remoteAddr().Addr().Unmap() }
	for step := 0; step < 20000; step++ {
		if len(model) == 0 || rng.Intn(3) > 0 {
			c := &conn{remote: packHostPort(netip.AddrPortFrom(addrs[rng.Intn(len(addrs))], 1))}
			// What the model evicts: the oldest of the address past perAddr,
			// then the oldest overall past total.
			model = append(model, c)
			var want []*conn
			var ofAddr []*conn
			for _, m := range model {
				if sameAddr(m, c) {
					ofAddr = append(ofAddr, m)
				}
			}
			for len(ofAddr) > perAddr {
				want = append(want, ofAddr[0])
				drop(ofAddr[0])
				ofAddr = ofAddr[1:]
			}
			for len(model) > total {
				want = append(want, model[0])
				drop(model[0])
			}
			got := p.add(c, total, perAddr)
			require.Equal(t, want, got, "evicted at step %d", step)
		} else {
			c := model[rng.Intn(len(model))]
			drop(c)
			require.True(t, p.remove(c))
			require.False(t, p.remove(c), "a second remove")
		}
		require.Equal(t, len(model), p.count())
		p.mu.Lock()
		queued := len(p.all.conns) - p.all.head
		p.mu.Unlock()
		require.LessOrEqual(t, queued, 2*len(model)+33, "dead entries outnumber the live ones")
	}
	for _, c := range append([]*conn(nil), model...) {
		require.True(t, p.remove(c))
	}
	require.Zero(t, p.count())
	require.Empty(t, p.byAddr, "the per-address queues of no pending handshake")
	require.Empty(t, p.all.conns)
}

// Once warm, adding and removing a pending handshake allocates nothing:
// every connection a server accepts passes through here.
func TestPendingHandshakesAllocateNothingPerConnection(t *testing.T) {
	var p pendingHandshakes
	conns := make([]*conn, 64)
	for i := range conns {
		conns[i] = &conn{remote: packHostPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(i+1)))}
	}
	cycle := func() {
		for _, c := range conns {
			p.add(c, 1000, 1000)
		}
		for _, c := range conns {
			p.remove(c)
		}
	}
	cycle()
	require.Zero(t, testing.AllocsPerRun(20, cycle))
}

// Many addresses at once make a large map; once they are all done it is
// released rather than kept at its peak size.
func TestPendingHandshakesReleaseALargeAddressMap(t *testing.T) {
	var p pendingHandshakes
	var conns []*conn
	for i := 0; i < 3*maxIdleAddrs; i++ {
		c := &conn{remote: packHostPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1))}
		p.add(c, 1000, 10)
		conns = append(conns, c)
	}
	require.Len(t, p.byAddr, 3*maxIdleAddrs)
	for _, c := range conns {
		p.remove(c)
	}
	require.Nil(t, p.byAddr)
}

// A connection's compact addresses give back exactly what was stored,
// IPv4, IPv6, IPv4-mapped IPv6 and none.
func TestHostPortRoundTrips(t *testing.T) {
	for _, s := range []string{"127.0.0.1:9", "[::1]:65535", "[::ffff:10.1.2.3]:80", "[2001:db8::7]:1", "0.0.0.0:0"} {
		a := netip.MustParseAddrPort(s)
		require.Equal(t, a, packHostPort(a).addrPort(""), s)
	}
	require.Equal(t, netip.AddrPort{}, packHostPort(netip.AddrPort{}).addrPort(""))
	zoned := netip.MustParseAddrPort("[fe80::1%eth0]:7")
	require.Equal(t, zoned, packHostPort(zoned).addrPort("eth0"), "the zone kept beside it")
	require.LessOrEqual(t, unsafe.Sizeof(hostPort{}), uintptr(20))
}
