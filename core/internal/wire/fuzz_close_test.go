package wire

import (
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCodeReason drives the CLOSE and REJECT payload codec: parsing any
// bytes never panics and fails exactly on payloads shorter than the code;
// encoding any code and reason yields a payload within the control-frame
// limit that parses back to the same code and a prefix of the reason,
// still valid UTF-8 when the reason was (a sender cuts at a code point).
func FuzzCodeReason(f *testing.F) {
	f.Add(uint16(CloseNormal), "normal close", []byte{})
	f.Add(uint16(CloseProtocolError), "protocol error: unknown frame type 0x42", []byte{0x03})
	f.Add(uint16(RejectBadHello), "bad hello: truncated client id", []byte{0x07, 0xd3, 'b', 'a', 'd'})
	f.Add(uint16(4999), "\xff\xfe not UTF-8", []byte{0x13, 0x87, 0xff, 0xfe})
	f.Add(uint16(CloseTooLarge), strings.Repeat("é", 40000), []byte{0x03, 0xf1})
	// A reason whose cut at the payload limit would split a code point.
	f.Add(uint16(CloseNormal), strings.Repeat("a", MaxControlPayload-3)+"é", []byte{})
	f.Fuzz(func(t *testing.T, code uint16, reason string, raw []byte) {
		c, r, err := ParseCodeReason(TypeClose, raw)
		if len(raw) < 2 {
			if err == nil {
				t.Fatalf("a %d-byte payload parsed as code %d", len(raw), c)
			}
		} else {
			if err != nil {
				t.Fatalf("valid payload %x refused: %v", raw, err)
			}
			if c != binary.BigEndian.Uint16(raw) {
				t.Fatalf("code %d, want %d", c, binary.BigEndian.Uint16(raw))
			}
			if utf8.Valid(raw[2:]) && r != string(raw[2:]) {
				t.Fatalf("reason %q, want %q", r, raw[2:])
			}
		}
		p := AppendCodeReason(nil, code, reason)
		if len(p) > MaxControlPayload {
			t.Fatalf("encoded payload of %d bytes exceeds the control-frame limit", len(p))
		}
		c2, r2, err := ParseCodeReason(TypeClose, p)
		if err != nil || c2 != code {
			t.Fatalf("round trip: code %d err %v, want %d", c2, err, code)
		}
		if !strings.HasPrefix(reason, r2) && utf8.ValidString(reason) {
			t.Fatalf("round trip: reason %q is not a prefix of %q", r2[:min(len(r2), 40)], reason[:min(len(reason), 40)])
		}
		if utf8.ValidString(reason) && !utf8.ValidString(r2) {
			t.Fatalf("a valid UTF-8 reason of %d bytes was cut inside a code point (%d bytes sent)", len(reason), len(r2))
		}
	})
}

// FuzzDecoderMemory checks that the decoder's memory follows the bytes
// that arrived, whatever the frames declare: a peer that announces a
// large frame and sends ten bytes of it must cost about ten bytes. It
// feeds the input in up to three chunks and bounds both what stays
// buffered and what Feed allocated in all.
func FuzzDecoderMemory(f *testing.F) {
	f.Add([]byte{0, 0x10, 0, 0, TypeData, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, uint16(3), uint16(9)) // 1 MiB declared, 10 B sent
	f.Add([]byte{0, 0, 0xfd, 0xe8, TypeHello, 0, 1, 2}, uint16(0), uint16(0))                      // 65,000 declared
	f.Add([]byte{0, 0xf0, 0, 0, TypeData, 0}, uint16(6), uint16(6))                                // bare header, 15 MiB
	f.Add(AppendFrame(AppendFrame(nil, TypeData, 0, []byte("hello")), TypePing, 0, []byte("p")), uint16(4), uint16(8))
	f.Fuzz(func(t *testing.T, data []byte, cut1, cut2 uint16) {
		a := int(cut1) % (len(data) + 1)
		b := a + int(cut2)%(len(data)-a+1)
		d := &Decoder{DataLimit: 16 << 20, CompressionOn: true}
		var before, after runtime.MemStats
		fed := 0
		runtime.ReadMemStats(&before)
		for _, chunk := range [][]byte{data[:a], data[a:b], data[b:]} {
			fed += len(chunk)
			err := d.Feed(chunk, func(Header, []byte) error { return nil })
			if d.Buffered() > fed {
				t.Fatalf("%d bytes buffered after %d fed", d.Buffered(), fed)
			}
			if err != nil {
				break
			}
		}
		runtime.ReadMemStats(&after)
		// Growth by appending may allocate a few times the bytes held;
		// the fixed part covers the decoder's own bookkeeping.
		const fixed = 16 << 10
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(4*fed+fixed) {
			t.Fatalf("feeding %d bytes allocated %d bytes (bound %d): memory follows declared lengths, not bytes received",
				fed, alloc, 4*fed+fixed)
		}
	})
}
