// Command gnet is the gnet v2 peer of the benchmark: the best-known Go
// event-loop networking library, the closest alternative to netsys's design.
// It uses gnet the recommended way: Peek the whole inbound buffer, answer
// every complete frame with one Write, Discard what was consumed.
package main

import (
	"log"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/netsys/netsys/tests/bench/internal/proto"
)

// conn is the per-connection state kept in the gnet.Conn context.
type conn struct {
	proto.Echoer
	out []byte
}

type server struct {
	gnet.BuiltinEventEngine
	ids atomic.Uint64
}

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&conn{Echoer: proto.Echoer{SessionID: s.ids.Add(1)}})
	return nil, gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*conn)
	in, err := c.Peek(-1)
	if err != nil {
		log.Printf("peek: %v", err)
		return gnet.Close
	}
	used, out, perr := st.Process(in, st.out[:0])
	st.out = out
	// Discard(0) would drop everything buffered (gnet treats n <= 0 as
	// "all"), so an incomplete frame must not reach it.
	if used > 0 {
		if _, err := c.Discard(used); err != nil {
			return gnet.Close
		}
	}
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	if perr != nil {
		log.Printf("proto: %v", perr)
		return gnet.Close
	}
	return gnet.None
}

func main() {
	addr, err := proto.ListenAddr()
	if err != nil {
		log.Fatal(err)
	}
	// Multicore gives one loop per CPU the process may use: one when the
	// harness pins the server to a single CPU, as it does for every server.
	err = gnet.Run(&server{}, "tcp://"+addr,
		gnet.WithMulticore(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReusePort(false))
	if err != nil {
		log.Fatal(err)
	}
}
