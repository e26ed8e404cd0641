package core

import (
	"iter"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/core/internal/poll"
)

const (
	readBufferSize = 256 << 10
	// maxReadsPerEvent bounds back-to-back reads of one busy socket so the
	// other connections of the loop are not starved.
	maxReadsPerEvent = 8
	tickInterval     = 100 * time.Millisecond
	// retainScratchBuffer is the largest scratch buffer a loop keeps.
	retainScratchBuffer = 1 << 20
)

// fdHandler is what a loop dispatches readiness to: a connection or a listener.
type fdHandler interface {
	onReadable()
	onWritable()
}

// loop is one event loop: a poller, the connections it owns, and a queue of
// tasks other goroutines hand it.
type loop struct {
	eng    *Engine
	id     int
	poller *poll.Poller
	spin   time.Duration
	g      atomic.Uintptr // the loop goroutine's identity (getg) while it runs
	nconns atomic.Int32

	// Owned by the loop goroutine.
	fds map[int]fdHandler // what is polled without a token: listeners
	// conns holds the loop's connections by slot (nil: free); a slot+1 is
	// the poller token of a connection's events. A table, not maps by fd
	// and by connection: those cost an idle connection ~90 bytes at 2,000
	// connections, the table 8 (it keeps its peak size until it empties).
	conns   []*conn
	free    []int32 // free slots of conns
	readBuf []byte
	batch   []MessageSpan // messages of the current read, in batching mode
	batchIn []byte        // the memory those messages lie in (the decoder's input)
	// batchMsgs is the batch as slices, for a handler that takes them
	// (Server.OnMessageBatch); emptied after each call.
	batchMsgs [][]byte
	// batchRoom, batchRoomBytes: what the batch may still take before it
	// is delivered (the endpoint's batchRoom, counted down).
	batchRoom, batchRoomBytes int
	// recvMsgs, recvBytes count the messages of the current read, for its
	// connection's statistics at the read's end: kept here like the batch,
	// as one connection decodes at a time, so an idle one holds no counters.
	recvMsgs, recvBytes uint64
	// reading is the connection whose read is being decoded, nil between
	// reads; sentMsgs, sentBytes count what sendOwn took for it, for its
	// statistics at the read's end (conn.endOwnSends).
	reading             *conn
	sentMsgs, sentBytes uint64
	events              []poll.Event
	now                 time.Time
	closing             bool
	// scratchBufs receive decompressed and decoded messages, alternately.
	scratchBufs [2][]byte

	// Shared with other goroutines, under mu.
	mu       sync.Mutex
	tasks    []func()
	dirty    []*conn
	exited   bool
	sleeping atomic.Bool
	wakeSent atomic.Bool

	// wakeMu orders wake's write to the poller's descriptor against the
	// poller's close: a waker that won the wakeSent race may be preempted
	// before it writes, and by then the loop may have exited and its
	// descriptor number been reused by an unrelated file.
	wakeMu       sync.RWMutex
	pollerClosed bool
}

func newLoop(e *Engine, id int, spin time.Duration) (*loop, error) {
	p, err := poll.New()
	if err != nil {
		return nil, err
	}
	return &loop{
		eng: e, id: id, poller: p, spin: spin,
		fds:     make(map[int]fdHandler),
		readBuf: make([]byte, readBufferSize),
		events:  make([]poll.Event, poll.MaxEvents),
		now:     time.Now(),
	}, nil
}

// monoEpoch anchors mono; its monotonic clock reading makes mono immune to
// wall-clock jumps.
var monoEpoch = time.Now()

// mono is t as nanoseconds since monoEpoch (never 0 for a loop's time): a
// connection's timers are int64s, not 24-byte time.Times, because an idle
// connection's size is what 10,000 of them cost.
func mono(t time.Time) int64 { return int64(t.Sub(monoEpoch)) + 1 }

// loopGoroutines holds the identities (getg) of every running loop, of
// every engine: a caller on any loop must never wait for another loop (two
// loops waiting for each other would deadlock).
var loopGoroutines sync.Map // uintptr -> *loop

// onAnyLoop reports whether the caller runs on an event loop goroutine, of
// any engine.
func onAnyLoop() bool {
	_, ok := loopGoroutines.Load(getg())
	return ok
}

// onLoop reports whether the caller is this loop's goroutine.
func (l *loop) onLoop() bool { return l.g.Load() == getg() }

// post runs fn on the loop goroutine at its next iteration. It reports false
// if the loop has exited and fn will never run.
func (l *loop) post(fn func()) bool {
	l.mu.Lock()
	if l.exited {
		l.mu.Unlock()
		return false
	}
	l.tasks = append(l.tasks, fn)
	l.mu.Unlock()
	l.wake()
	return true
}

// markDirty asks the loop to flush c at the end of its iteration.
func (l *loop) markDirty(c *conn) {
	l.mu.Lock()
	l.dirty = append(l.dirty, c)
	l.mu.Unlock()
	l.wake()
}

// wake interrupts the poller, but only if the loop is (about to be) asleep
// and nobody woke it already: a busy loop picks the work up by itself.
func (l *loop) wake() {
	if l.sleeping.Load() && l.wakeSent.CompareAndSwap(false, true) {
		if hook := wakeHook.Load(); hook != nil {
			(*hook)(l)
		}
		l.wakeMu.RLock()
		if !l.pollerClosed {
			l.poller.Wake()
		}
		l.wakeMu.RUnlock()
	}
}

// wakeHook, when set (by tests), runs in wake between winning the right to
// wake and the write to the poller.
var wakeHook atomic.Pointer[func(*loop)]

// closePoller releases the poller once no wake can write to it any more.
func (l *loop) closePoller() {
	l.wakeMu.Lock()
	l.pollerClosed = true
	l.poller.Close()
	l.wakeMu.Unlock()
}

func (l *loop) run(ready chan<- struct{}) {
	defer l.eng.wg.Done()
	id := getg()
	l.g.Store(id)
	loopGoroutines.Store(id, l)
	ready <- struct{}{}
	var tasks []func()
	var dirty []*conn
	nextTick := time.Now().Add(tickInterval)
	for {
		l.mu.Lock()
		tasks, l.tasks = l.tasks, tasks[:0]
		l.mu.Unlock()
		for i, fn := range tasks {
			fn()
			tasks[i] = nil
		}
		l.mu.Lock()
		dirty, l.dirty = l.dirty, dirty[:0]
		l.mu.Unlock()
		for i, c := range dirty {
			c.flush()
			dirty[i] = nil
		}
		if l.closing && l.connCount() == 0 {
			l.mu.Lock()
			l.exited = len(l.tasks) == 0
			l.mu.Unlock()
			if l.exited {
				break
			}
			continue
		}
		n := l.wait(nextTick)
		for _, ev := range l.events[:n] {
			h := l.handler(ev)
			if h == nil {
				continue
			}
			if ev.Writable {
				h.onWritable()
			}
			if ev.Readable && l.handler(ev) == h {
				h.onReadable()
			}
		}
		if l.now.After(nextTick) {
			nextTick = l.now.Add(tickInterval)
			for c := range l.eachConn() {
				c.tick(l.now)
			}
		}
	}
	// Forget the identity before the goroutine ends: its descriptor may be
	// reused by a later goroutine.
	loopGoroutines.Delete(id)
	l.g.Store(0)
	l.closePoller()
}

// wait polls for events, spinning first if configured, and sleeps in the
// poller only when there is no queued work.
func (l *loop) wait(nextTick time.Time) int {
	if l.spin > 0 {
		deadline := time.Now().Add(l.spin)
		for {
			n, _ := l.poller.Wait(l.events, 0)
			l.now = time.Now()
			if n > 0 || l.hasWork() {
				return n
			}
			if l.now.After(deadline) {
				break // nothing came: sleep in the poller below
			}
		}
	}
	// Yield once before blocking in the kernel (as gnet does). Measured on
	// a pipelined echo with the server on one CPU (GOMAXPROCS=1): without
	// it the runtime's monitor thread woke every few tens of µs to take the
	// loop's P from the blocked wait and hand it back (a second thread as
	// busy as a third of the loop's), 349 against 241 ns of CPU per
	// message, and ping-pong p99 was 124-138 against 110-113 µs; with more
	// Ps it changes nothing measurable.
	runtime.Gosched()
	l.sleeping.Store(true)
	timeout := int(time.Until(nextTick)/time.Millisecond) + 1
	if l.hasWork() {
		timeout = 0
	}
	n, _ := l.poller.Wait(l.events, timeout)
	l.sleeping.Store(false)
	l.wakeSent.Store(false)
	l.now = time.Now()
	return n
}

func (l *loop) hasWork() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tasks) > 0 || len(l.dirty) > 0
}

// handler is what an event is for: the connection its token names (if
// that slot still holds a connection of that fd: events of one Wait may
// outlive their connection), else what is registered for its fd.
func (l *loop) handler(ev poll.Event) fdHandler {
	if ev.Token == 0 {
		return l.fds[ev.Fd]
	}
	if i := int(ev.Token) - 1; i < len(l.conns) {
		if c := l.conns[i]; c != nil && int(c.fd) == ev.Fd {
			return c
		}
	}
	return nil
}

// register gives c a slot and polls its fd with the slot's token.
func (l *loop) register(c *conn, write bool) error {
	var slot int32
	if n := len(l.free); n > 0 {
		slot, l.free = l.free[n-1], l.free[:n-1]
	} else {
		slot = int32(len(l.conns))
		l.conns = append(l.conns, nil)
	}
	c.slot = slot
	if err := l.poller.Add(int(c.fd), c.token(), true, write); err != nil {
		l.free = append(l.free, slot)
		return err
	}
	l.conns[slot] = c
	return nil
}

// unregisterConn stops polling c and frees its slot, if c has one (a
// connection may end before it was attached); the table is released when
// its last connection goes.
func (l *loop) unregisterConn(c *conn) {
	if int(c.slot) >= len(l.conns) || l.conns[c.slot] != c {
		return
	}
	l.poller.Delete(int(c.fd))
	l.conns[c.slot] = nil
	l.free = append(l.free, c.slot)
	if len(l.free) == len(l.conns) {
		l.conns, l.free = nil, nil
	}
}

// connCount is the number of connections in the table.
func (l *loop) connCount() int { return len(l.conns) - len(l.free) }

// eachConn yields the loop's connections; they may be removed (and others
// added, not yielded) meanwhile.
func (l *loop) eachConn() iter.Seq[*conn] {
	return func(yield func(*conn) bool) {
		for _, c := range l.conns {
			if c != nil && !yield(c) {
				return
			}
		}
	}
}

func (l *loop) unregister(fd int) {
	delete(l.fds, fd)
	l.poller.Delete(fd)
}

// shutdown closes every connection of the loop at once (the graceful part
// of a stop happened before) and lets run exit.
func (l *loop) shutdown() {
	l.closing = true
	for c := range l.eachConn() {
		c.abort("engine stopped")
	}
	for fd, h := range l.fds {
		if ln, ok := h.(*listener); ok {
			ln.close()
		}
		delete(l.fds, fd)
	}
}

// scratch returns scratch buffer i, emptied.
func (l *loop) scratch(i int) []byte { return l.scratchBufs[i][:0] }

// keepScratch keeps the (possibly grown) buffer for reuse, unless it grew
// past the retention limit.
func (l *loop) keepScratch(i int, b []byte) {
	if cap(b) <= retainScratchBuffer {
		l.scratchBufs[i] = b
	}
}
