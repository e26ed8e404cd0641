package core

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

// readConn is an open server connection without a socket, for feeding
// whole reads to the receive path.
func readConn(t *testing.T, s *Server) *conn {
	l, err := newLoop(nil, 0, 0)
	require.NoError(t, err)
	t.Cleanup(func() { l.poller.Close() })
	c := newConn(l, -1, s, &s.cfg.TransportConfig, stHandshake)
	benchOpen(c)
	c.sess = &Session{c: c, id: 1}
	return c
}

// oneRead is n plain DATA frames "0".."n-1", with extra appended.
func oneRead(n int, extra ...byte) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = wire.AppendFrame(b, wire.TypeData, 0, []byte(fmt.Sprint(i)))
	}
	return append(b, extra...)
}

// The read loop that takes a read's messages in one pass keeps every rule
// of the message-by-message path: a panic is reported and the next message
// is still delivered; a handler set inside a handler applies from the next
// message (global or batch), a per-session one from the message whose
// handling set it (also when that handler then panics); a pause stops at
// its message and the rest comes on resume, a close stops at its message;
// empty messages come as empty slices; a frame it does not handle (a PING
// here, an incomplete frame) goes to the decoder, and messages after it
// still come.
func TestOneReadLoopKeepsTheMessageRules(t *testing.T) {
	t.Run("panic", func(t *testing.T) {
		s := newTestServer(t)
		var got []string
		var reported int
		s.OnError(func(*Session, error) { reported++ })
		s.OnMessage(func(_ *Session, m []byte) {
			got = append(got, string(m))
			if string(m) == "2" || string(m) == "5" {
				panic("boom")
			}
		})
		c := readConn(t, s)
		require.True(t, c.feed(oneRead(8)))
		require.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7"}, got)
		require.Equal(t, 2, reported)
		require.EqualValues(t, 8, c.sess.Statistics().MessagesReceived)
	})
	t.Run("statistics", func(t *testing.T) {
		s := newTestServer(t)
		s.OnMessage(func(_ *Session, m []byte) {
			if string(m) == "3" {
				panic("boom")
			}
		})
		c := readConn(t, s)
		require.True(t, c.feed(oneRead(12)))
		st := c.sess.Statistics()
		require.EqualValues(t, 12, st.MessagesReceived)
		require.EqualValues(t, 10+2*2, st.BytesReceived, "payload bytes: \"0\"..\"9\", \"10\", \"11\"")
	})
	t.Run("swap", func(t *testing.T) {
		s := newTestServer(t)
		var got []string
		second := func(_ *Session, m []byte) { got = append(got, "B"+string(m)) }
		s.OnMessage(func(_ *Session, m []byte) {
			got = append(got, "A"+string(m))
			if string(m) == "1" {
				s.OnMessage(second)
			}
		})
		c := readConn(t, s)
		require.True(t, c.feed(oneRead(4)))
		require.Equal(t, []string{"A0", "A1", "B2", "B3"}, got)
	})
	t.Run("batch and per-session handlers set mid-read", func(t *testing.T) {
		s := newTestServer(t)
		var got []string
		s.OnMessage(func(sess *Session, m []byte) {
			got = append(got, "A"+string(m))
			if string(m) == "1" {
				sess.OnMessage(func(_ *Session, m []byte) { got = append(got, "S"+string(m)) })
			}
		})
		c := readConn(t, s)
		require.True(t, c.feed(oneRead(3)))
		require.Equal(t, []string{"A0", "A1", "S1", "A2", "S2"}, got, "the message whose handler set it, too")

		got = nil
		s3 := newTestServer(t)
		s3.OnMessage(func(sess *Session, m []byte) {
			got = append(got, "A"+string(m))
			if string(m) == "0" {
				sess.OnMessage(func(_ *Session, m []byte) { got = append(got, "S"+string(m)) })
				panic("after setting the session's handler")
			}
		})
		c3 := readConn(t, s3)
		require.True(t, c3.feed(oneRead(2)))
		require.Equal(t, []string{"A0", "S0", "A1", "S1"}, got)

		got = nil
		s2 := newTestServer(t)
		s2.OnMessage(func(_ *Session, m []byte) {
			got = append(got, "A"+string(m))
			if string(m) == "0" {
				s2.OnMessageBatch(func(_ *Session, msgs [][]byte) {
					for _, m := range msgs {
						got = append(got, "M"+string(m))
					}
				})
			}
		})
		c2 := readConn(t, s2)
		require.True(t, c2.feed(oneRead(3)))
		require.Equal(t, []string{"A0", "M1", "M2"}, got)
	})
	t.Run("pause", func(t *testing.T) {
		s := newTestServer(t)
		var got []string
		s.OnMessage(func(sess *Session, m []byte) {
			got = append(got, string(m))
			if string(m) == "1" {
				c := sess.c
				c.setPaused(pauseHost, true) // what PauseReading does on the loop
			}
		})
		c := readConn(t, s)
		require.False(t, c.feed(oneRead(4)), "reading stops at the pause")
		require.Equal(t, []string{"0", "1"}, got)
		c.setPaused(pauseHost, false)
		require.Equal(t, []string{"0", "1", "2", "3"}, got, "the rest on resume")
	})
	t.Run("pause then panic", func(t *testing.T) {
		s := newTestServer(t)
		var got []string
		s.OnMessage(func(sess *Session, m []byte) {
			got = append(got, string(m))
			if string(m) == "1" {
				sess.c.setPaused(pauseHost, true)
				panic("after pausing")
			}
		})
		c := readConn(t, s)
		require.False(t, c.feed(oneRead(4)), "reading stops at the pause")
		require.Equal(t, []string{"0", "1"}, got)
		c.setPaused(pauseHost, false)
		require.Equal(t, []string{"0", "1", "2", "3"}, got, "the rest on resume")
	})
	t.Run("close", func(t *testing.T) {
		s := newTestServer(t)
		var got []string
		s.OnMessage(func(sess *Session, m []byte) {
			got = append(got, string(m))
			if string(m) == "1" {
				require.NoError(t, sess.Disconnect("enough"))
			}
		})
		c := readConn(t, s)
		c.loop.g.Store(getg()) // this goroutine plays the loop: the close is at once
		require.False(t, c.feed(oneRead(4)), "reading stops at the close")
		require.Equal(t, []string{"0", "1"}, got)
	})
	t.Run("empty messages", func(t *testing.T) {
		s := newTestServer(t)
		var got []string
		s.OnMessage(func(_ *Session, m []byte) {
			require.Equal(t, len(m), cap(m), "a message cannot be appended to in place")
			got = append(got, fmt.Sprintf("%q", m))
		})
		c := readConn(t, s)
		read := wire.AppendFrame(nil, wire.TypeData, 0, nil)
		read = append(read, oneRead(1)...)
		read = wire.AppendFrame(read, wire.TypeData, 0, nil) // the read ends with it
		require.True(t, c.feed(read[:len(read):len(read)]))
		require.Equal(t, []string{`""`, `"0"`, `""`}, got)
		require.EqualValues(t, 3, c.sess.Statistics().MessagesReceived)
		require.EqualValues(t, 1, c.sess.Statistics().BytesReceived)
	})
	t.Run("other frames and a partial one", func(t *testing.T) {
		s := newTestServer(t)
		var got []string
		s.OnMessage(func(_ *Session, m []byte) { got = append(got, string(m)) })
		c := readConn(t, s)
		read := oneRead(2)
		read = wire.AppendFrame(read, wire.TypePong, 0, nil)
		read = append(read, oneRead(2)...)
		partial := wire.AppendFrame(nil, wire.TypeData, 0, []byte("tail"))
		require.True(t, c.feed(append(read, partial[:5]...)))
		require.Equal(t, []string{"0", "1", "0", "1"}, got)
		require.True(t, c.feed(append(append([]byte(nil), partial[5:]...), oneRead(2)...)))
		require.Equal(t, []string{"0", "1", "0", "1", "tail", "0", "1"}, got, "the cut frame first, then the rest")
	})
}

func newTestServer(t *testing.T) *Server {
	s, err := NewServer("feed", ServerConfig{})
	require.NoError(t, err)
	return s
}

// The same one-pass loop in batching mode keeps the batch rules: a batch
// that reaches its room goes at once and the next starts; a pause asked
// for by a batch handler stops the read after that batch and the rest
// comes on resume; a frame the loop does not handle ends the batch before
// it, and a cut frame is finished first on the next read.
func TestOneReadBatchLoopKeepsTheBatchRules(t *testing.T) {
	batchesOf := func(t *testing.T, room int, onBatch func(*Session, [][]byte)) (*conn, *[][]string) {
		s := newTestServer(t)
		var got [][]string
		s.OnMessageBatch(func(sess *Session, msgs [][]byte) {
			var b []string
			for _, m := range msgs {
				b = append(b, string(m))
			}
			got = append(got, b)
			if onBatch != nil {
				onBatch(sess, msgs)
			}
		})
		if room > 0 {
			s.LimitMessageBatches(func() (int, int) { return room, 1 << 20 })
		}
		return readConn(t, s), &got
	}
	t.Run("room", func(t *testing.T) {
		c, got := batchesOf(t, 3, nil)
		require.True(t, c.feed(oneRead(8)))
		require.Equal(t, [][]string{{"0", "1", "2"}, {"3", "4", "5"}, {"6", "7"}}, *got)
		require.EqualValues(t, 8, c.sess.Statistics().MessagesReceived)
	})
	t.Run("byte room", func(t *testing.T) {
		s := newTestServer(t)
		var sizes []int
		s.OnMessageBatch(func(_ *Session, msgs [][]byte) { sizes = append(sizes, len(msgs)) })
		s.LimitMessageBatches(func() (int, int) { return 100, 2 })
		c := readConn(t, s)
		require.True(t, c.feed(oneRead(5)))
		require.Equal(t, []int{2, 2, 1}, sizes, "one-byte messages, two bytes of room")
	})
	t.Run("pause", func(t *testing.T) {
		var c *conn
		c, got := batchesOf(t, 2, func(sess *Session, msgs [][]byte) {
			if string(msgs[0]) == "2" {
				sess.c.setPaused(pauseHost, true)
			}
		})
		require.False(t, c.feed(oneRead(7)), "reading stops at the pause")
		require.Equal(t, [][]string{{"0", "1"}, {"2", "3"}}, *got)
		c.setPaused(pauseHost, false)
		require.Equal(t, [][]string{{"0", "1"}, {"2", "3"}, {"4", "5"}, {"6"}}, *got, "the rest on resume")
	})
	t.Run("other frames and a partial one", func(t *testing.T) {
		c, got := batchesOf(t, 0, nil)
		read := oneRead(2)
		read = wire.AppendFrame(read, wire.TypePong, 0, nil)
		read = append(read, oneRead(3)...)
		partial := wire.AppendFrame(nil, wire.TypeData, 0, []byte("tail"))
		require.True(t, c.feed(append(read, partial[:5]...)))
		require.Equal(t, [][]string{{"0", "1"}, {"0", "1", "2"}}, *got)
		require.True(t, c.feed(append(append([]byte(nil), partial[5:]...), oneRead(2)...)))
		require.Equal(t, [][]string{{"0", "1"}, {"0", "1", "2"}, {"tail"}, {"0", "1"}}, *got,
			"the cut frame first (a batch of its own: it lies in the decoder's buffer), then the rest")
	})
}
