package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core"
)

// startServer runs an in-process loopback server whose handler is h.
func startServer(t *testing.T, h func(*core.Session, []byte)) int {
	t.Helper()
	srv, err := core.NewServer("echo-client-test", core.ServerConfig{BindAddress: "127.0.0.1", Loops: 1})
	require.NoError(t, err)
	srv.OnMessage(h)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { srv.Stop() })
	return srv.Port()
}

func opts(port int) options {
	return options{Host: "127.0.0.1", Port: port, Count: 200, Size: 64, Timeout: 5 * time.Second}
}

func TestEchoesAreCountedAndSummarized(t *testing.T) {
	port := startServer(t, func(s *core.Session, m []byte) { s.Send(m) })
	for _, size := range []int{1, 8, 64, 100_000} {
		o := opts(port)
		o.Size = size
		res, err := run(o)
		require.NoError(t, err, "size %d", size)
		require.Equal(t, 200, res.Echoed)
		require.Len(t, res.RTTs, 200)
		require.Regexp(t, `^go client: 200/200 echoed, [0-9]+ msg/s, p50 [0-9]+ us$`, res.summary("go"))
	}
}

func TestCorruptedEchoFails(t *testing.T) {
	port := startServer(t, func(s *core.Session, m []byte) {
		bad := append([]byte{}, m...)
		bad[len(bad)-1] ^= 1
		s.Send(bad)
	})
	_, err := run(opts(port))
	require.ErrorContains(t, err, "echo 0 differs from the message sent at byte 63")
}

func TestReorderedEchoFails(t *testing.T) {
	// Echo message 0 as message 1's reply and so on: same sizes, wrong order.
	var previous []byte
	port := startServer(t, func(s *core.Session, m []byte) {
		if previous == nil {
			previous = append([]byte{}, m...)
			s.Send(m)
			return
		}
		s.Send(previous)
		previous = append(previous[:0], m...)
	})
	_, err := run(opts(port))
	require.ErrorContains(t, err, "echo 1 differs")
}

func TestMissingEchoTimesOut(t *testing.T) {
	var seen int
	port := startServer(t, func(s *core.Session, m []byte) {
		if seen++; seen < 10 {
			s.Send(m)
		}
	})
	o := opts(port)
	o.Timeout = 500 * time.Millisecond
	_, err := run(o)
	require.ErrorContains(t, err, "timeout: 9 of 200 echoes within 500ms")
}

func TestLostConnectionFailsFast(t *testing.T) {
	port := startServer(t, func(s *core.Session, m []byte) { s.Disconnect("going away") })
	start := time.Now()
	_, err := run(opts(port))
	require.ErrorContains(t, err, "connection lost after 0 of 200 echoes: going away")
	require.Less(t, time.Since(start), 4*time.Second, "did not wait for the timeout")
}

func TestExtraMessagesFail(t *testing.T) {
	port := startServer(t, func(s *core.Session, m []byte) {
		s.Send(m)
		s.Send([]byte("unsolicited"))
	})
	_, err := run(opts(port))
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "nobody asked for") || strings.Contains(err.Error(), "echo 1 has"),
		"unexpected error: %v", err)
}

func TestNoServerFails(t *testing.T) {
	srv, err := core.NewServer("closed", core.ServerConfig{BindAddress: "127.0.0.1", Loops: 1})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	port := srv.Port()
	require.NoError(t, srv.Stop()) // nothing listens on port any more
	_, err = run(options{Host: "127.0.0.1", Port: port, Count: 1, Size: 1, Timeout: 2 * time.Second})
	require.ErrorContains(t, err, "cannot connect")
}

func TestOptionsAreValidated(t *testing.T) {
	good := opts(1)
	require.NoError(t, good.validate())
	for name, mutate := range map[string]func(*options){
		"port":    func(o *options) { o.Port = 0 },
		"count":   func(o *options) { o.Count = 0 },
		"size":    func(o *options) { o.Size = 0 },
		"host":    func(o *options) { o.Host = "" },
		"timeout": func(o *options) { o.Timeout = 0 },
	} {
		o := good
		mutate(&o)
		require.ErrorContains(t, o.validate(), "--"+name, name)
	}
}
