package main

import (
	"bytes"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/tests/reliability/internal/wireraw"
)

// garbage: random bytes, before or after the handshake.
func garbage(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	parallel(o.n, func(i int) {
		junk := make([]byte, o.size)
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		attack{from: p.pick(), handshake: o.afterHello, deadline: time.Now().Add(dialTimeout + o.wait),
			send: func(c *net.TCPConn, _ <-chan struct{}) (int, error) { return writeAll(c, junk) },
		}.run(o.addr, col)
	})
	return col.result()
}

// lengthCase is a frame header announcing an absurd length.
type lengthCase struct {
	name   string
	header []byte
	want   string // expected outcome label before / after the handshake
}

func lengthCases(afterHello bool) []lengthCase {
	h := wireraw.Header
	// Before WELCOME every error is a REJECT 2003 (docs/protocol.md); after
	// it, oversize DATA is CLOSE 1009 and any other oversize frame 1002.
	want := func(open string) string {
		if afterHello {
			return open
		}
		return "REJECT 2003"
	}
	return []lengthCase{
		{"DATA 4 GiB-1", h(0xffffffff, wireraw.Data, 0), want("CLOSE 1009")},
		{"DATA 2 GiB", h(1<<31, wireraw.Data, 0), want("CLOSE 1009")},
		{"DATA limit+1", h(1<<20+1, wireraw.Data, 0), want("CLOSE 1009")},
		{"HELLO 4 GiB-1", h(0xffffffff, wireraw.Hello, 0), want("CLOSE 1002")},
		{"HELLO 65536", h(65536, wireraw.Hello, 0), want("CLOSE 1002")},
		{"PING 65", h(65, wireraw.Ping, 0), want("CLOSE 1002")},
		{"PONG 1 MiB", h(1<<20, wireraw.Pong, 0), want("CLOSE 1002")},
		{"CLOSE 16 MiB", h(16<<20, wireraw.Close, 0), want("CLOSE 1002")},
		{"type 0x42 1 GiB", h(1<<30, 0x42, 0), want("CLOSE 1002")},
	}
}

// lengths: one connection per absurd header; each must be refused at once.
func lengths(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	cases := lengthCases(o.afterHello)
	var mu sync.Mutex
	parallel(len(cases)*o.repeat, func(i int) {
		tc := cases[i%len(cases)]
		out, ok := attack{from: p.pick(), handshake: o.afterHello, deadline: time.Now().Add(dialTimeout + o.wait),
			send: func(c *net.TCPConn, _ <-chan struct{}) (int, error) { return writeAll(c, tc.header) },
		}.run(o.addr, col)
		if ok && i < len(cases) {
			mu.Lock()
			col.r.Cases = append(col.r.Cases, judge(i, tc.name, tc.want, out))
			mu.Unlock()
		}
	})
	return col.result()
}

// judge compares an outcome with the expected label ("" accepts any
// refusal that ended the connection within the wait).
func judge(index int, name, want string, o wireraw.Outcome) Case {
	got := o.Label()
	ok := got == want
	if want == "" {
		ok = o.Kind == "REJECT" || o.Kind == "CLOSE"
	}
	return Case{index: index, Name: name, Want: want, Got: got, Reason: truncate(o.Reason, 100), EndMs: ms(o.After), Matches: ok}
}

// truncated: after the handshake, a DATA header announcing -decl bytes and
// 10 of them, then silence for -duration.
func truncated(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	parallel(o.n, func(int) {
		attack{from: p.pick(), handshake: true, deadline: time.Now().Add(o.duration),
			send: func(c *net.TCPConn, _ <-chan struct{}) (int, error) {
				return writeAll(c, append(wireraw.Header(uint32(o.decl), wireraw.Data, 0), make([]byte, 10)...))
			},
		}.run(o.addr, col)
	})
	return col.result()
}

// truncatedHello: the first 9 bytes of a HELLO frame, then silence; the
// handshake timeout must end it.
func truncatedHello(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	parallel(o.n, func(int) {
		attack{from: p.pick(), deadline: time.Now().Add(o.duration),
			send: func(c *net.TCPConn, _ <-chan struct{}) (int, error) {
				return writeAll(c, hello().Frame()[:9])
			},
		}.run(o.addr, col)
	})
	return col.result()
}

// preHello: a first frame of every type but HELLO.
func preHello(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	cases := []struct {
		name  string
		frame []byte
	}{
		{"DATA first", wireraw.Frame(wireraw.Data, 0, []byte("early"))},
		{"empty DATA first", wireraw.Frame(wireraw.Data, 0, nil)},
		{"compressed DATA first", wireraw.Frame(wireraw.Data, wireraw.FlagCompressed, []byte("x"))},
		{"PING first", wireraw.Frame(wireraw.Ping, 0, []byte("12345678"))},
		{"PONG first", wireraw.Frame(wireraw.Pong, 0, nil)},
		{"CLOSE first", wireraw.Frame(wireraw.Close, 0, wireraw.CodeReason(1000, "bye"))},
		{"WELCOME first", wireraw.Frame(wireraw.Welcome, 0, make([]byte, 20))},
		{"REJECT first", wireraw.Frame(wireraw.Reject, 0, wireraw.CodeReason(2001, "x"))},
		{"type 0x00 first", wireraw.Frame(0x00, 0, nil)},
		{"type 0xff first", wireraw.Frame(0xff, 0, nil)},
		{"HELLO with reserved flag", append(wireraw.Header(uint32(len(hello().Payload())), wireraw.Hello, 0x80), hello().Payload()...)},
		{"HELLO with COMPRESSED flag", append(wireraw.Header(uint32(len(hello().Payload())), wireraw.Hello, 0x01), hello().Payload()...)},
		{"two HELLOs", append(hello().Frame(), hello().Frame()...)},
	}
	var mu sync.Mutex
	parallel(len(cases)*o.repeat, func(i int) {
		tc := cases[i%len(cases)]
		want := "REJECT 2003"
		if tc.name == "two HELLOs" {
			want = "CLOSE 1002" // the first is welcomed; the second arrives on an open connection
		}
		out, ok := attack{from: p.pick(), deadline: time.Now().Add(dialTimeout + o.wait),
			send: func(c *net.TCPConn, _ <-chan struct{}) (int, error) { return writeAll(c, tc.frame) },
		}.run(o.addr, col)
		if ok && i < len(cases) {
			mu.Lock()
			col.r.Cases = append(col.r.Cases, judge(i, tc.name, want, out))
			mu.Unlock()
		}
	})
	return col.result()
}

// handshakeFlood: -n connections open and send a valid HELLO at the same
// instant; every one must be answered (WELCOME, or REJECT 2001 past a
// limit) within -wait.
func handshakeFlood(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	frame := hello().Frame()
	var slowest atomic.Int64
	start := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(o.n)
	var t0 time.Time
	var wg sync.WaitGroup
	for range o.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := p.pick()
			ready.Done()
			<-start
			c, err := wireraw.Dial(o.addr, from, dialTimeout)
			if err != nil {
				col.dialError()
				col.note("%v", err)
				return
			}
			defer c.Close()
			col.opened()
			c.SetDeadline(time.Now().Add(dialTimeout + o.wait))
			c.Write(frame) // a refused connection may be gone already: its REJECT is still readable
			out := firstAnswer(c, time.Now().Add(dialTimeout+o.wait))
			el := time.Since(t0)
			out.After = el
			for {
				old := slowest.Load()
				if int64(el) <= old || slowest.CompareAndSwap(old, int64(el)) {
					break
				}
			}
			col.add(out)
		}()
	}
	ready.Wait()
	t0 = time.Now()
	close(start)
	wg.Wait()
	col.note("all %d answered within %v of the start", o.n, time.Duration(slowest.Load()).Round(time.Millisecond))
	return col.result()
}

// silent: connect and never speak, for -duration (with -reconnect, a
// closed connection is opened again, as a determined attacker would).
func silent(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	until := time.Now().Add(o.duration)
	parallel(o.n, func(int) {
		for attempt := 0; attempt < 1000 && time.Now().Before(until); attempt++ {
			attack{from: p.pick(), deadline: until,
				send: func(*net.TCPConn, <-chan struct{}) (int, error) { return 0, nil },
			}.run(o.addr, col)
			if !o.reconnect {
				return
			}
			time.Sleep(o.reconnectDelay)
		}
	})
	return col.result()
}

// slowloris: -n connections each sending a HELLO that announces 65,000
// bytes, one byte per -interval, for -duration; with -reconnect a closed
// connection comes back after -reconnect-delay.
func slowloris(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	until := time.Now().Add(o.duration)
	payload := append(wireraw.Header(65000, wireraw.Hello, 0), hello().Payload()...)
	payload = append(payload, bytes.Repeat([]byte{0}, 65000)...)
	parallel(o.n, func(i int) {
		// Spread the start over one interval, as real slowloris peers do.
		time.Sleep(time.Duration(i) * o.interval / time.Duration(max(o.n, 1)))
		for attempt := 0; attempt < 1000 && time.Now().Before(until); attempt++ {
			attack{from: p.pick(), concurrent: true, deadline: until,
				send: func(c *net.TCPConn, stop <-chan struct{}) (int, error) {
					return dribble(c, payload, o.interval, stop)
				},
			}.run(o.addr, col)
			if !o.reconnect || !sleepOrStop(o.reconnectDelay, nil) {
				return
			}
		}
	})
	return col.result()
}

// floodUnread writes chunk over and over as fast as the socket takes it,
// never reading, until -bytes are out, a write stalls for the stall time
// (the server stopped reading us) or fails (the server closed).
func floodUnread(c *net.TCPConn, total int64, chunk []byte, stall time.Duration) (written int64, why string) {
	for written < total {
		c.SetWriteDeadline(time.Now().Add(stall))
		n, err := c.Write(chunk)
		written += int64(n)
		switch {
		case err == nil:
		case wireraw.IsTimeout(err):
			return written, "server stopped reading (write stalled)"
		default:
			return written, "write failed: " + err.Error()
		}
	}
	return written, "all bytes written"
}

// unreadAttack handshakes, floods with chunk without ever reading, holds
// until -duration, then drains what the server sent to see how it ended.
func unreadAttack(o *options, chunk []byte) *Result {
	col := newCollector()
	p := newPicker(o.from)
	until := time.Now().Add(o.duration)
	parallel(o.n, func(int) {
		c, err := wireraw.Dial(o.addr, p.pick(), dialTimeout)
		if err != nil {
			col.dialError()
			return
		}
		defer wireraw.Reset(c)
		col.opened()
		c.SetReadBuffer(64 << 10)
		if _, err := wireraw.Handshake(c, hello(), dialTimeout); err != nil {
			col.add(wireraw.Outcome{Kind: "ERROR", Reason: err.Error()})
			return
		}
		start := time.Now()
		n, why := floodUnread(c, o.bytes, chunk, 2*time.Second)
		col.sent(int(n))
		col.note("%d MiB written in %v: %s", n>>20, time.Since(start).Round(time.Millisecond), why)
		sleepOrStop(time.Until(until), nil)
		// Now read: a server that closed us has said so (CLOSE, then EOF);
		// one that did not keeps the connection open past the wait.
		col.add(wireraw.AwaitEnd(c, time.Now().Add(o.wait)))
	})
	return col.result()
}

// slowConsumer: DATA messages to the echo server, never reading the echoes.
func slowConsumer(o *options) *Result {
	msg := wireraw.Frame(wireraw.Data, 0, bytes.Repeat([]byte("s"), o.size))
	return unreadAttack(o, bytes.Repeat(msg, max(1, (256<<10)/len(msg))))
}

// pingFlood: PINGs (64-byte payloads), never reading the PONGs.
func pingFlood(o *options) *Result {
	ping := wireraw.Frame(wireraw.Ping, 0, bytes.Repeat([]byte("p"), 64))
	return unreadAttack(o, bytes.Repeat(ping, (256<<10)/len(ping)))
}

// resets: -n cycles (-concurrency at once) of handshake, half a frame, RST.
func resets(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	half := append(wireraw.Header(1000, wireraw.Data, 0), make([]byte, 500)...)
	bounded(o.n, o.concurrency, func(int) {
		c, err := wireraw.Dial(o.addr, p.pick(), dialTimeout)
		if err != nil {
			col.dialError()
			return
		}
		col.opened()
		if _, err := wireraw.Handshake(c, hello(), dialTimeout); err != nil {
			col.add(wireraw.Outcome{Kind: "ERROR", Reason: err.Error()})
			c.Close()
			return
		}
		n, _ := writeAll(c, half)
		col.sent(n)
		wireraw.Reset(c)
		col.add(wireraw.Outcome{Kind: "RESET"})
	})
	return col.result()
}

// beyondFull: connections to a full server that, instead of leaving, send
// HELLO and then DATA headers announcing -decl bytes plus 64 KiB of them:
// a refused connection must cost nothing while it is being closed.
func beyondFull(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	attackBytes := append(hello().Frame(), wireraw.Header(uint32(o.decl), wireraw.Data, 0)...)
	attackBytes = append(attackBytes, make([]byte, 64<<10)...)
	parallel(o.n, func(int) {
		attack{from: p.pick(), deadline: time.Now().Add(dialTimeout + o.wait),
			send: func(c *net.TCPConn, _ <-chan struct{}) (int, error) { return writeAll(c, attackBytes) },
		}.run(o.addr, col)
	})
	return col.result()
}

// dataHeaders: a bare 6-byte DATA header announcing -decl bytes, before
// any HELLO, held for -duration.
func dataHeaders(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	until := time.Now().Add(o.duration)
	parallel(o.n, func(int) {
		attack{from: p.pick(), deadline: until,
			send: func(c *net.TCPConn, _ <-chan struct{}) (int, error) {
				return writeAll(c, wireraw.Header(uint32(o.decl), wireraw.Data, 0))
			},
		}.run(o.addr, col)
	})
	return col.result()
}

// trickle: after the handshake, a DATA header announcing -decl bytes, then
// one byte of it per -interval for -duration.
func trickle(o *options) *Result {
	col := newCollector()
	p := newPicker(o.from)
	until := time.Now().Add(o.duration)
	body := make([]byte, int(min(o.decl, 1<<16)))
	parallel(o.n, func(int) {
		attack{from: p.pick(), handshake: true, concurrent: true, deadline: until,
			send: func(c *net.TCPConn, stop <-chan struct{}) (int, error) {
				n, err := writeAll(c, wireraw.Header(uint32(o.decl), wireraw.Data, 0))
				if err != nil {
					return n, err
				}
				m, err := dribble(c, body, o.interval, stop)
				return n + m, err
			},
		}.run(o.addr, col)
	})
	return col.result()
}
