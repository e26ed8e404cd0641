// Command echo-client is the Go example echo client of netsys. It follows
// the command-line contract that every language's example client shares
// (examples/README.md), so the cross-language demo can run any client
// against any server:
//
//	echo-client --port P [--host 127.0.0.1] [--count 1000] [--size 64] [--timeout 10s]
//
// It connects, sends --count messages of --size bytes one at a time, checks
// that each comes back unchanged, and prints one line:
//
//	go client: 1000/1000 echoed, 31250 msg/s, p50 29 us
//
// It exits 0 on success and 1 with a message on stderr on any failure
// (connect, send, wrong echo, lost connection, or the whole run taking
// longer than --timeout); 2 for bad arguments.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	host := flag.String("host", "127.0.0.1", "server host")
	port := flag.Int("port", 0, "server port (required)")
	count := flag.Int("count", 1000, "number of messages")
	size := flag.Int("size", 64, "message size in bytes")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline for the whole run, connect included")
	flag.Parse()

	opts := options{Host: *host, Port: *port, Count: *count, Size: *size, Timeout: *timeout}
	if err := opts.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "go client: %v\n", err)
		flag.Usage()
		os.Exit(2)
	}
	res, err := run(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go client: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(res.summary("go"))
}
