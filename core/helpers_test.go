package core

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startServer starts a loopback server on an ephemeral port; it is stopped
// when the test ends.
func startServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.BindAddress == "" {
		cfg.BindAddress = "127.0.0.1"
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	s, err := NewServer("test", cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(func() { s.Stop() })
	return s
}

// dial connects a client to s; it is stopped when the test ends.
func dial(t *testing.T, s *Server, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	require.NoError(t, err)
	require.NoError(t, c.Connect("127.0.0.1", s.Port()))
	t.Cleanup(func() { c.Stop() })
	return c
}

// inbox collects copies of received messages.
type inbox struct {
	mu   sync.Mutex
	msgs [][]byte
	ch   chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1<<16)} }

func (in *inbox) add(msg []byte) {
	in.mu.Lock()
	in.msgs = append(in.msgs, append([]byte(nil), msg...))
	in.mu.Unlock()
	select {
	case in.ch <- struct{}{}:
	default:
	}
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

func (in *inbox) all() [][]byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([][]byte(nil), in.msgs...)
}

// waitFor polls cond for up to 10 s: long enough for a loaded CI machine,
// and it returns as soon as cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
