package core

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Pausable is a source of messages whose reading can be paused for a
// reason: *Session and *Client.
type Pausable interface {
	PauseReadingFor(PauseReason)
	ResumeReadingFor(PauseReason)
}

// Backlog bounds the messages a consumer has received but not consumed
// yet, for consumers that queue messages outside their handlers (the C
// library's event queue and callback workers). Past either bound (events
// or bytes) the source whose message crossed it is paused with
// PauseQueue; once the backlog is down to half of both bounds, every
// source it paused resumes. Nothing is dropped, and a pause of any other
// reason (the application's PauseReading) is never undone by it.
//
// Ordering: Pause runs on the source's own event loop, inside its handler,
// so it takes effect at once; a resume runs on the consumer's thread and is
// posted to the loop, so it can never overtake the pause it undoes.
// All methods are safe for concurrent use; none waits on a loop.
type Backlog struct {
	pending, bytes        atomic.Int64 // queued, or held by the consumer
	limit, byteLimit      atomic.Int64
	heldEvents, heldBytes atomic.Int64 // the part of pending and bytes held (Hold)

	mu     sync.Mutex
	paused map[Pausable]struct{}
}

// SetLimits sets the bounds: events and message bytes (both > 0).
func (b *Backlog) SetLimits(events, bytes int64) {
	b.limit.Store(events)
	b.byteLimit.Store(bytes)
}

// Add counts one queued event of n message bytes and reports whether a
// bound is now exceeded (the caller then pauses the event's source).
func (b *Backlog) Add(n int) bool { return b.AddMany(1, n) }

// AddMany is Add for several events of bytes message bytes in all.
func (b *Backlog) AddMany(events, bytes int) bool {
	p := b.pending.Add(int64(events))
	s := b.bytes.Add(int64(bytes))
	return p > b.limit.Load() || s > b.byteLimit.Load()
}

// Room is how many more events and message bytes fit under the bounds now
// (0 or less when a bound is reached): what Server.LimitMessageBatches
// asks of a consumer queueing whole batches.
func (b *Backlog) Room() (events, bytes int) {
	return int(b.limit.Load() - b.pending.Load()), int(b.byteLimit.Load() - b.bytes.Load())
}

// Pause pauses src with PauseQueue (once, however many times it is called
// before the backlog drains). nil is ignored.
func (b *Backlog) Pause(src Pausable) {
	if src == nil {
		return
	}
	b.mu.Lock()
	if b.paused == nil {
		b.paused = make(map[Pausable]struct{})
	}
	_, already := b.paused[src]
	b.paused[src] = struct{}{}
	b.mu.Unlock()
	if !already {
		src.PauseReadingFor(PauseQueue)
	}
	// The consumer may have drained the backlog between Add and the line
	// that recorded src above, and found nothing to resume; if nothing else
	// resumes src it would stay paused with an empty queue.
	if b.drained() {
		b.resumeAll()
	}
}

// Consumed counts events (with their message bytes) the consumer has
// taken, and resumes the paused sources once the backlog is down to half.
func (b *Backlog) Consumed(events, bytes int) {
	b.pending.Add(-int64(events))
	b.bytes.Add(-int64(bytes))
	if b.drained() {
		b.resumeAll()
	}
}

// Hold counts events (and their message bytes) the consumer has taken but
// not finished with as still pending; negative counts release them. A
// consumer with a backlog of its own (unfinished asynchronous handlers, a
// receive buffer) thus shares this one bound and its one pause reason
// instead of keeping a watermark of its own. Releasing more than is held
// fails with ErrInvalidArgument and changes nothing.
func (b *Backlog) Hold(events, bytes int64) error {
	for {
		e, s := b.heldEvents.Load(), b.heldBytes.Load()
		if e+events < 0 || s+bytes < 0 {
			return newError("hold events", "", ErrInvalidArgument, fmt.Sprintf(
				"releases %d events of %d bytes, but %d events of %d bytes are held", -events, -bytes, e, s), nil)
		}
		if !b.heldEvents.CompareAndSwap(e, e+events) {
			continue
		}
		if !b.heldBytes.CompareAndSwap(s, s+bytes) {
			b.heldEvents.Add(-events) // another Hold moved the bytes: retry both
			continue
		}
		break
	}
	b.pending.Add(events)
	b.bytes.Add(bytes)
	if (events < 0 || bytes < 0) && b.drained() {
		b.resumeAll()
	}
	return nil
}

// Pending reports the events and bytes counted now: queued, or held by the
// consumer.
func (b *Backlog) Pending() (events, bytes int64) { return b.pending.Load(), b.bytes.Load() }

// drained reports whether the backlog is down to half of both bounds.
func (b *Backlog) drained() bool {
	return b.pending.Load() <= b.limit.Load()/2 && b.bytes.Load() <= b.byteLimit.Load()/2
}

// resumeAll resumes every paused source, each exactly once (the set is
// taken under the lock).
func (b *Backlog) resumeAll() {
	b.mu.Lock()
	paused := b.paused
	b.paused = nil
	b.mu.Unlock()
	for src := range paused {
		src.ResumeReadingFor(PauseQueue)
	}
}
