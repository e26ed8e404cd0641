//go:build linux

package core

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

func TestGracefulStopLeavesNoGoroutineOrFD(t *testing.T) {
	DefaultEngine() // started once per process, never stopped: not a leak
	time.Sleep(50 * time.Millisecond)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	eng, err := NewEngine(2, 0)
	require.NoError(t, err)
	s, err := NewServer("leak", ServerConfig{BindAddress: "127.0.0.1", Loops: 2})
	require.NoError(t, err)
	require.NoError(t, s.Start())
	s.OnMessage(func(sess *Session, m []byte) { sess.Send(m) })
	var clients []*Client
	for i := 0; i < 20; i++ {
		c, err := NewClient(ClientConfig{Engine: eng})
		require.NoError(t, err)
		require.NoError(t, c.Connect("127.0.0.1", s.Port()))
		require.NoError(t, c.Send([]byte("hello")))
		clients = append(clients, c)
	}
	require.NoError(t, clients[0].Stop())
	require.NoError(t, s.Stop())
	s.Wait()
	for _, c := range clients {
		c.Stop()
		c.Wait()
	}
	require.NoError(t, eng.Close())

	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
	require.Equal(t, fds, openFDs(t), "every fd is closed")
}
