package handoff

import (
	"sync"

	"github.com/netsys/netsys/core"
)

// Funcs are what Workers call, on the worker goroutines.
type Funcs struct {
	// Deliver is called for each event (required). ev and its Data are
	// valid only during the call.
	Deliver func(ev *Event)
	// Batch, when set and Batching reports true, is called instead of
	// Deliver for each run of consecutive messages of kind BatchKind, of
	// one session and without a Tag: base holds their data back to back
	// and msgs are its subslices, in arrival order (valid only during the
	// call). One call for many small messages is what makes them cheap to
	// hand to a consumer whose every call has a fixed cost.
	Batch     func(session uint64, base []byte, msgs [][]byte)
	Batching  func() bool
	BatchKind uint32
	// Recovered, when set, is called with the value of a panic in Deliver
	// or Batch and the kind of the event; the worker goes on with the next
	// event either way (a consumer's bug must not stop every later
	// delivery, nor kill the process).
	Recovered func(kind uint32, r any)
}

// Workers runs a consumer's functions on a fixed set of goroutines. A
// session always maps to the same worker, which keeps its events in order;
// a slow event delays only the sessions of its worker.
//
// Push copies each message once; the data stays valid until its Deliver
// or Batch call returns. The events queued and their bytes count in the
// Backlog given to NewWorkers until their call has returned.
// All methods are safe for concurrent use; none waits on a loop.
type Workers struct {
	backlog *core.Backlog
	funcs   Funcs
	workers []*worker
	quit    chan struct{}
	once    sync.Once
}

type worker struct {
	pool *Workers
	mu   sync.Mutex
	buf  slab
	wake chan struct{}
	msgs [][]byte // batch scratch (the worker goroutine only)
	ev   Event    // what Deliver gets (a local would escape to the heap once per event)
}

// NewWorkers starts n (at least 1) workers counting into backlog.
func NewWorkers(n int, backlog *core.Backlog, f Funcs) *Workers {
	p := &Workers{backlog: backlog, funcs: f, quit: make(chan struct{})}
	for i := 0; i < max(n, 1); i++ {
		w := &worker{pool: p, wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go w.run()
	}
	return p
}

// Len is the number of workers.
func (p *Workers) Len() int { return len(p.workers) }

// PushMessage queues a message for the session's worker. When the backlog
// is over its bound, src (the connection it came from; nil for none) is
// paused until the backlog drains.
func (p *Workers) PushMessage(kind uint32, session uint64, msg []byte, tag any, src core.Pausable) {
	over := p.backlog.Add(len(msg))
	p.pick(session).push(kind, 0, session, msg, "", false, tag)
	if over {
		p.backlog.Pause(src)
	}
}

// PushNotice queues a notice (its text counts against the byte bound, but
// a notice never pauses anyone: it has no connection to pause).
func (p *Workers) PushNotice(kind uint32, status int32, session uint64, text string) {
	p.backlog.Add(len(text))
	p.pick(session).push(kind, status, session, nil, text, true, nil)
}

// Stop makes the workers exit once their queues are empty. It does not
// wait for them.
func (p *Workers) Stop() { p.once.Do(func() { close(p.quit) }) }

func (p *Workers) pick(session uint64) *worker { return p.workers[session%uint64(len(p.workers))] }

func (w *worker) push(kind uint32, status int32, session uint64, msg []byte, text string, isText bool, tag any) {
	w.mu.Lock()
	w.buf.add(kind, status, session, msg, text, isText, tag)
	first := len(w.buf.events) == 1
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// run swaps the queue out in one step and delivers what it took, so
// pushers are never blocked behind a slow call.
func (w *worker) run() {
	var mine slab
	p := w.pool
	for {
		w.mu.Lock()
		mine, w.buf = w.buf, mine
		w.mu.Unlock()
		if len(mine.events) == 0 {
			select {
			case <-w.wake:
				continue
			case <-p.quit:
				w.mu.Lock()
				empty := len(w.buf.events) == 0
				w.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		for i := 0; i < len(mine.events); {
			if n := w.batchable(mine.events[i:]); n > 0 {
				w.deliverBatch(&mine, mine.events[i:i+n])
				i += n
				continue
			}
			w.ev = mine.event(i)
			w.deliver(&w.ev)
			i++
		}
		w.ev = Event{} // keeps no slab or tag alive
		p.backlog.Consumed(len(mine.events), mine.dataBytes())
		mine.reset()
	}
}

// batchable is how many events at the head of evs go in one Batch call:
// the consecutive untagged messages of one session, or 0.
func (w *worker) batchable(evs []slot) int {
	f := &w.pool.funcs
	if f.Batch == nil || evs[0].kind != f.BatchKind || evs[0].text || evs[0].tag != nil || !f.Batching() {
		return 0
	}
	n := 1
	for n < len(evs) && evs[n].kind == f.BatchKind && !evs[n].text && evs[n].tag == nil && evs[n].session == evs[0].session {
		n++
	}
	return n
}

func (w *worker) deliver(ev *Event) {
	defer w.recover(ev.Kind)
	w.pool.funcs.Deliver(ev)
}

// deliverBatch hands evs (consecutive slots of s) to Batch: their data is
// contiguous in s, so base is the span from the first to the last.
func (w *worker) deliverBatch(s *slab, evs []slot) {
	defer w.recover(evs[0].kind)
	first, last := evs[0], evs[len(evs)-1]
	base := s.data[first.off : last.off+last.size]
	w.msgs = w.msgs[:0]
	for i := range evs {
		w.msgs = append(w.msgs, base[evs[i].off-first.off:][:evs[i].size:evs[i].size])
	}
	w.pool.funcs.Batch(first.session, base, w.msgs)
	clear(w.msgs) // no stale slice keeps a released slab alive
}

func (w *worker) recover(kind uint32) {
	if r := recover(); r != nil && w.pool.funcs.Recovered != nil {
		w.pool.funcs.Recovered(kind, r)
	}
}

// slot is one queued event; its data (payload, or text and a zero byte)
// is slab.data[off : off+size(+1)].
type slot struct {
	kind    uint32
	status  int32
	session uint64
	off     int
	size    int
	text    bool
	tag     any
}

// slab stores events with their data packed in one buffer, so queuing a
// message costs a copy and no allocation once the buffer has grown.
type slab struct {
	events []slot
	data   []byte
}

func (b *slab) add(kind uint32, status int32, session uint64, msg []byte, text string, isText bool, tag any) {
	off := len(b.data)
	size := len(msg)
	if isText {
		b.data = append(b.data, text...)
		b.data = append(b.data, 0)
		size = len(text)
	} else {
		b.data = append(b.data, msg...)
	}
	b.events = append(b.events, slot{kind: kind, status: status, session: session, off: off, size: size, text: isText, tag: tag})
}

// event is slot i as an Event (a text's Data has room for its zero byte).
func (b *slab) event(i int) Event {
	s := &b.events[i]
	span := s.size
	if s.text {
		span++
	}
	return Event{Kind: s.kind, Status: s.status, Session: s.session, Data: b.data[s.off : s.off+s.size : s.off+span],
		Text: s.text, Tag: s.tag}
}

// dataBytes sums the data sizes of the events, payloads and texts alike
// (what the backlog counts).
func (b *slab) dataBytes() int {
	n := 0
	for i := range b.events {
		n += b.events[i].size
	}
	return n
}

func (b *slab) reset() {
	clear(b.events) // no stale tag stays reachable from the spare capacity
	b.events = b.events[:0]
	if cap(b.data) > retainedBytes {
		b.data = nil
	} else {
		b.data = b.data[:0]
	}
}
