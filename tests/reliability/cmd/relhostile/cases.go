package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/netsys/netsys/tests/reliability/internal/wireraw"
)

// helloCase is one HELLO payload and the answer docs/protocol.md requires.
type helloCase struct {
	name    string
	payload []byte
	want    string // "WELCOME", "REJECT 2002", ...
}

func helloWith(edit func(*wireraw.HelloFields)) []byte {
	h := wireraw.DefaultHello("bad")
	edit(&h)
	return h.Payload()
}

func badHelloCases() []helloCase {
	good := wireraw.DefaultHello("bad").Payload()
	cases := []helloCase{
		{"empty payload", nil, "REJECT 2003"},
		{"1 byte", good[:1], "REJECT 2003"},
		{"truncated max version", good[:3], "REJECT 2003"},
		{"truncated max message", good[:6], "REJECT 2003"},
		{"no client id length", good[:8], "REJECT 2003"},
		{"client id shorter than its length", append(append([]byte{}, good[:8]...), 5, 'a', 'b'), "REJECT 2003"},
		{"no codec count", good[:9+3], "REJECT 2003"},
		{"no transform count", good[:len(good)-1], "REJECT 2003"},
		{"client id not UTF-8", helloWith(func(h *wireraw.HelloFields) { h.ClientID = "\xff\xfe" }), "REJECT 2003"},
		{"17 codecs", helloWith(func(h *wireraw.HelloFields) { h.Codecs = bytes.Repeat([]byte{1}, 17) }), "REJECT 2003"},
		{"codec list truncated", append(append([]byte{}, good[:len(good)-2]...), 3, 1), "REJECT 2003"},
		{"17 transforms", helloWith(func(h *wireraw.HelloFields) {
			for range 17 {
				h.Transforms = append(h.Transforms, "t")
			}
		}), "REJECT 2003"},
		{"empty transform name", helloWith(func(h *wireraw.HelloFields) { h.Transforms = []string{""} }), "REJECT 2003"},
		{"transform name not UTF-8", helloWith(func(h *wireraw.HelloFields) { h.Transforms = []string{"\xc3"} }), "REJECT 2003"},
		{"transform name truncated", append(append([]byte{}, good[:len(good)-1]...), 1, 10, 'a'), "REJECT 2003"},
		{"unknown transform", helloWith(func(h *wireraw.HelloFields) { h.Transforms = []string{"nosuch"} }), "REJECT 2005"},
		{"zero max message", helloWith(func(h *wireraw.HelloFields) { h.MaxMessage = 0 }), "REJECT 2003"},
		{"extension truncated (tag only)", append(append([]byte{}, good...), 0x12), "REJECT 2003"},
		{"extension longer than payload", append(append([]byte{}, good...), 0x12, 0x34, 0x00, 0x10, 'x'), "REJECT 2003"},
		{"version 0..0", helloWith(func(h *wireraw.HelloFields) { h.MinVersion, h.MaxVersion = 0, 0 }), "REJECT 2002"},
		{"version 3..1", helloWith(func(h *wireraw.HelloFields) { h.MinVersion, h.MaxVersion = 3, 1 }), "REJECT 2002"},
		{"version 2..5", helloWith(func(h *wireraw.HelloFields) { h.MinVersion, h.MaxVersion = 2, 5 }), "REJECT 2002"},
		{"trailing garbage (1 byte)", append(append([]byte{}, good...), 0xff), "REJECT 2003"},
		// Valid edges: a server must welcome these.
		{"version 0..1", helloWith(func(h *wireraw.HelloFields) { h.MinVersion, h.MaxVersion = 0, 1 }), "WELCOME"},
		{"version 1..65535", helloWith(func(h *wireraw.HelloFields) { h.MaxVersion = 65535 }), "WELCOME"},
		{"unknown codec offered", helloWith(func(h *wireraw.HelloFields) { h.Codecs = []byte{0x77} }), "WELCOME"},
		{"unknown extension", helloWith(func(h *wireraw.HelloFields) { h.Extensions = []byte{0x7f, 0x00, 0x00, 0x02, 'o', 'k'} }), "WELCOME"},
		{"max message 4 GiB-1", helloWith(func(h *wireraw.HelloFields) { h.MaxMessage = 0xffffffff }), "WELCOME"},
		{"255-byte client id", helloWith(func(h *wireraw.HelloFields) { h.ClientID = string(bytes.Repeat([]byte("é"), 127)) + "x" }), "WELCOME"},
	}
	return cases
}

// firstAnswer reads the server's first frame and how the connection ends:
// "WELCOME", "REJECT <code>", "CLOSE <code>", "EOF", "OPEN" (no answer).
func firstAnswer(c *net.TCPConn, deadline time.Time) wireraw.Outcome {
	start := time.Now()
	c.SetReadDeadline(deadline)
	f, err := wireraw.ReadFrame(c, wireraw.ControlLimit)
	switch {
	case err != nil && wireraw.IsTimeout(err):
		return wireraw.Outcome{Kind: "OPEN", After: time.Since(start)}
	case err != nil && wireraw.IsReset(err):
		return wireraw.Outcome{Kind: "RESET", After: time.Since(start)}
	case err != nil:
		return wireraw.Outcome{Kind: "EOF", After: time.Since(start), Reason: err.Error()}
	case f.Type == wireraw.Welcome:
		return wireraw.Outcome{Kind: "WELCOME", After: time.Since(start)}
	}
	return wireraw.Outcome{Kind: wireraw.TypeName(f.Type), Code: f.Code(), Reason: f.Reason(), After: time.Since(start)}
}

// listAttack sends each payload as the start of its own connection and
// judges the first answer.
func listAttack(o *options, names, wants []string, payloads [][]byte, handshake bool, codecs []byte) *Result {
	col := newCollector()
	p := newPicker(o.from)
	var mu sync.Mutex
	parallel(len(payloads)*o.repeat, func(i int) {
		k := i % len(payloads)
		c, err := wireraw.Dial(o.addr, p.pick(), dialTimeout)
		if err != nil {
			col.dialError()
			return
		}
		defer wireraw.Reset(c)
		col.opened()
		if handshake {
			if _, err := wireraw.Handshake(c, hello(codecs...), dialTimeout); err != nil {
				col.add(wireraw.Outcome{Kind: "ERROR", Reason: err.Error()})
				return
			}
		}
		n, _ := writeAll(c, payloads[k])
		col.sent(n)
		var out wireraw.Outcome
		if handshake {
			out = wireraw.AwaitEnd(c, time.Now().Add(o.wait))
		} else {
			out = firstAnswer(c, time.Now().Add(o.wait))
		}
		col.add(out)
		if i < len(payloads) {
			mu.Lock()
			col.r.Cases = append(col.r.Cases, judge(i, names[k], wants[k], out))
			mu.Unlock()
		}
	})
	return col.result()
}

// badHello: every kind of malformed (and a few valid-edge) HELLO.
func badHello(o *options) *Result {
	var names, wants []string
	var frames [][]byte
	for _, tc := range badHelloCases() {
		names, wants = append(names, tc.name), append(wants, tc.want)
		frames = append(frames, wireraw.Frame(wireraw.Hello, 0, tc.payload))
	}
	return listAttack(o, names, wants, frames, false, nil)
}

// bombCase is a compressed DATA payload that would expand far beyond the
// connection's message limit (1 MiB) if a decoder let it.
type bombCase struct {
	name    string
	codec   byte
	payload []byte
	want    string // "CLOSE 1002" (corrupt) or "CLOSE 1009" (too large); "" either
}

// zstd frame pieces, written by hand from RFC 8878 so that the bombs can
// lie in ways no encoder would.
const zstdMagic = 0xFD2FB528

func zstdHeader(fhd byte, rest ...byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, zstdMagic)
	return append(append(b, fhd), rest...)
}

// rleBlocks appends RLE blocks regenerating total bytes of 'A' in blocks
// of at most 128 KiB (4 bytes each on the wire).
func rleBlocks(b []byte, total int) []byte {
	for total > 0 {
		n := min(total, 128<<10)
		total -= n
		last := 0
		if total == 0 {
			last = 1
		}
		h := uint32(last) | 1<<1 | uint32(n)<<3
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 'A')
	}
	return b
}

func rawBlock(b, data []byte, last bool) []byte {
	h := uint32(len(data)) << 3
	if last {
		h |= 1
	}
	return append(append(b, byte(h), byte(h>>8), byte(h>>16)), data...)
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func zstdBombs() []bombCase {
	const big = 128 << 20
	// Single segment, 1-byte content size 10, one raw 10-byte block.
	small := rawBlock(zstdHeader(0x20, 10), []byte("0123456789"), true)
	// Single segment, 4-byte content size 128 MiB.
	declaredBig := rleBlocks(zstdHeader(0xA0, le32(big)...), big)
	// No content size, 128 KiB window (Window_Descriptor exponent 7).
	noFCS := rleBlocks(zstdHeader(0x00, 7<<3), big)
	skippable := append(le32(0x184D2A50), le32(16)...)
	skippable = append(skippable, make([]byte, 16)...)
	return []bombCase{
		{"zstd: 10 B frame then 128 MiB frame", 2, append(append([]byte{}, small...), declaredBig...), "CLOSE 1002"},
		{"zstd: no content size, 128 MiB", 2, noFCS, "CLOSE 1002"},
		{"zstd: skippable frame then 128 MiB", 2, append(append([]byte{}, skippable...), noFCS...), "CLOSE 1002"},
		{"zstd: skippable frame only", 2, skippable, "CLOSE 1002"},
		{"zstd: declares 10 B, holds 128 MiB", 2, rleBlocks(zstdHeader(0x20, 10), big), "CLOSE 1002"},
		{"zstd: declares 1 GiB", 2, rleBlocks(zstdHeader(0xA0, le32(1<<30)...), 1<<10), "CLOSE 1009"},
		{"zstd: declares 128 MiB, honest", 2, declaredBig, "CLOSE 1009"},
		{"zstd: 2 TiB window, no content size", 2, rleBlocks(zstdHeader(0x00, 31<<3), 1<<10), "CLOSE 1002"},
		{"zstd: valid frame then trailing bytes", 2, append(zstdEncode(bytes.Repeat([]byte("z"), 4096)), 1, 2, 3), "CLOSE 1002"},
	}
}

func zstdEncode(b []byte) []byte {
	enc, _ := zstd.NewWriter(nil, zstd.WithSingleSegment(true))
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

func uvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// snappyCopies encodes total bytes of 'A' as one literal and 64-byte
// copies at offset 1 (3 bytes each): a Snappy block that expands 21x.
func snappyCopies(declared uint64, total int) []byte {
	b := append(uvarint(declared), 0<<2, 'A')
	for n := 1; n < total; n += 64 {
		l := min(64, total-n)
		b = append(b, byte((l-1)<<2|2), 1, 0)
	}
	return b
}

func snappyBombs() []bombCase {
	return []bombCase{
		{"snappy: declares 1 GiB", 1, append(uvarint(1<<30), 0<<2, 'A'), "CLOSE 1009"},
		{"snappy: declares 4 GiB-1", 1, append(uvarint(1<<32-1), 0<<2, 'A'), "CLOSE 1009"},
		{"snappy: declares 10 B, expands to 16 MiB", 1, snappyCopies(10, 16<<20), "CLOSE 1002"},
		{"snappy: declares 1 MiB+1, honest", 1, snappyCopies(1<<20+1, 1<<20+1), "CLOSE 1009"},
		{"snappy: two blocks back to back", 1, append(s2.EncodeSnappy(nil, bytes.Repeat([]byte("y"), 4096)), s2.EncodeSnappy(nil, bytes.Repeat([]byte("y"), 4096))...), "CLOSE 1002"},
		{"snappy: truncated varint", 1, []byte{0xff, 0xff}, "CLOSE 1002"},
	}
}

// bombs: each compressed payload on its own connection that negotiated
// the codec; the server must close it without expanding it.
func bombs(o *options) *Result {
	var cases []bombCase
	if o.codec == "zstd" || o.codec == "all" {
		cases = append(cases, zstdBombs()...)
	}
	if o.codec == "snappy" || o.codec == "all" {
		cases = append(cases, snappyBombs()...)
	}
	col := newCollector()
	p := newPicker(o.from)
	var mu sync.Mutex
	// One at a time: each bomb's cost is measured on its own peak, and a
	// server that does expand one must not be handed all of them at once.
	for i := range len(cases) * o.repeat {
		tc := cases[i%len(cases)]
		out, ok := attack{from: p.pick(), handshake: true, codecs: []byte{tc.codec}, deadline: time.Now().Add(dialTimeout + o.wait),
			send: func(c *net.TCPConn, _ <-chan struct{}) (int, error) {
				return writeAll(c, wireraw.Frame(wireraw.Data, wireraw.FlagCompressed, tc.payload))
			},
		}.run(o.addr, col)
		if ok && i < len(cases) {
			mu.Lock()
			col.r.Cases = append(col.r.Cases, judge(i, tc.name, tc.want, out))
			mu.Unlock()
		}
	}
	return col.result()
}
