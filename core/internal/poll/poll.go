// Package poll wraps the platform readiness API (epoll on Linux, kqueue on
// BSD and macOS) behind one small interface that an event loop drives.
// A Poller is used by one goroutine, except Wake, which any goroutine may call.
package poll

// Event is one readiness notification.
type Event struct {
	Fd int
	// Token is the value Add or Modify last gave for Fd: a loop finds the
	// handler of a connection by it in a dense table (0: look Fd up).
	Token    uint32
	Readable bool // data, EOF or an error is waiting: a read will not block
	Writable bool // the send buffer has room again
}

// MaxEvents is how many notifications one Wait returns at most.
const MaxEvents = 256
