package core

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConnectRefusedCarriesTheCause(t *testing.T) {
	port := closedPort(t)
	cl, err := NewClient(ClientConfig{ConnectTimeout: 2 * time.Second})
	require.NoError(t, err)
	err = cl.Connect("127.0.0.1", port)
	require.Error(t, err)
	var nerr *Error
	require.ErrorAs(t, err, &nerr)
	require.Equal(t, "connect", nerr.Op)
	require.ErrorIs(t, err, ErrConnect, "the sentinel kind")
	require.ErrorIs(t, err, ErrClosed, "the broad kind")
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "the cause: %v", err)
	require.Contains(t, err.Error(), "connection refused")
}

func TestConfigErrorsNameFieldAndValue(t *testing.T) {
	cases := []struct {
		name string
		make func() error
		want string
	}{
		{"port", func() error { _, err := NewServer("s", ServerConfig{Port: 70000}); return err }, "Port 70000 outside 0..65535"},
		{"loops", func() error { _, err := NewServer("s", ServerConfig{Loops: -2}); return err }, "Loops is -2"},
		{"max connections", func() error { _, err := NewServer("s", ServerConfig{MaxConnections: -1}); return err }, "MaxConnections is -1"},
		{"handshake timeout", func() error {
			_, err := NewServer("s", ServerConfig{HandshakeTimeout: -time.Second})
			return err
		}, "HandshakeTimeout is -1s"},
		{"message size", func() error {
			_, err := NewServer("s", ServerConfig{TransportConfig: TransportConfig{MessageSizeLimit: 2 << 30}})
			return err
		}, "MessageSizeLimit 2147483648 outside"},
		{"send queue", func() error {
			_, err := NewClient(ClientConfig{TransportConfig: TransportConfig{SendQueueLimit: -5}})
			return err
		}, "SendQueueLimit is -5"},
		{"reconnect queue", func() error { _, err := NewClient(ClientConfig{ReconnectQueueLimit: -1}); return err }, "ReconnectQueueLimit is -1"},
		{"connect timeout", func() error {
			_, err := NewClient(ClientConfig{ConnectTimeout: -time.Millisecond})
			return err
		}, "ConnectTimeout is -1ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.make()
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Contains(t, err.Error(), tc.want)
			require.True(t, errors.Is(err, ErrInvalidArgument))
		})
	}
}

// closedPort returns a loopback port nothing listens on (it was just freed).
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}
