package main

import (
	"os"
	"runtime"
	"sync"
)

// minProcs is the fewest processors (GOMAXPROCS) the library's Go runtime
// runs with once a server or client delivers through the pull interface
// or callback workers.
const minProcs = 2

var raiseProcsOnce sync.Once

// ensureProcs gives the library's Go runtime (its own: the host is not a
// Go program) a second processor where it has one, as it does when the
// process may use a single CPU (taskset, or a container limited to one).
// In the pull interface and with callback workers, threads other than the
// event loops run Go code at the same time as them: the host's threads
// inside a poll or a send, the workers inside a callback. On one processor
// each of them waits for a loop to give the processor up and the loop then
// waits for them: measured on one CPU, a 64 B ping-pong through the pull
// interface took about twice as long (p50 230 against 110 µs) and a
// pipelined echo a third more CPU per message. Two processors on one CPU
// let the kernel time-share those threads as it does any others. Callback
// delivery on the loops is left alone: its callbacks run on the loop's
// thread, and a second processor only added CPU to a ping-pong there.
// GOMAXPROCS set in the environment is left as it is.
func ensureProcs() {
	raiseProcsOnce.Do(func() {
		if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < minProcs {
			runtime.GOMAXPROCS(minProcs)
		}
	})
}
