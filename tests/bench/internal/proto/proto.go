// Package proto is the small slice of the netsys wire protocol v1
// (docs/protocol.md) that the benchmark peers need: the 6-byte frame header,
// a minimal HELLO and a minimal WELCOME. The library's own codec lives in
// core/internal/wire, which a separate module cannot import, and the peers
// must not depend on the code they are measured against anyway.
package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderSize is the frame header: u32 BE payload length, u8 type, u8 flags.
const HeaderSize = 6

// Frame types used by the harness.
const (
	TypeHello   byte = 0x01
	TypeWelcome byte = 0x02
	TypeReject  byte = 0x03
	TypeData    byte = 0x04
	TypeClose   byte = 0x07
)

// MaxMessage is the DATA limit every harness peer announces (1 MiB, the
// netsys default), comfortably above the largest benchmark message.
const MaxMessage = 1 << 20

// SinkByte marks a DATA payload the server must consume without answering
// (tests/bench/README.md): the stream scenario sends only such messages and
// then one ordinary message whose echo proves all earlier ones were handled.
const SinkByte = 'S'

// PutHeader writes a frame header into b[:HeaderSize].
func PutHeader(b []byte, length int, typ byte) {
	binary.BigEndian.PutUint32(b, uint32(length))
	b[4] = typ
	b[5] = 0
}

// AppendFrame appends one frame with the given type and payload.
func AppendFrame(dst []byte, typ byte, payload []byte) []byte {
	var h [HeaderSize]byte
	PutHeader(h[:], len(payload), typ)
	return append(append(dst, h[:]...), payload...)
}

// Header is a parsed frame header.
type Header struct {
	Length int
	Type   byte
	Flags  byte
}

// ParseHeader reads the header at the start of b (len(b) >= HeaderSize).
func ParseHeader(b []byte) Header {
	return Header{Length: int(binary.BigEndian.Uint32(b)), Type: b[4], Flags: b[5]}
}

// Hello is a minimal HELLO payload: versions 1..1, MaxMessage, the client id,
// no codecs, no transforms.
func Hello(clientID string) []byte {
	p := binary.BigEndian.AppendUint16(nil, 1)
	p = binary.BigEndian.AppendUint16(p, 1)
	p = binary.BigEndian.AppendUint32(p, MaxMessage)
	p = append(p, byte(len(clientID)))
	p = append(p, clientID...)
	return append(p, 0, 0) // codec_count, xf_count
}

// HelloFrame is Hello wrapped in its frame.
func HelloFrame(clientID string) []byte { return AppendFrame(nil, TypeHello, Hello(clientID)) }

// Welcome is the WELCOME payload a minimal server answers with: version 1,
// MaxMessage, the session id, codec 0, min_compress 0, no transforms. A
// minimal server may ignore the HELLO's options: it offers nothing optional.
func Welcome(sessionID uint64) []byte {
	p := binary.BigEndian.AppendUint16(nil, 1)
	p = binary.BigEndian.AppendUint32(p, MaxMessage)
	p = binary.BigEndian.AppendUint64(p, sessionID)
	p = append(p, 0)                        // codec none
	p = binary.BigEndian.AppendUint32(p, 0) // min_compress
	return append(p, 0)                     // xf_count
}

// WelcomeFrame is Welcome wrapped in its frame.
func WelcomeFrame(sessionID uint64) []byte {
	return AppendFrame(nil, TypeWelcome, Welcome(sessionID))
}

// CheckWelcome validates a frame a client received first: it must be a
// WELCOME for version 1 with a nonzero session id.
func CheckWelcome(h Header, payload []byte) error {
	switch {
	case h.Type == TypeReject && len(payload) >= 2:
		return fmt.Errorf("server rejected: %d %q", binary.BigEndian.Uint16(payload), payload[2:])
	case h.Type != TypeWelcome:
		return fmt.Errorf("expected WELCOME, got frame type 0x%02x", h.Type)
	case len(payload) < 20:
		return errors.New("WELCOME payload truncated")
	case binary.BigEndian.Uint16(payload) != 1:
		return fmt.Errorf("WELCOME version %d, want 1", binary.BigEndian.Uint16(payload))
	case binary.BigEndian.Uint64(payload[6:]) == 0:
		return errors.New("WELCOME with zero session id")
	}
	return nil
}

// Further frame types a minimal server answers or honours.
const (
	TypePing byte = 0x05
	TypePong byte = 0x06
)

// ErrClosed is returned by Echoer.Process when the client sent CLOSE.
var ErrClosed = errors.New("peer sent CLOSE")

// Echoer is the per-connection protocol state of a minimal bench server (the
// Go net and gnet peers): it answers HELLO with WELCOME, echoes every DATA
// frame except sink messages, answers PING with PONG, and stops at CLOSE.
// Anything else is a protocol error and the caller closes the connection.
type Echoer struct {
	SessionID uint64
	open      bool
}

// Process consumes the complete frames at the start of in, appends the
// answers to out and returns how many bytes of in it consumed. A partial
// frame at the end is left for the next call.
func (e *Echoer) Process(in, out []byte) (int, []byte, error) {
	used := 0
	for len(in)-used >= HeaderSize {
		h := ParseHeader(in[used:])
		if h.Length > MaxMessage || h.Flags != 0 {
			return used, out, fmt.Errorf("bad frame: length %d flags 0x%02x", h.Length, h.Flags)
		}
		end := used + HeaderSize + h.Length
		if end > len(in) {
			break
		}
		p := in[used+HeaderSize : end]
		used = end
		switch {
		case !e.open:
			// A HELLO has at least 11 payload bytes; its options are
			// ignored: a minimal server offers no codec and no transform.
			if h.Type != TypeHello || h.Length < 11 {
				return used, out, errors.New("first frame is not a HELLO")
			}
			e.open = true
			out = AppendFrame(out, TypeWelcome, Welcome(e.SessionID))
		case h.Type == TypeData:
			if len(p) == 0 || p[0] != SinkByte {
				out = AppendFrame(out, TypeData, p)
			}
		case h.Type == TypePing:
			out = AppendFrame(out, TypePong, p)
		case h.Type == TypePong:
		case h.Type == TypeClose:
			return used, out, ErrClosed
		default:
			return used, out, fmt.Errorf("unexpected frame type 0x%02x", h.Type)
		}
	}
	return used, out, nil
}
