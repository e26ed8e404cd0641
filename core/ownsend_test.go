package core

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

// A handler's Send to its own connection takes the lock-free path
// (sendOwn): the frame lands in the loop's write buffer, not in out.
func TestOwnLoopSendTakesTheFastPath(t *testing.T) {
	s := startServer(t, ServerConfig{Loops: 1})
	type seen struct{ wbuf, out int }
	got := make(chan seen, 1)
	s.OnMessage(func(sess *Session, msg []byte) {
		c := sess.c
		before := len(c.wbuf) - c.woff
		require.NoError(t, sess.Send(msg))
		c.mu.Lock()
		out := len(c.out)
		c.mu.Unlock()
		got <- seen{len(c.wbuf) - c.woff - before, out}
	})
	cl := dial(t, s, ClientConfig{})
	in := newInbox()
	cl.OnMessage(in.add)
	require.NoError(t, cl.Send([]byte("hello")))
	v := <-got
	require.Equal(t, seen{6 + 5, 0}, v, "the echo went into wbuf, nothing into out")
	waitFor(t, "the echo", func() bool { return in.count() == 1 })
	require.Equal(t, "hello", string(in.all()[0]))
	sess := s.Sessions()[0]
	require.EqualValues(t, 1, sess.Statistics().MessagesSent)
	require.EqualValues(t, 5, sess.Statistics().BytesSent)
	require.EqualValues(t, 1, s.Statistics().MessagesSent)
	require.EqualValues(t, 5, s.Statistics().BytesSent)
}

// Own-loop sends (the handler's echo) and sends from other goroutines to
// the same session interleave, and every order a program can observe
// holds: each sender's messages arrive in order, and a foreign message
// whose Send returned before the handler ran (the handler saw it
// published) arrives before the handler's message. A model check of the
// fast path's rule: it appends to wbuf only while out is empty.
func TestOwnLoopSendOrderAgainstForeignSends(t *testing.T) {
	s := startServer(t, ServerConfig{Loops: 1})
	const foreigners, perForeigner, echoes = 4, 20000, 40000
	var published [foreigners]atomic.Int64 // foreign message i of f sent: published[f] >= i+1
	var fast, behind int                   // echoes sent with out empty, behind foreign frames in out (loop-owned)
	var mu sync.Mutex
	var fails []string
	fail := func(s string) {
		mu.Lock()
		if len(fails) < 5 {
			fails = append(fails, s)
		}
		mu.Unlock()
	}
	s.OnMessage(func(sess *Session, msg []byte) {
		// The echo carries what the handler saw published: every foreign
		// message below those counts must precede it on the wire.
		out := make([]byte, 1+4+4*foreigners)
		out[0] = 'L'
		copy(out[1:5], msg[:4])
		for f := range foreigners {
			binary.BigEndian.PutUint32(out[5+4*f:], uint32(published[f].Load()))
		}
		c := sess.c
		if c.outBusy.Load() {
			behind++
		} else {
			fast++
		}
		before := len(c.wbuf)
		if err := sess.Send(out); err != nil {
			fail(err.Error()) // the queue stays far below its mark
		}
		if len(c.wbuf) < before+len(out)+6 {
			fail("an echo did not take the fast path")
		}
	})
	cl := dial(t, s, ClientConfig{})
	var next [foreigners]uint32 // the next foreign message expected from each
	var nextEcho uint32
	var done atomic.Int64
	cl.OnMessage(func(m []byte) {
		defer done.Add(1)
		switch m[0] {
		case 'F':
			f, i := m[1], binary.BigEndian.Uint32(m[2:])
			if i != next[f] {
				fail("foreign messages out of order")
			}
			next[f] = i + 1
		case 'L':
			if binary.BigEndian.Uint32(m[1:5]) != nextEcho {
				fail("echoes out of order")
			}
			nextEcho++
			for f := range foreigners {
				if seen := binary.BigEndian.Uint32(m[5+4*f:]); next[f] < seen {
					fail("an echo overtook a foreign message sent before it")
				}
			}
		}
	})
	waitFor(t, "the session", func() bool { return s.ConnectionCount() == 1 })
	sess := s.Sessions()[0]
	var wg sync.WaitGroup
	for f := range foreigners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perForeigner; i++ {
				m := []byte{'F', byte(f), 0, 0, 0, 0}
				binary.BigEndian.PutUint32(m[2:], uint32(i))
				for {
					err := sess.SendTimeout(m, time.Second)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrBackpressure) && !errors.Is(err, ErrTimeout) {
						fail(err.Error())
						return
					}
				}
				published[f].Store(int64(i + 1))
				if i%64 == 63 {
					time.Sleep(100 * time.Microsecond) // lulls, in which out empties and echoes go the fast way
				}
			}
		}()
	}
	for i := 0; i < echoes; i++ {
		m := make([]byte, 4)
		binary.BigEndian.PutUint32(m, uint32(i))
		require.NoError(t, cl.SendTimeout(m, 5*time.Second))
	}
	wg.Wait()
	waitFor(t, "every message", func() bool { return done.Load() == foreigners*perForeigner+echoes })
	mu.Lock()
	require.Empty(t, fails)
	mu.Unlock()
	ch := make(chan [2]int)
	sess.c.loop.post(func() { ch <- [2]int{fast, behind} })
	paths := <-ch
	t.Logf("echoes: %d with out empty, %d behind foreign frames", paths[0], paths[1])
	require.NotZero(t, paths[1], "no foreign frame was queued while echoes went out: the test checked nothing")
	st := sess.Statistics()
	require.EqualValues(t, foreigners*perForeigner+echoes, st.MessagesSent)
	require.EqualValues(t, foreigners*perForeigner*6+echoes*(5+4*foreigners), st.BytesSent)
	require.EqualValues(t, st.MessagesSent, s.Statistics().MessagesSent)
	require.EqualValues(t, st.BytesSent, s.Statistics().BytesSent)
}

// On the fast path the high-water mark holds as on the locked one: a
// handler filling its own connection's queue gets ErrBackpressure (and
// ErrWouldBlockLoop with a timeout) once the next frame would pass the
// mark, a sender on another goroutine sees the same full queue, and
// exactly the frames accepted are counted.
func TestOwnLoopSendBackpressure(t *testing.T) {
	const limit = 64 << 10
	s := startServer(t, ServerConfig{Loops: 1, TransportConfig: TransportConfig{SendQueueLimit: limit}})
	type result struct {
		accepted      int
		queued        int64
		err, errTO    error
		foreign       error
		fastPathFirst bool
	}
	got := make(chan result, 1)
	msg := make([]byte, 1000)
	s.OnMessage(func(sess *Session, _ []byte) {
		c := sess.c
		var r result
		for {
			before := len(c.wbuf)
			err := sess.Send(msg)
			if err != nil {
				r.err = err
				break
			}
			if r.accepted == 0 {
				r.fastPathFirst = len(c.wbuf) == before+6+len(msg)
			}
			r.accepted++
		}
		r.errTO = sess.SendTimeout(msg, 10*time.Millisecond)
		r.queued = c.queued.Load()
		ferr := make(chan error)
		go func() { ferr <- sess.Send(msg) }()
		r.foreign = <-ferr
		got <- r
	})
	cl := dial(t, s, ClientConfig{})
	require.NoError(t, cl.Send([]byte("go")))
	r := <-got
	require.True(t, r.fastPathFirst, "the first send took the fast path")
	frame := 6 + len(msg)
	require.Equal(t, limit/frame, r.accepted, "frames accepted up to the mark")
	require.LessOrEqual(t, r.queued, int64(limit))
	require.Equal(t, int64(r.accepted*frame), r.queued, "queued counts exactly what was accepted")
	require.ErrorIs(t, r.err, ErrBackpressure)
	require.ErrorIs(t, r.errTO, ErrWouldBlockLoop)
	require.ErrorIs(t, r.errTO, ErrBackpressure)
	require.ErrorIs(t, r.foreign, ErrBackpressure, "another goroutine sees the queue the fast path filled")
	sess := s.Sessions()[0]
	waitFor(t, "the statistics", func() bool { return sess.Statistics().MessagesSent == uint64(r.accepted) })
	require.EqualValues(t, r.accepted*len(msg), sess.Statistics().BytesSent)
	require.EqualValues(t, 3, sess.Statistics().Errors)
	require.EqualValues(t, r.accepted, s.Statistics().MessagesSent)
}

// Nothing is sent after CLOSE: a handler's echo before its Disconnect
// arrives, one after it fails with ErrClosed and never reaches the peer.
func TestOwnLoopSendNothingAfterClose(t *testing.T) {
	s := startServer(t, ServerConfig{Loops: 1})
	after := make(chan error, 1)
	s.OnMessage(func(sess *Session, msg []byte) {
		require.NoError(t, sess.Send([]byte("before")))
		require.NoError(t, sess.Disconnect("bye"))
		after <- sess.Send([]byte("after"))
	})
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "raw"})
	p.write(wire.AppendFrame(nil, wire.TypeData, 0, []byte("x")))
	f, ok := p.next()
	require.True(t, ok)
	require.Equal(t, wire.TypeData, f.typ)
	require.Equal(t, "before", string(f.payload))
	f, ok = p.next()
	require.True(t, ok)
	require.Equal(t, wire.TypeClose, f.typ, "CLOSE follows the message sent before it, nothing else")
	require.ErrorIs(t, <-after, ErrClosed)
	p.write(wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, wire.CloseNormal, "ok")))
	p.expectEOF()
}

// A message a foreign goroutine queued while the handler runs goes out
// ahead of the handler's echo: the fast path moves it from out into the
// write buffer first.
func TestOwnLoopSendAfterForeignQueued(t *testing.T) {
	s := startServer(t, ServerConfig{Loops: 1})
	release := make(chan struct{})
	absorbed := make(chan bool, 1)
	s.OnMessage(func(sess *Session, msg []byte) {
		// Queue from another goroutine while this handler runs: out now
		// holds a frame, so the echo must follow it.
		ferr := make(chan error)
		go func() { ferr <- sess.Send([]byte("foreign")) }()
		if err := <-ferr; err != nil {
			panic(err)
		}
		c := sess.c
		busy := c.outBusy.Load()
		before := len(c.wbuf) - c.woff
		require.NoError(t, sess.Send(msg))
		c.mu.Lock()
		out := len(c.out)
		c.mu.Unlock()
		absorbed <- busy && out == 0 && len(c.wbuf)-c.woff == before+6+len("foreign")+6+len(msg)
		<-release
	})
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "raw"})
	p.write(wire.AppendFrame(nil, wire.TypeData, 0, []byte("echo")))
	require.True(t, <-absorbed, "the foreign frame moved into wbuf, the echo behind it")
	close(release)
	for _, want := range []string{"foreign", "echo"} {
		f, ok := p.next()
		require.True(t, ok)
		require.Equal(t, wire.TypeData, f.typ)
		require.Equal(t, want, string(f.payload))
	}
}
