package main

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/tests/bench/internal/proto"
)

// endMarker is the ordinary (echoed) message that closes a stream. Servers
// handle a connection's frames in order, so its echo proves every sink
// message before it was read, parsed and handed to the application.
var endMarker = []byte("END-OF-STREAM")

// stream: one connection sends size-byte sink messages for o.dur, then the
// end marker; the figure is messages over the time until the marker's echo.
func stream(o options) (*Result, error) {
	fd, rd, err := openSession(o, 64<<10)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// Large writes make the generator's per-message cost a memcpy; beyond
	// 1 MiB nothing is gained (the loopback send path is then the limit).
	perBatch := max(1, o.batch/(proto.HeaderSize+o.size))
	batch := frames(perBatch, o.size, proto.SinkByte)
	end := proto.AppendFrame(nil, proto.TypeData, endMarker)

	var sent int64
	m := startMeter(o.serverPID)
	deadline := m.start.Add(o.dur)
	for sent < o.maxMsgs && time.Now().Before(deadline) {
		if err := writeAll(fd, batch); err != nil {
			return nil, err
		}
		sent += int64(perBatch)
	}
	if err := writeAll(fd, end); err != nil {
		return nil, err
	}
	h, p, err := rd.next()
	if err != nil {
		return nil, fmt.Errorf("waiting for the end marker's echo: %w", err)
	}
	if h.Type != proto.TypeData || !bytes.Equal(p, endMarker) {
		return nil, fmt.Errorf("expected the end marker's echo, got type 0x%02x length %d", h.Type, h.Length)
	}
	m.stop()
	res := &Result{Size: o.size, Messages: sent}
	finish(o, m, res)
	res.MBPerS = float64(sent) * float64(o.size) / res.Seconds / 1e6
	return res, nil
}

// pipeline: one connection keeps o.window echo requests in flight, topping
// the window up with one write per read.
func pipeline(o options) (*Result, error) {
	fd, rd, err := openSession(o, 256<<10)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	frameLen := proto.HeaderSize + o.size
	window := frames(o.window, o.size, 'e')

	var sent, got int64
	inflight := 0
	m := startMeter(o.serverPID)
	deadline := m.start.Add(o.dur)
	sending := true
	for {
		if sending {
			if n := o.window - inflight; n > 0 {
				if err := writeAll(fd, window[:n*frameLen]); err != nil {
					return nil, err
				}
				inflight += n
				sent += int64(n)
			}
		}
		if inflight == 0 {
			break
		}
		if err := rd.fill(); err != nil {
			return nil, err
		}
		for {
			h, _, ok := rd.frame()
			if !ok {
				break
			}
			if h.Type != proto.TypeData || h.Length != o.size {
				return nil, fmt.Errorf("unexpected frame type 0x%02x length %d", h.Type, h.Length)
			}
			inflight--
			got++
		}
		// Checking the clock once per read keeps time.Now off the per-message path.
		if sending && (sent >= o.maxMsgs || !time.Now().Before(deadline)) {
			sending = false
		}
	}
	m.stop()
	res := &Result{Size: o.size, Messages: got}
	finish(o, m, res)
	res.MBPerS = float64(got) * float64(o.size) / res.Seconds / 1e6
	return res, nil
}

// pingpong: one message in flight; every round trip is timed.
func pingpong(o options) (*Result, error) {
	fd, rd, err := openSession(o, 64<<10)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	msg := frames(1, o.size, 'p')
	// A short warm-up so the first measured round trips do not pay for
	// page faults and the server's first-use allocations.
	for range 1000 {
		if err := writeAll(fd, msg); err != nil {
			return nil, err
		}
		if err := rd.expectData(o.size); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, 0, 1<<20)
	rd.raw = true
	m := startMeter(o.serverPID)
	deadline := m.start.Add(o.dur)
	for int64(len(lat)) < o.maxMsgs {
		t0 := time.Now()
		if !t0.Before(deadline) {
			break
		}
		if err := writeAllWith(rawWrite, fd, msg); err != nil {
			return nil, err
		}
		if err := rd.expectData(o.size); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	m.stop()
	res := &Result{Size: o.size, Messages: int64(len(lat))}
	finish(o, m, res)
	setPercentiles(res, lat)
	return res, nil
}

// setPercentiles fills p50/p95/p99/max (nearest rank) in microseconds.
func setPercentiles(res *Result, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3
	}
	res.P50us, res.P95us, res.P99us = at(0.50), at(0.95), at(0.99)
	res.MaxUs = float64(lat[len(lat)-1].Nanoseconds()) / 1e3
}

// openConns dials n connections and completes their handshakes, pipelining
// up to 256 HELLOs before reading the WELCOMEs back. The sockets are
// returned blocking, each with its reader.
func openConns(o options, n int) ([]int, []*reader, error) {
	fds := make([]int, 0, n)
	rds := make([]*reader, 0, n)
	for len(fds) < n {
		first := len(fds)
		for len(fds) < n && len(fds)-first < 256 {
			fd, err := dial(o.port)
			if err != nil {
				closeAll(fds)
				return nil, nil, fmt.Errorf("connection %d: %w", len(fds)+1, err)
			}
			setRecvTimeout(fd, o.timeout)
			fds = append(fds, fd)
			if err := writeAll(fd, helloFrame); err != nil {
				closeAll(fds)
				return nil, nil, err
			}
		}
		for _, fd := range fds[first:] {
			rd := newReader(fd, 512)
			if err := readWelcome(rd); err != nil {
				closeAll(fds)
				return nil, nil, fmt.Errorf("connection %d: %w", len(rds)+1, err)
			}
			rds = append(rds, rd)
		}
	}
	return fds, rds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// fanin: o.conns clients, each keeping o.window echo requests in flight,
// served by one epoll loop. The figure is echoes per second over all.
func fanin(o options) (*Result, error) {
	fds, rds, err := openConns(o, o.conns)
	if err != nil {
		return nil, err
	}
	defer closeAll(fds)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(ep)
	for i, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, err
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, err
		}
	}
	frameLen := proto.HeaderSize + o.size
	window := frames(o.window, o.size, 'f')
	inflight := make([]int, len(fds))
	total := 0
	var got int64
	events := make([]unix.EpollEvent, 256)

	m := startMeter(o.serverPID)
	deadline := m.start.Add(o.dur)
	hardStop := m.start.Add(o.dur + o.timeout)
	for i, fd := range fds {
		if err := writeAll(fd, window); err != nil {
			return nil, err
		}
		inflight[i] = o.window
		total += o.window
	}
	sending := true
	// Raw syscalls, as in pingpong: with a single goroutine there is nothing
	// for the Go scheduler to do around them, and at one echo in flight per
	// connection the generator makes as many syscalls as the server, so their
	// overhead decides whether it keeps ahead.
	for _, rd := range rds {
		rd.raw = true
	}
	for total > 0 {
		n, err := rawEpollWait(ep, events, 1000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		now := time.Now()
		if now.After(hardStop) {
			return nil, fmt.Errorf("%d echoes still missing %v after the end", total, o.timeout)
		}
		if sending && (!now.Before(deadline) || got >= o.maxMsgs) {
			sending = false
		}
		for _, ev := range events[:n] {
			i := int(ev.Fd)
			rd := rds[i]
			if err := rd.fill(); err != nil && err != unix.EAGAIN {
				return nil, fmt.Errorf("connection %d: %w", i+1, err)
			}
			k := 0
			for {
				h, _, ok := rd.frame()
				if !ok {
					break
				}
				if h.Type != proto.TypeData || h.Length != o.size {
					return nil, fmt.Errorf("unexpected frame type 0x%02x length %d", h.Type, h.Length)
				}
				k++
			}
			got += int64(k)
			inflight[i] -= k
			total -= k
			if sending && k > 0 {
				// Non-blocking, but never more than o.window frames are
				// outstanding, far below the socket buffer.
				if err := writeAllWith(rawWrite, fds[i], window[:k*frameLen]); err != nil {
					return nil, fmt.Errorf("connection %d: %w", i+1, err)
				}
				inflight[i] += k
				total += k
			}
		}
	}
	m.stop()
	res := &Result{Size: o.size, Conns: o.conns, Messages: got}
	return finish(o, m, res), nil
}

// connect: sequential connect, HELLO with one DATA right behind it (the
// protocol allows early data), WELCOME and the echo back, close.
func connect(o options) (*Result, error) {
	req := append(append([]byte(nil), helloFrame...), frames(1, o.size, 'c')...)
	lat := make([]time.Duration, 0, 1<<17)
	rd := newReader(-1, 4096)
	m := startMeter(o.serverPID)
	deadline := m.start.Add(o.dur)
	for int64(len(lat)) < o.maxMsgs {
		t0 := time.Now()
		if !t0.Before(deadline) {
			break
		}
		fd, err := dial(o.port)
		if err != nil {
			return nil, fmt.Errorf("connection %d: %w", len(lat)+1, err)
		}
		setRecvTimeout(fd, o.timeout)
		rd.fd, rd.r, rd.w = fd, 0, 0
		err = writeAll(fd, req)
		if err == nil {
			err = readWelcome(rd)
		}
		if err == nil {
			err = rd.expectData(o.size)
		}
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("connection %d: %w", len(lat)+1, err)
		}
		lat = append(lat, time.Since(t0))
	}
	m.stop()
	res := &Result{Size: o.size}
	finish(o, m, res)
	res.ConnPerS = float64(len(lat)) / res.Seconds
	setPercentiles(res, lat)
	return res, nil
}

// idle: o.conns connections complete their handshake and stay idle; the
// server's RSS growth over its RSS before them, per connection, is the
// figure. Afterwards every connection must still echo, which proves the
// server really held all of them.
func idle(o options) (*Result, error) {
	if o.serverPID <= 0 {
		return nil, errors.New("idle needs -server-pid to read the server's RSS")
	}
	before, err := serverRSS(o.serverPID)
	if err != nil {
		return nil, err
	}
	m := startMeter(o.serverPID)
	fds, rds, err := openConns(o, o.conns)
	if err != nil {
		return nil, err
	}
	defer closeAll(fds)
	m.stop() // the timed phase is opening the connections
	time.Sleep(o.settle)
	after, err := serverRSS(o.serverPID)
	if err != nil {
		return nil, err
	}
	res := &Result{Conns: o.conns, ServerRSSKB: after}
	finish(o, m, res)
	res.ConnPerS = float64(o.conns) / res.Seconds
	res.RSSPerConn = float64(after-before) * 1024 / float64(o.conns)

	msg := frames(1, 16, 'i')
	for i, fd := range fds {
		if err := writeAll(fd, msg); err != nil {
			return nil, fmt.Errorf("idle connection %d: %w", i+1, err)
		}
	}
	for i, rd := range rds {
		if err := rd.expectData(16); err != nil {
			return nil, fmt.Errorf("idle connection %d: %w", i+1, err)
		}
	}
	return res, nil
}

// openSession connects one load connection and completes the handshake,
// with a reader of bufSize bytes. The caller closes fd.
func openSession(o options, bufSize int) (int, *reader, error) {
	fd, err := dial(o.port)
	if err != nil {
		return -1, nil, err
	}
	setRecvTimeout(fd, o.timeout)
	rd := newReader(fd, bufSize)
	if err := handshake(fd, rd); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, rd, nil
}
