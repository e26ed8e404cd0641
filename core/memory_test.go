package core

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestIdleConnectionSizes holds the two objects every idle server
// connection keeps, the connection and its Session, to the allocation size
// classes the idle-memory goal (600 B per connection, see
// BenchmarkIdleConnectionHeap) was met with: a field added to either
// moves it to the next class (352 or 112 bytes) and costs every idle
// connection 32 or 16 bytes more. State an open idle connection does not use
// belongs behind a pointer made when needed (closeState, sessionExtra).
func TestIdleConnectionSizes(t *testing.T) {
	if got := unsafe.Sizeof(conn{}); got > 320 {
		t.Errorf("conn is %d bytes, over the 320-byte size class", got)
	}
	if got := unsafe.Sizeof(Session{}); got > 96 {
		t.Errorf("Session is %d bytes, over the 96-byte size class", got)
	}
}

// An open idle connection holds none of the state made on demand: no close
// state, no session extras, no place among the pending handshakes; its
// loop holds it in one slot, freed (and the table with it) when it ends.
func TestIdleConnectionHoldsNoOnDemandState(t *testing.T) {
	s := startServer(t, ServerConfig{Loops: 1})
	cl := dial(t, s, ClientConfig{})
	waitFor(t, "the session", func() bool { return s.ConnectionCount() == 1 })
	sess := s.Sessions()[0]
	c := sess.c
	type view struct {
		end          *closeState
		slots, conns int
		inSlot       bool
	}
	onLoop := func() view {
		ch := make(chan view, 1)
		require.True(t, c.loop.post(func() {
			l := c.loop
			in := int(c.slot) < len(l.conns) && l.conns[c.slot] == c
			ch <- view{c.end, len(l.conns), l.connCount(), in}
		}))
		return <-ch
	}
	v := onLoop()
	require.Nil(t, v.end, "close state of an open connection")
	require.True(t, v.inSlot, "the connection is in its loop's slot")
	require.Equal(t, 1, v.conns)
	require.Nil(t, sess.extra.Load(), "session extras nobody asked for")
	require.Equal(t, 0, s.pending.count())
	s.pending.mu.Lock()
	byAddr, queued := s.pending.byAddr, len(s.pending.all.conns)
	s.pending.mu.Unlock()
	require.Empty(t, byAddr, "the per-address queues of no pending handshake")
	require.Zero(t, queued, "connections left in the pending-handshake queue")

	// Asking for what lives in the extras makes them, and they work.
	sess.Data().Set("k", "v")
	require.NotNil(t, sess.extra.Load())
	got, ok := sess.Data().Get("k")
	require.True(t, ok)
	require.Equal(t, "v", got)

	require.NoError(t, cl.Stop())
	waitFor(t, "the session to end", func() bool { return s.ConnectionCount() == 0 })
	waitFor(t, "the slot to be freed", func() bool { v := onLoop(); return v.conns == 0 })
	require.Equal(t, 0, onLoop().slots, "an empty loop keeps no slot table")
}
