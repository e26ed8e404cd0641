package core

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Engine is a set of event loops. Each loop is one goroutine that owns its
// connections: it reads, decodes, runs handlers and flushes writes for them,
// so no connection ever needs a goroutine of its own.
//
// A Server creates its own Engine; clients share DefaultEngine unless
// ClientConfig.Engine names another.
type Engine struct {
	loops   []*loop
	wg      sync.WaitGroup
	stopped atomic.Bool
	next    atomic.Uint32
}

// NewEngine starts an engine with n loops (n <= 0: one per CPU). spin makes
// idle loops poll without sleeping for that long before blocking, trading
// CPU for latency.
func NewEngine(n int, spin time.Duration) (*Engine, error) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	e := &Engine{}
	for i := 0; i < n; i++ {
		l, err := newLoop(e, i, spin)
		if err != nil {
			for _, l := range e.loops {
				l.poller.Close()
			}
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	ready := make(chan struct{}, n)
	for _, l := range e.loops {
		e.wg.Add(1)
		go l.run(ready)
	}
	for range e.loops {
		<-ready
	}
	return e, nil
}

var (
	defaultEngine     *Engine
	defaultEngineErr  error
	defaultEngineOnce sync.Once
)

// DefaultEngine returns the process-wide engine that clients use by default,
// starting it on first use with one loop per CPU. It is never closed.
func DefaultEngine() (*Engine, error) {
	defaultEngineOnce.Do(func() { defaultEngine, defaultEngineErr = NewEngine(0, 0) })
	return defaultEngine, defaultEngineErr
}

// Close stops the loops after closing every connection they own, and waits
// for them to exit. Called on an event loop (inside a handler, of this
// engine or another) it does not wait: the loops exit in the background.
func (e *Engine) Close() error {
	if !e.stopped.CompareAndSwap(false, true) {
		return nil
	}
	for _, l := range e.loops {
		l.post(l.shutdown)
	}
	if !onAnyLoop() {
		e.wg.Wait()
	}
	return nil
}

// pick chooses a loop for a new connection: the one with the fewest
// connections, so long-lived and short-lived connections spread evenly
// (round-robin drifts when lifetimes differ). Ties go round-robin.
func (e *Engine) pick() *loop {
	start := int(e.next.Add(1))
	best := e.loops[start%len(e.loops)]
	for i := 1; i < len(e.loops); i++ {
		l := e.loops[(start+i)%len(e.loops)]
		if l.nconns.Load() < best.nconns.Load() {
			best = l
		}
	}
	return best
}

// onLoop reports whether the calling goroutine is one of e's loops, i.e.
// whether we are inside one of its handlers.
func (e *Engine) onLoop() bool {
	id := getg()
	for _, l := range e.loops {
		if l.g.Load() == id {
			return true
		}
	}
	return false
}
