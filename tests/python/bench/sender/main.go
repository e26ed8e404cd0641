// Command sender is the load source of the Python binding's benchmark
// (tests/python/bench/bench_python.py): it connects with the Go core, sends
// -count messages of -size bytes as fast as the connection takes them, and
// exits. Sending from another process keeps the producer off the Python
// process's GIL and CPU, so the benchmark measures delivery into Python.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/netsys/netsys/core"
)

func main() {
	host := flag.String("host", "127.0.0.1", "server host")
	port := flag.Int("port", 0, "server port (required)")
	count := flag.Int("count", 1000000, "messages to send")
	size := flag.Int("size", 64, "message size in bytes")
	flag.Parse()
	if *port <= 0 || *count <= 0 || *size < 0 {
		fmt.Fprintln(os.Stderr, "sender: need -port > 0, -count > 0, -size >= 0")
		os.Exit(2)
	}
	if err := run(*host, *port, *count, *size); err != nil {
		fmt.Fprintln(os.Stderr, "sender:", err)
		os.Exit(1)
	}
}

// run sends count messages; a full send queue waits (bounded) for room, so
// the receiver's pace sets the rate.
func run(host string, port, count, size int) error {
	cl, err := core.NewClient(core.ClientConfig{ClientID: "bench-sender", ConnectTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	if err := cl.Connect(host, port); err != nil {
		return err
	}
	defer cl.Stop()
	msg := make([]byte, size)
	for i := 0; i < count; i++ {
		if err := cl.SendTimeout(msg, 30*time.Second); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return nil
}
