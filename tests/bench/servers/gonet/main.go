// Command gonet is the Go standard library peer of the benchmark: one
// goroutine per connection over net.TCPConn, the design most Go programs
// would pick instead of netsys. It is written the way a careful Go programmer
// would: one Write per Read, so echoes of a batch of frames leave in one
// syscall, and a small initial buffer that only grows for a connection that
// fills it, so idle connections stay cheap.
package main

import (
	"log"
	"net"
	"sync/atomic"

	"github.com/netsys/netsys/tests/bench/internal/proto"
)

const (
	initialBuf = 4 << 10  // what bufio.NewReader would use
	grownBuf   = 64 << 10 // for connections that keep their buffer full
)

func main() {
	addr, err := proto.ListenAddr()
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	var ids atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c.(*net.TCPConn), ids.Add(1))
	}
}

// serve runs one connection until the peer leaves or breaks the protocol.
func serve(c *net.TCPConn, id uint64) {
	defer c.Close()
	e := proto.Echoer{SessionID: id}
	buf := make([]byte, initialBuf)
	var out []byte
	have := 0
	for {
		n, err := c.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		used, o, perr := e.Process(buf[:have], out[:0])
		out = o
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
		if perr != nil {
			return
		}
		have = copy(buf, buf[used:have])
		// Grow when the buffer was filled (a busy connection) or cannot hold
		// the frame that has started.
		need := len(buf)
		if have == len(buf) || n == len(buf) {
			need = max(need, grownBuf)
		}
		if have >= proto.HeaderSize {
			need = max(need, proto.HeaderSize+proto.ParseHeader(buf).Length)
		}
		if need > len(buf) {
			nb := make([]byte, need)
			copy(nb, buf[:have])
			buf = nb
		}
	}
}
