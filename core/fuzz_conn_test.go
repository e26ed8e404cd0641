package core_test

// Whole-connection fuzzers: fuzzed byte sequences are sent over a real
// socket to a live in-process server (or, for the client, by a fake server
// to a live client), in each state of the connection. They check what the
// peer sees on the wire and that every connection ends, not the internals.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/core/internal/wire"
)

// fuzzLimit is the message limit of the fuzzed server and clients: small,
// so a fuzzer can reach it.
const fuzzLimit = 64 << 10

// fuzzXor is a transform the fuzzers negotiate: XOR with 0x5a. Its decoder
// refuses messages starting with 0xff, so the transform-failure path is
// reachable too.
type fuzzXor struct{}

func (fuzzXor) Encode(dst, msg []byte) ([]byte, error) {
	for _, b := range msg {
		dst = append(dst, b^0x5a)
	}
	return dst, nil
}

func (fuzzXor) Decode(dst, msg []byte, limit int) ([]byte, error) {
	if len(msg) > limit {
		return dst, errors.New("fuzzxor: message over the limit")
	}
	if len(msg) > 0 && msg[0] == 0xff {
		return dst, errors.New("fuzzxor: refused")
	}
	return fuzzXor{}.Encode(dst, msg)
}

var registerOnce sync.Once

// startFuzzServer starts the echo server one fuzz target drives (one per
// fuzzing process: starting one per input would measure the start, not
// the connection). When the target ends, every connection it opened must
// be gone.
func startFuzzServer(f *testing.F) *core.Server {
	registerOnce.Do(func() {
		if err := core.RegisterTransform("fuzzxor", fuzzXor{}); err != nil {
			f.Fatal(err)
		}
	})
	cfg := core.ServerConfig{BindAddress: "127.0.0.1", Loops: 1, HandshakeTimeout: 2 * time.Second}
	cfg.MessageSizeLimit = fuzzLimit
	cfg.Compression = []core.Codec{core.CodecZstd, core.CodecSnappy}
	cfg.Transforms = []string{"fuzzxor"}
	cfg.ShutdownTimeout = time.Second
	cfg.Acknowledged = true // used by the inputs whose HELLO offers it (ackMode)
	s, err := core.NewServer("fuzz", cfg)
	if err != nil {
		f.Fatal(err)
	}
	s.OnMessage(func(sess *core.Session, msg []byte) { sess.Send(msg) })
	if err := s.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for s.ConnectionCount() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := s.ConnectionCount(); n > 0 {
			f.Errorf("%d sessions still open 5 s after every fuzz connection ended", n)
		}
		s.Stop()
	})
	return s
}

// connState is where the fuzzed bytes are injected.
type connState int

const (
	beforeHello  connState = iota // the fuzzed bytes are the first on the connection
	afterHello                    // right behind a valid HELLO, before WELCOME is read
	afterWelcome                  // on an open connection
	afterClose                    // after our CLOSE 1000
)

// ackMode reports whether a fuzz input's connection uses acknowledged
// delivery: raw inputs (mode bit 0 clear) with bit 4 set, where the bit
// does not choose a frame type.
func ackMode(mode byte) bool { return mode&1 == 0 && mode&0x10 != 0 }

// helloFor builds the HELLO of a fuzz input: its mode byte picks the
// codec offered, whether the transform is requested and whether
// acknowledged delivery is offered (ackMode).
func helloFor(mode byte) []byte {
	h := &wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: fuzzLimit, ClientID: "fuzz"}
	if ackMode(mode) {
		h.HasAck, h.AckStream, h.AckFirstSeq = true, 0xf0220000|uint64(mode), 1
	}
	switch mode >> 1 & 3 {
	case 1:
		h.Codecs = []byte{wire.CodecSnappy}
	case 2:
		h.Codecs = []byte{wire.CodecZstd}
	}
	if mode&8 != 0 {
		h.Transforms = []string{"fuzzxor"}
	}
	return wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, h))
}

// payloadFor turns the fuzzed data into what is sent: the raw bytes, or
// (mode bit 0) one frame of a type chosen by bits 4-6 carrying them, with
// the COMPRESSED flag when bit 7 is set.
func payloadFor(mode byte, data []byte) []byte {
	if mode&1 == 0 {
		return data
	}
	types := []byte{wire.TypeData, wire.TypePing, wire.TypePong, wire.TypeClose, wire.TypeHello, wire.TypeWelcome, wire.TypeReject, 0x42}
	var flags byte
	if mode&0x80 != 0 {
		flags = wire.FlagCompressed
	}
	return wire.AppendFrame(nil, types[mode>>4&7], flags, data)
}

// serverFrames checks the server's whole answer: valid frames only, and
// the right kinds for the state (docs/protocol.md: before WELCOME every
// error is a REJECT; after it, never a REJECT or a second WELCOME).
func serverFrames(t *testing.T, stream []byte, welcomed, acked bool) {
	t.Helper()
	sawWelcome, ended := welcomed, false
	for len(stream) > 0 {
		if len(stream) < wire.HeaderSize {
			t.Fatalf("the server sent a truncated header % x", stream)
		}
		n := int(binary.BigEndian.Uint32(stream))
		typ, flags := stream[4], stream[5]
		if len(stream) < wire.HeaderSize+n {
			t.Fatalf("the server sent a truncated %s frame (%d of %d bytes)", wire.TypeName(typ), len(stream)-wire.HeaderSize, n)
		}
		p := stream[wire.HeaderSize : wire.HeaderSize+n]
		stream = stream[wire.HeaderSize+n:]
		if ended {
			t.Fatalf("the server sent %s after REJECT", wire.TypeName(typ))
		}
		if flags&^wire.FlagCompressed != 0 || flags != 0 && typ != wire.TypeData {
			t.Fatalf("the server sent %s with flags %#x", wire.TypeName(typ), flags)
		}
		switch typ {
		case wire.TypeWelcome:
			if sawWelcome {
				t.Fatal("the server sent a second WELCOME")
			}
			sawWelcome = true
		case wire.TypeReject:
			if sawWelcome {
				t.Fatal("the server sent REJECT after WELCOME")
			}
			checkReason(t, p)
			ended = true
		case wire.TypeClose:
			if !sawWelcome {
				t.Fatalf("the server sent CLOSE %x before WELCOME (every error before WELCOME is a REJECT)", p)
			}
			checkReason(t, p)
		case wire.TypeData, wire.TypePing, wire.TypePong:
			if !sawWelcome {
				t.Fatalf("the server sent %s before WELCOME", wire.TypeName(typ))
			}
			if typ != wire.TypeData && n > wire.MaxPingPayload {
				t.Fatalf("the server sent a %d-byte %s", n, wire.TypeName(typ))
			}
			if typ == wire.TypeData && n > fuzzLimit+64<<10 {
				t.Fatalf("the server sent a %d-byte DATA frame to a client accepting %d", n, fuzzLimit)
			}
		case wire.TypeAck:
			if !sawWelcome || !acked || n != wire.AckPayloadSize {
				t.Fatalf("the server sent a %d-byte ACK (welcomed %v, acknowledged delivery offered %v)", n, sawWelcome, acked)
			}
		default:
			t.Fatalf("the server sent frame type %#x", typ)
		}
	}
}

// checkReason: a code, then valid UTF-8 of at most 1024 bytes.
func checkReason(t *testing.T, p []byte) {
	t.Helper()
	if len(p) < 2 {
		t.Fatalf("CLOSE/REJECT payload of %d bytes", len(p))
	}
	if r := p[2:]; !utf8.Valid(r) || len(r) > 1024 {
		t.Fatalf("reason of %d bytes, valid UTF-8 %v: %q", len(r), utf8.Valid(r), r[:min(len(r), 80)])
	}
}

// exchange runs one fuzz input against the shared server in state st.
func exchange(t *testing.T, srv *core.Server, st connState, mode byte, data []byte) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", itoa(srv.Port())), 5*time.Second)
	if err != nil {
		t.Skipf("dial: %v", err) // the machine, not the server
	}
	tc := c.(*net.TCPConn)
	defer func() { tc.SetLinger(0); tc.Close() }()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	var prefix []byte
	welcomed := false
	if st != beforeHello {
		prefix = helloFor(mode)
	}
	if st >= afterWelcome {
		if _, err := tc.Write(prefix); err != nil {
			t.Fatalf("write HELLO: %v", err)
		}
		prefix = nil
		if !readWelcome(t, tc) {
			return
		}
		welcomed = true
	}
	if st == afterClose {
		prefix = wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, wire.CloseNormal, "bye"))
	}
	tc.Write(append(prefix, payloadFor(mode, data)...)) // the server may already have closed
	tc.CloseWrite()
	got, err := io.ReadAll(tc)
	if err != nil && !isReset(err) {
		t.Fatalf("the server did not end the connection within 5 s of our FIN: %v", err)
	}
	serverFrames(t, got, welcomed, ackMode(mode) && st != beforeHello)
}

func readWelcome(t *testing.T, c net.Conn) bool {
	var h [wire.HeaderSize]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatalf("no answer to a valid HELLO: %v", err)
	}
	p := make([]byte, binary.BigEndian.Uint32(h[:]))
	if len(p) > wire.MaxControlPayload {
		t.Fatalf("a %d-byte answer to HELLO", len(p))
	}
	if _, err := io.ReadFull(c, p); err != nil {
		t.Fatalf("truncated answer to HELLO: %v", err)
	}
	if h[4] != wire.TypeWelcome {
		t.Fatalf("a valid HELLO got %s %x", wire.TypeName(h[4]), p)
	}
	return true
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// connSeeds are the inputs every state starts from.
func connSeeds(f *testing.F) {
	z, _ := zstd.NewWriter(nil, zstd.WithSingleSegment(true))
	text := bytes.Repeat([]byte("netsys fuzz "), 100)
	f.Add(byte(0), []byte{})
	f.Add(byte(0), wire.AppendFrame(nil, wire.TypeData, 0, []byte("hello")))
	f.Add(byte(0), wire.AppendFrame(nil, wire.TypePing, 0, []byte("12345678")))
	f.Add(byte(0), wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, 4000, "odd")))
	f.Add(byte(0), []byte{0xff, 0xff, 0xff, 0xff, wire.TypeData, 0})
	f.Add(byte(0), []byte{0, 0, 0x10, 0, wire.TypeData, 0, 'x'})
	f.Add(byte(0), helloFor(2))
	f.Add(byte(0x01), []byte("one DATA frame"))
	f.Add(byte(0x11), []byte("ping"))
	f.Add(byte(0x31), []byte{0x03})
	f.Add(byte(0x83), s2.Encode(nil, text))                       // compressed DATA, snappy offered
	f.Add(byte(0x85), z.EncodeAll(text, nil))                     // compressed DATA, zstd offered
	f.Add(byte(0x85), []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38}) // zstd without content size
	f.Add(byte(0x09), []byte{0xff, 'x'})                          // DATA the transform refuses
	f.Add(byte(0x09), []byte("transformed"))
	f.Add(byte(0x41), []byte("HELLO again"))
	// Acknowledged delivery (ackMode): DATA then ACKs, valid and not.
	ack := func(s uint64) []byte { return wire.AppendFrame(nil, wire.TypeAck, 0, wire.AppendAck(nil, s)) }
	f.Add(byte(0x10), append(wire.AppendFrame(nil, wire.TypeData, 0, []byte("one")), ack(0)...))
	f.Add(byte(0x10), ack(1))
	f.Add(byte(0x10), wire.AppendFrame(nil, wire.TypeAck, 0, []byte{1, 2, 3}))
	f.Add(byte(0x10), append(ack(0), wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, 1000, "bye"))...))
}

// FuzzServerConnBeforeHello: the fuzzed bytes open the connection.
func FuzzServerConnBeforeHello(f *testing.F) {
	connSeeds(f)
	srv := startFuzzServer(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) { exchange(t, srv, beforeHello, mode, data) })
}

// FuzzServerConnAfterHello: the fuzzed bytes follow a valid HELLO at once
// (early data), before the client has read WELCOME.
func FuzzServerConnAfterHello(f *testing.F) {
	connSeeds(f)
	srv := startFuzzServer(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) { exchange(t, srv, afterHello, mode, data) })
}

// FuzzServerConnAfterWelcome: the fuzzed bytes arrive on an open
// connection (with the codec and transform of the mode byte).
func FuzzServerConnAfterWelcome(f *testing.F) {
	connSeeds(f)
	srv := startFuzzServer(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) { exchange(t, srv, afterWelcome, mode, data) })
}

// FuzzServerConnAfterClose: the fuzzed bytes follow our CLOSE.
func FuzzServerConnAfterClose(f *testing.F) {
	connSeeds(f)
	srv := startFuzzServer(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) { exchange(t, srv, afterClose, mode, data) })
}

// fakeServer accepts one client connection per fuzz input and answers its
// HELLO with the fuzzed bytes (after a valid WELCOME when welcome is set).
type fakeServer struct {
	ln net.Listener
}

func startFakeServer(f *testing.F) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	return &fakeServer{ln: ln}
}

// clientExchange runs a live client against the fake server: the client
// must end its run (no reconnection configured) within 5 s, whatever the
// server said, and never panic.
func clientExchange(t *testing.T, fs *fakeServer, welcome bool, mode byte, data []byte) {
	cfg := core.ClientConfig{ClientID: "fuzzc", ConnectTimeout: 3 * time.Second}
	cfg.MessageSizeLimit = fuzzLimit
	cfg.Compression = []core.Codec{core.CodecZstd, core.CodecSnappy}
	cfg.Acknowledged = ackMode(mode)
	cli, err := core.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Stop()
	cli.OnMessage(func([]byte) {})
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := fs.ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var h [wire.HeaderSize]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return
		}
		io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(h[:])))
		var out []byte
		if welcome {
			codec := []byte{wire.CodecNone, wire.CodecSnappy, wire.CodecZstd}[(mode>>1&3)%3]
			out = wire.AppendFrame(nil, wire.TypeWelcome, 0, wire.AppendWelcome(nil, &wire.Welcome{
				Version: 1, MaxMessage: fuzzLimit, SessionID: 7, Codec: codec, MinCompress: 64, HasAck: ackMode(mode)}))
		}
		c.Write(append(out, payloadFor(mode, data)...))
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	}()
	port := fs.ln.Addr().(*net.TCPAddr).Port
	if err := cli.ConnectAsync("127.0.0.1", port); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() { cli.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not end its run within 5 s of the server's FIN")
	}
	<-served
}

// FuzzClientConnBeforeWelcome: the fuzzed bytes are the server's answer
// to HELLO.
func FuzzClientConnBeforeWelcome(f *testing.F) {
	connSeeds(f)
	f.Add(byte(0x51), wire.AppendWelcome(nil, &wire.Welcome{Version: 3, MaxMessage: 10, SessionID: 1}))
	f.Add(byte(0x61), wire.AppendCodeReason(nil, wire.RejectServerFull, "server full"))
	fs := startFakeServer(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) { clientExchange(t, fs, false, mode, data) })
}

// FuzzClientConnAfterWelcome: the fuzzed bytes follow a valid WELCOME.
func FuzzClientConnAfterWelcome(f *testing.F) {
	connSeeds(f)
	fs := startFakeServer(f)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) { clientExchange(t, fs, true, mode, data) })
}
