// Command echo-server is the Go example echo server of netsys. It follows
// the command-line contract that every language's example server shares
// (examples/README.md):
//
//	echo-server [--port 0] [--bind 127.0.0.1]
//
// It prints "listening on PORT" on stdout as soon as it accepts connections
// (with --port 0 the port is an ephemeral one), sends every message it
// receives back to its sender, and stops gracefully on SIGINT, SIGTERM or
// when its stdin reaches EOF, so a parent process can stop it by closing a
// pipe. On the way out it prints one line of statistics on stderr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/netsys/netsys/core"
)

// echoWait bounds how long a handler waits for room in a session's full
// send queue. Waiting stalls the event loop, which stops it reading: that
// is the backpressure that slows a client sending faster than it reads.
const echoWait = 2 * time.Second

func main() {
	port := flag.Int("port", 0, "port to listen on (0: an ephemeral port)")
	bind := flag.String("bind", "127.0.0.1", "address to listen on")
	flag.Parse()
	if *port < 0 || *port > 65535 {
		fmt.Fprintln(os.Stderr, "go server: --port must be in 0..65535")
		os.Exit(2)
	}
	if err := serve(*bind, *port); err != nil {
		fmt.Fprintf(os.Stderr, "go server: %v\n", err)
		os.Exit(1)
	}
}

func serve(bind string, port int) error {
	srv, err := newEchoServer(bind, port)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	// Signals are caught before the line goes out: whoever reads it may
	// signal at once.
	stopped := stopRequests()
	// Go's os.Stdout is unbuffered: the line is out before Println returns.
	fmt.Printf("listening on %d\n", srv.Port())

	reason := <-stopped
	if err := srv.Stop(); err != nil {
		return err
	}
	st := srv.Statistics()
	fmt.Fprintf(os.Stderr, "go server: stopped (%s): %d connections, echoed %d of %d messages\n",
		reason, st.TotalConnections, st.MessagesSent, st.MessagesReceived)
	return nil
}

// newEchoServer returns a stopped server that echoes every message.
func newEchoServer(bind string, port int) (*core.Server, error) {
	srv, err := core.NewServer("go-echo-server", core.ServerConfig{BindAddress: bind, Port: port})
	if err != nil {
		return nil, err
	}
	srv.OnMessage(func(s *core.Session, msg []byte) {
		// Send copies msg, which is only valid during this call.
		err := s.SendTimeout(msg, echoWait)
		if err == nil {
			return
		}
		// A client that does not read its echoes would stall this loop's
		// other sessions: drop it, and say so.
		fmt.Fprintf(os.Stderr, "go server: session %d: %v\n", s.ID(), err)
		if errors.Is(err, core.ErrTimeout) || errors.Is(err, core.ErrBackpressure) {
			s.Disconnect("echo queue full: read your echoes")
		}
	})
	srv.OnError(func(s *core.Session, err error) {
		if s != nil {
			fmt.Fprintf(os.Stderr, "go server: session %d: %v\n", s.ID(), err)
			return
		}
		fmt.Fprintf(os.Stderr, "go server: %v\n", err)
	})
	return srv, nil
}

// stopRequests starts watching for SIGINT, SIGTERM and EOF on stdin; the
// channel says which came first.
func stopRequests() <-chan string {
	stop := make(chan string, 2)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() { stop <- (<-signals).String() }()
	go func() {
		io.Copy(io.Discard, os.Stdin) // returns at EOF, or at once without a stdin
		stop <- "stdin closed"
	}()
	return stop
}
