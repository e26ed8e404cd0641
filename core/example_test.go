package core_test

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/netsys/netsys/core"
)

// A server that echoes every message back to the session that sent it, and a
// client that sends one message and prints the reply.
func Example() {
	srv, err := core.NewServer("echo", core.ServerConfig{Port: 0, BindAddress: "127.0.0.1"})
	if err != nil {
		panic(err)
	}
	srv.OnMessage(func(s *core.Session, msg []byte) {
		_ = s.Send(msg) // Send copies msg, so echoing the handler's slice is safe
	})
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Stop()

	cl, err := core.NewClient(core.ClientConfig{ClientID: "example"})
	if err != nil {
		panic(err)
	}
	replies := make(chan string, 1)
	cl.OnMessage(func(msg []byte) { replies <- string(msg) }) // string() copies
	if err := cl.Connect("127.0.0.1", srv.Port()); err != nil {
		panic(err)
	}
	defer cl.Stop()

	if err := cl.Send([]byte("hello")); err != nil {
		panic(err)
	}
	select {
	case r := <-replies:
		fmt.Println("reply:", r)
	case <-time.After(5 * time.Second):
		fmt.Println("no reply")
	}
	// Output: reply: hello
}

// Broadcast sends one message to every open session of a server.
func ExampleServer_Broadcast() {
	srv, err := core.NewServer("news", core.ServerConfig{BindAddress: "127.0.0.1"})
	if err != nil {
		panic(err)
	}
	joined := make(chan struct{}, 2)
	srv.OnConnect(func(*core.Session) { joined <- struct{}{} })
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Stop()

	got := make(chan string, 2)
	for i := 0; i < 2; i++ {
		cl, err := core.NewClient(core.ClientConfig{})
		if err != nil {
			panic(err)
		}
		cl.OnMessage(func(msg []byte) { got <- string(msg) })
		if err := cl.Connect("127.0.0.1", srv.Port()); err != nil {
			panic(err)
		}
		defer cl.Stop()
		<-joined
	}
	n, err := srv.Broadcast([]byte("tick"))
	fmt.Println("sent to", n, "sessions, error:", err)
	fmt.Println(<-got, <-got)
	// Output:
	// sent to 2 sessions, error: <nil>
	// tick tick
}

// A refused connect matches both the package's sentinel and the system
// error behind it.
func ExampleClient_Connect_refused() {
	cl, err := core.NewClient(core.ClientConfig{ConnectTimeout: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	// Port 1 on the loopback address is closed on a normal machine.
	err = cl.Connect("127.0.0.1", 1)
	var nerr *core.Error
	if errors.As(err, &nerr) {
		fmt.Println("operation:", nerr.Op)
	}
	fmt.Println("closed:", errors.Is(err, core.ErrClosed), "refused:", errors.Is(err, syscall.ECONNREFUSED))
	// Output:
	// operation: connect
	// closed: true refused: true
}
