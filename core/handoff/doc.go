// Package handoff hands the events of a netsys server or client to code
// that runs outside the event loops: a pool of worker goroutines that call
// the consumer once per event, in order per session (Workers), or a queue
// the consumer drains when it likes (Inbox).
//
// A loop's handler may not wait, but a consumer on another runtime (a C
// thread, a Python interpreter, a worker pool) often must. Handing off is
// how the two meet: the loop copies each message once into the queue and
// goes on; the consumer takes it later. What the queue holds is counted in
// a core.Backlog shared with the consumer, so when the consumer falls
// behind, the connection whose message crossed the bound stops being read
// (core.PauseQueue: TCP backpressure, nothing dropped) and resumes once the
// backlog is down to half. A pause the application asked for is never
// undone by that.
//
// The C library delivers every callback and every polled event through
// this package; Go programs that pass messages to another runtime can use
// it the same way, from their OnMessage and OnConnect handlers.
package handoff

// Event is one handed-off event: a message, or a notice such as a connect,
// a disconnect or an error. Kind, Status, Session and Tag are the pusher's
// and come back unchanged.
type Event struct {
	Kind    uint32
	Status  int32
	Session uint64
	// Data is the message, or the notice's text. A text is followed in
	// memory by a zero byte (Data[:len(Data)+1] is valid), so it can be
	// handed on as a terminated string without another copy. The queue
	// owns Data: Workers and Inbox say how long it stays valid.
	Data []byte
	// Text is set for notices (Data is text).
	Text bool
	// Tag is a value the pusher attached to a message (PushMessage).
	Tag any
}

// Memory is where an Inbox keeps event data: Go's heap by default, or
// memory a consumer outside Go can read directly (the C library's).
type Memory interface {
	// Alloc returns n bytes, or nil when there is no memory left (the
	// event is then refused, never a panic under the queue's lock).
	Alloc(n int) []byte
	// Free gives back a block that Alloc returned.
	Free(b []byte)
}

// goMemory is the default Memory: Go's heap.
type goMemory struct{}

func (goMemory) Alloc(n int) []byte { return make([]byte, n) }
func (goMemory) Free([]byte)        {}

// retainedBytes bounds the scratch memory a queue keeps once drained:
// larger buffers (left by a burst) are released.
const retainedBytes = 4 << 20
