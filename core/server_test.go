package core

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEcho(t *testing.T) {
	s := startServer(t, ServerConfig{})
	s.OnMessage(func(sess *Session, msg []byte) { sess.Send(msg) })
	c := dial(t, s, ClientConfig{ClientID: "echo"})
	in := newInbox()
	c.OnMessage(in.add)
	for i := 0; i < 100; i++ {
		require.NoError(t, c.Send([]byte(fmt.Sprintf("msg-%d", i))))
	}
	waitFor(t, "100 echoes", func() bool { return in.count() == 100 })
	for i, m := range in.all() {
		require.Equal(t, fmt.Sprintf("msg-%d", i), string(m))
	}
	require.Equal(t, 1, s.ConnectionCount())
	require.Equal(t, "echo", s.Sessions()[0].ClientID())
}
