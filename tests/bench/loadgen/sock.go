package main

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/tests/bench/internal/proto"
)

// The load generator talks to the kernel directly (golang.org/x/sys/unix)
// rather than through package net: blocking sockets for the one-connection
// scenarios, one epoll loop for the many-connection ones. That keeps the Go
// runtime's netpoller, goroutine switches and per-call allocations out of the
// client's cost, so the client stays cheaper per message than the servers it
// measures (each result reports both CPU figures to show it).

// sourceAddrs spreads client sockets over several loopback source addresses:
// each gives its own 28K ephemeral ports, so the connect scenario (tens of
// thousands of short connections left in TIME_WAIT) and the idle scenario
// (10,000 at once) never run out of 4-tuples.
const sourceAddrs = 16

var nextSource int

// dial opens a blocking TCP connection to 127.0.0.1:port with TCP_NODELAY,
// from the next of the loopback source addresses.
func dial(port int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	nextSource = (nextSource + 1) % sourceAddrs
	// The port is chosen at connect time, for the whole 4-tuple, instead of
	// at bind time where it would have to be unique per source address.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	src := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, byte(1 + nextSource)}}
	if err := unix.Bind(fd, src); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind: %w", err)
	}
	dst := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	for {
		err = unix.Connect(fd, dst)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	return fd, nil
}

// setRecvTimeout bounds every blocking read on fd, so a server that stops
// answering ends the scenario with an error instead of hanging it.
func setRecvTimeout(fd int, d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
}

// writeAll writes b completely on a blocking socket.
func writeAll(fd int, b []byte) error { return writeAllWith(unix.Write, fd, b) }

func writeAllWith(write func(int, []byte) (int, error), fd int, b []byte) error {
	for len(b) > 0 {
		n, err := write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

var errEOF = errors.New("connection closed by server")

// reader splits the bytes of one socket into frames. fill does exactly one
// read() so callers that count frames can batch: one syscall, many frames.
type reader struct {
	fd   int
	buf  []byte
	r, w int
	raw  bool // use rawRead (see there)
}

func newReader(fd, size int) *reader { return &reader{fd: fd, buf: make([]byte, size)} }

// fill reads once, appending to the buffer (blocking if fd is blocking).
func (rd *reader) fill() error {
	if rd.r > 0 && rd.r == rd.w {
		rd.r, rd.w = 0, 0
	}
	if rd.w == len(rd.buf) { // make room: compact, or grow for a big frame
		if rd.r > 0 {
			rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
			rd.r = 0
		} else {
			rd.buf = append(rd.buf, make([]byte, len(rd.buf))...)
		}
	}
	for {
		read := unix.Read
		if rd.raw {
			read = rawRead
		}
		n, err := read(rd.fd, rd.buf[rd.w:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return err
		case err != nil:
			return fmt.Errorf("read: %w", err)
		case n == 0:
			return errEOF
		}
		rd.w += n
		return nil
	}
}

// frame returns the next complete buffered frame without reading. The
// payload is valid until the next fill.
func (rd *reader) frame() (proto.Header, []byte, bool) {
	if rd.w-rd.r < proto.HeaderSize {
		return proto.Header{}, nil, false
	}
	h := proto.ParseHeader(rd.buf[rd.r:])
	end := rd.r + proto.HeaderSize + h.Length
	if end > rd.w {
		if end-rd.r > len(rd.buf) { // frame larger than the buffer: grow
			nb := make([]byte, end-rd.r)
			rd.w = copy(nb, rd.buf[rd.r:rd.w])
			rd.r, rd.buf = 0, nb
		}
		return h, nil, false
	}
	p := rd.buf[rd.r+proto.HeaderSize : end]
	rd.r = end
	return h, p, true
}

// next returns the next frame, reading as needed.
func (rd *reader) next() (proto.Header, []byte, error) {
	for {
		if h, p, ok := rd.frame(); ok {
			return h, p, nil
		}
		if err := rd.fill(); err != nil {
			return proto.Header{}, nil, err
		}
	}
}

// expectData reads the next frame and checks it is DATA of the given size.
func (rd *reader) expectData(size int) error {
	h, _, err := rd.next()
	if err != nil {
		return err
	}
	if h.Type != proto.TypeData || h.Length != size {
		return fmt.Errorf("expected a %d-byte DATA echo, got type 0x%02x length %d", size, h.Type, h.Length)
	}
	return nil
}

// handshake sends HELLO and waits for a valid WELCOME.
func handshake(fd int, rd *reader) error {
	if err := writeAll(fd, helloFrame); err != nil {
		return err
	}
	return readWelcome(rd)
}

func readWelcome(rd *reader) error {
	h, p, err := rd.next()
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	return proto.CheckWelcome(h, p)
}

var helloFrame = proto.HelloFrame("loadgen")

// frames returns count DATA frames of size bytes each, back to back. The
// payload's first byte is first (proto.SinkByte for one-way messages).
func frames(count, size int, first byte) []byte {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	if size > 0 {
		payload[0] = first
	}
	b := make([]byte, 0, count*(proto.HeaderSize+size))
	for range count {
		b = proto.AppendFrame(b, proto.TypeData, payload)
	}
	return b
}

// rawReadWrite is read/write without telling the Go scheduler about the
// syscall. The ping-pong loop blocks in read() tens of thousands of times a
// second; with ordinary syscalls the runtime's monitor thread wakes every
// 20 µs to hand the processor off and back, on the generator's only CPU,
// which added milliseconds to the maximum latency (measured against a C
// client: same p50, max 4-8 ms instead of 0.6 ms). With one goroutine there
// is nothing else to schedule, so a raw syscall loses nothing.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawEpollWait is epoll_wait without the Go scheduler hooks (see rawRead).
func rawEpollWait(ep int, events []unix.EpollEvent, msec int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
