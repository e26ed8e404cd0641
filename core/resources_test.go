package core

import (
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netsys/netsys/core/internal/wire"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// When the process runs out of fds the listener stays readable; the server
// must pause accepting (reporting the error once per pause) instead of
// spinning on failing accepts, and pick the waiting connections up from the
// backlog once fds are available again.
func TestAcceptPausesWhenOutOfFDs(t *testing.T) {
	s := startServer(t, ServerConfig{})
	var acceptErrors atomic.Int64
	s.OnError(func(_ *Session, err error) { acceptErrors.Add(1) })

	// Sockets are created before the limit drops: connect needs no new fd.
	const peers = 3
	var fds []int
	for range peers {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		require.NoError(t, err)
		fds = append(fds, fd)
	}

	var saved unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &saved))
	low := saved
	low.Cur = 3 // below every fd this process holds: every new fd fails
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &low))
	restored := false
	restore := func() {
		if !restored {
			restored = true
			require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &saved))
		}
	}
	defer restore()

	addr := &unix.SockaddrInet4{Port: s.Port(), Addr: [4]byte{127, 0, 0, 1}}
	for _, fd := range fds {
		require.NoError(t, unix.Connect(fd, addr)) // completes in the backlog
	}
	time.Sleep(350 * time.Millisecond)
	restore()

	// A spinning listener reports thousands of errors in 350 ms; a pausing
	// one about one per acceptBackoff.
	n := acceptErrors.Load()
	require.GreaterOrEqual(t, n, int64(1), "the exhaustion must be reported")
	require.LessOrEqual(t, n, int64(10), "accept errors were not rate limited")

	for _, fd := range fds {
		f := os.NewFile(uintptr(fd), "peer")
		c, err := net.FileConn(f)
		f.Close()
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		p := &rawPeer{t: t, conn: c, dec: wire.Decoder{DataLimit: 1 << 20}, buf: make([]byte, 64<<10)}
		p.hello("late")
		f2, ok := p.next()
		require.True(t, ok)
		require.Equal(t, wire.TypeWelcome, f2.typ)
	}
}

// A burst grows a connection's send buffers; once it has written nothing for
// a tick they are released, so an idle connection costs little memory.
func TestIdleConnectionReleasesSendBuffers(t *testing.T) {
	s := startServer(t, ServerConfig{})
	sessions := make(chan *Session, 1)
	s.OnConnect(func(sess *Session) { sessions <- sess })
	c := dial(t, s, ClientConfig{})
	in := newInbox()
	c.OnMessage(in.add)
	sess := <-sessions

	msg := make([]byte, 8<<10)
	const burst = 512 // 4 MiB: far beyond what a flush can write at once
	for range burst {
		require.NoError(t, sess.SendTimeout(msg, 10*time.Second))
	}
	waitFor(t, "burst delivered", func() bool { return in.count() == burst })

	capacities := func() (wbuf, out int) {
		done := make(chan struct{})
		sess.c.runOnLoop(func() {
			sess.c.mu.Lock()
			wbuf, out = cap(sess.c.wbuf), cap(sess.c.out)
			sess.c.mu.Unlock()
			close(done)
		})
		<-done
		return wbuf, out
	}
	waitFor(t, "buffers released", func() bool {
		wbuf, out := capacities()
		return wbuf == 0 && out == 0
	})
}

// A failed ConnectAsync without AutoReconnect ends the client's run: the
// error arrives through OnError, Wait returns and the client can start again.
func TestConnectAsyncFailureStopsClient(t *testing.T) {
	s := startServer(t, ServerConfig{})
	port := s.Port()
	require.NoError(t, s.Stop())
	c, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	failed := make(chan error, 1)
	c.OnError(func(err error) {
		select {
		case failed <- err:
		default:
		}
	})
	require.NoError(t, c.ConnectAsync("127.0.0.1", port))
	require.Error(t, <-failed)
	stopped := make(chan struct{})
	go func() { c.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the failed connect")
	}
	require.False(t, c.IsRunning())
	s2 := startServer(t, ServerConfig{Port: port})
	require.NoError(t, c.Connect("127.0.0.1", s2.Port()))
}
