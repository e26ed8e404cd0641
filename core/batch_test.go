package core

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// batchRecorder collects what a batch handler saw.
type batchRecorder struct {
	mu      sync.Mutex
	msgs    []string
	batches int
	largest int
}

func (r *batchRecorder) handle(_ *Session, msgs [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches++
	r.largest = max(r.largest, len(msgs))
	for _, m := range msgs {
		r.msgs = append(r.msgs, string(m))
	}
}

func (r *batchRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// Every message arrives once, in order, whatever path decoded it: straight
// from the read buffer, completed across reads, or decompressed.
func TestMessageBatchDeliversEverythingInOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec []Codec
		size  int
	}{
		{"small", nil, 16},
		{"spanning reads", nil, 100 << 10},
		{"compressed", []Codec{CodecS2}, 4 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Compression: tc.codec, MinCompressSize: 1}})
			rec := &batchRecorder{}
			s.OnMessageBatch(rec.handle)
			perSession := newInbox()
			s.OnConnect(func(sess *Session) { sess.OnMessage(func(_ *Session, m []byte) { perSession.add(m) }) })
			c := dial(t, s, ClientConfig{TransportConfig: TransportConfig{Compression: tc.codec, MinCompressSize: 1}})
			const n = 2000
			for i := range n {
				msg := make([]byte, tc.size)
				copy(msg, fmt.Sprintf("%08d", i))
				require.NoError(t, c.SendTimeout(msg, 10*time.Second))
			}
			waitFor(t, "all messages", func() bool { return rec.count() == n && perSession.count() == n })
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for i, m := range rec.msgs {
				require.Equal(t, fmt.Sprintf("%08d", i), m[:8])
				require.Len(t, m, tc.size)
			}
			for i, m := range perSession.all() {
				require.Equal(t, fmt.Sprintf("%08d", i), string(m[:8]), "per-session handler order")
			}
			if tc.name == "small" {
				require.Greater(t, rec.largest, 1, "small messages sent in a burst share batches")
			}
		})
	}
}

// Messages before a CLOSE are delivered before the disconnect; a batch
// handler may pause, disconnect and panic like any handler.
func TestMessageBatchOrderingAndControl(t *testing.T) {
	s := startServer(t, ServerConfig{})
	var events []string
	var mu sync.Mutex
	record := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	var panicked atomic.Int64
	s.OnError(func(_ *Session, err error) { panicked.Add(1) })
	s.OnMessageBatch(func(sess *Session, msgs [][]byte) {
		for _, m := range msgs {
			record(string(m))
			if string(m) == "boom" {
				panic("batch handler")
			}
		}
	})
	s.OnDisconnect(func(_ *Session, reason string) { record("disconnect: " + reason) })
	c := dial(t, s, ClientConfig{})
	for _, m := range []string{"a", "boom", "b", "c"} {
		require.NoError(t, c.Send([]byte(m)))
	}
	require.NoError(t, c.Stop())
	waitFor(t, "disconnect", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && events[len(events)-1] == "disconnect: client stopped"
	})
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "a", events[0])
	require.Equal(t, "boom", events[1])
	require.Equal(t, "disconnect: client stopped", events[len(events)-1])
	require.EqualValues(t, 1, panicked.Load(), "the panic is reported")
}

func TestMessageBatchPauseStopsAfterTheBatch(t *testing.T) {
	s := startServer(t, ServerConfig{})
	rec := &batchRecorder{}
	var paused atomic.Bool
	s.OnMessageBatch(func(sess *Session, msgs [][]byte) {
		rec.handle(sess, msgs)
		if !paused.Swap(true) {
			sess.PauseReading()
		}
	})
	c := dial(t, s, ClientConfig{})
	require.NoError(t, c.Send([]byte("first")))
	waitFor(t, "first batch", func() bool { return rec.count() == 1 })
	for i := range 100 {
		require.NoError(t, c.Send([]byte(fmt.Sprint(i))))
	}
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, 1, rec.count(), "nothing is read while paused")
	s.Sessions()[0].ResumeReading()
	waitFor(t, "rest after resume", func() bool { return rec.count() == 101 })
}

// OnMessageBatchIn names the memory a batch lies in: every message of the
// batch, whatever path decoded it (the read buffer, a frame completed
// across reads, a pause's replay), is a span of it, so a host can pass
// offsets instead of copies; and nothing is lost or reordered.
func TestMessageBatchInHoldsEveryMessage(t *testing.T) {
	for _, size := range []int{16, 100 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := startServer(t, ServerConfig{})
			var outside atomic.Int64
			rec := &batchRecorder{}
			paused := atomic.Bool{}
			s.OnMessageBatchIn(func(sess *Session, in []byte, spans []MessageSpan) {
				var msgs [][]byte
				for _, sp := range spans {
					if sp.Offset < 0 || sp.Size < 0 || sp.Offset+sp.Size > len(in) {
						outside.Add(1)
						continue
					}
					msgs = append(msgs, sp.Of(in))
				}
				rec.handle(sess, msgs)
				if !paused.Swap(true) {
					// Suspend mid-read once: the rest is replayed from a copy.
					sess.PauseReading()
					go sess.ResumeReading()
				}
			})
			c := dial(t, s, ClientConfig{})
			const n = 500
			for i := range n {
				msg := make([]byte, size)
				copy(msg, fmt.Sprintf("%08d", i))
				require.NoError(t, c.SendTimeout(msg, 10*time.Second))
			}
			waitFor(t, "every message", func() bool { return rec.count() == n })
			require.Zero(t, outside.Load(), "messages outside the memory the batch names")
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for i, m := range rec.msgs {
				require.Equal(t, fmt.Sprintf("%08d", i), m[:8])
			}
		})
	}
}

// LimitMessageBatches: no batch holds more than the room its limit gave,
// and a pause asked for by the handler stops the read after that batch,
// even in the middle of a read (the rest is delivered after the resume).
func TestLimitedBatchesStopAtTheRoomAndAPauseMidRead(t *testing.T) {
	s := startServer(t, ServerConfig{})
	rec := &batchRecorder{}
	const room, pauseAt, n = 3, 10, 2000
	var paused atomic.Bool
	s.OnMessageBatch(func(sess *Session, msgs [][]byte) {
		rec.handle(sess, msgs)
		if rec.count() >= pauseAt && !paused.Swap(true) {
			sess.PauseReadingFor(PauseQueue)
		}
	})
	s.LimitMessageBatches(func() (int, int) { return room, 1 << 20 })
	c := dial(t, s, ClientConfig{})
	// Queued before the connection's first flush: they leave in few
	// writes and arrive in few reads.
	for i := range n {
		require.NoError(t, c.Send([]byte(fmt.Sprint(i))))
	}
	waitFor(t, "the batch that pauses", func() bool { return paused.Load() })
	time.Sleep(100 * time.Millisecond)
	got := rec.count()
	require.GreaterOrEqual(t, got, pauseAt)
	require.Less(t, got, pauseAt+room, "a read went on past the batch that paused")
	s.Sessions()[0].ResumeReadingFor(PauseQueue)
	waitFor(t, "the rest after the resume", func() bool { return rec.count() == n })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.LessOrEqual(t, rec.largest, room)
	for i, m := range rec.msgs {
		require.Equal(t, fmt.Sprint(i), m)
	}
}

// offsetIn places a message in the read it aliases, and says so when it
// does not (such a message is then delivered alone, never given a span
// that points elsewhere).
func TestOffsetInPlacesOnlyWhatLiesInTheRead(t *testing.T) {
	read := []byte("hdr...firstHDR...second")
	other := []byte("elsewhere")
	for _, tc := range []struct {
		msg    []byte
		off    int
		inside bool
	}{
		{read[6:11], 6, true},
		{read[17:], 17, true},
		{read[:0], 0, true}, // empty: anywhere
		{read[20:23:23], 20, true},
		{other, 0, false},
		{other[:0], 0, true},
	} {
		off, inside := offsetIn(read[:len(read):len(read)], tc.msg)
		require.Equal(t, tc.inside, inside, "%q", tc.msg)
		require.Equal(t, tc.off, off, "%q", tc.msg)
	}
	// A message that starts in the read but runs past its end is outside.
	_, inside := offsetIn(read[:10], read[6:11])
	require.False(t, inside)
}

// A nil batch handler, of either form, restores OnMessage.
func TestNilBatchHandlerRestoresOnMessage(t *testing.T) {
	s := newTestServer(t)
	var got []string
	s.OnMessage(func(_ *Session, m []byte) { got = append(got, string(m)) })
	s.OnMessageBatch(func(*Session, [][]byte) { t.Error("batch handler called") })
	s.OnMessageBatch(nil)
	require.False(t, s.batching())
	s.OnMessageBatchIn(func(*Session, []byte, []MessageSpan) { t.Error("batch handler called") })
	s.OnMessageBatchIn(nil)
	require.False(t, s.batching())
	c := readConn(t, s)
	require.True(t, c.feed(oneRead(2)))
	require.Equal(t, []string{"0", "1"}, got)
}
