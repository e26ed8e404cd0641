// Package wire encodes and decodes netsys protocol v1 frames (docs/protocol.md).
// It allocates nothing before a header has been validated, so a hostile peer
// cannot make a receiver reserve memory by announcing a huge frame.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderSize is the size of the fixed frame header: length, type, flags.
const HeaderSize = 6

// Version is the highest protocol version this package speaks.
const Version = 1

// MinVersion is the lowest protocol version this package speaks.
const MinVersion = 1

// Frame types.
const (
	TypeHello   byte = 0x01
	TypeWelcome byte = 0x02
	TypeReject  byte = 0x03
	TypeData    byte = 0x04
	TypePing    byte = 0x05
	TypePong    byte = 0x06
	TypeClose   byte = 0x07
)

// FlagCompressed marks a DATA payload compressed with the negotiated codec.
const FlagCompressed byte = 0x01

// Limits on control frames (docs/protocol.md section 1.1).
const (
	MaxControlPayload = 65535
	MaxPingPayload    = 64
	MaxClientIDLen    = 255
	MaxListLen        = 16
)

// Close and reject codes (docs/protocol.md section 2).
const (
	CloseNormal            uint16 = 1000
	CloseGoingAway         uint16 = 1001
	CloseProtocolError     uint16 = 1002
	CloseIdleTimeout       uint16 = 1008
	CloseTooLarge          uint16 = 1009
	CloseInternal          uint16 = 1011
	RejectServerFull       uint16 = 2001
	RejectVersion          uint16 = 2002
	RejectBadHello         uint16 = 2003
	RejectHandshakeTimeout uint16 = 2004
	RejectTransform        uint16 = 2005
)

// Codec ids offered in HELLO and chosen in WELCOME.
const (
	CodecNone byte = 0
	CodecS2   byte = 1
	CodecZstd byte = 2
)

// ErrTooLarge reports a DATA frame whose announced length exceeds the limit.
var ErrTooLarge = errors.New("message too large")

// ProtocolError is a violation of the wire protocol; Reason is what the
// connection is closed with.
type ProtocolError struct{ Reason string }

func (e *ProtocolError) Error() string { return "protocol error: " + e.Reason }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Reason: fmt.Sprintf(format, args...)}
}

// TypeName names a frame type for error messages.
func TypeName(t byte) string {
	switch t {
	case TypeHello:
		return "HELLO"
	case TypeWelcome:
		return "WELCOME"
	case TypeReject:
		return "REJECT"
	case TypeData:
		return "DATA"
	case TypePing:
		return "PING"
	case TypePong:
		return "PONG"
	case TypeClose:
		return "CLOSE"
	}
	return fmt.Sprintf("0x%02x", t)
}

// Header is a decoded frame header.
type Header struct {
	Length uint32
	Type   byte
	Flags  byte
}

// PutHeader writes a header into b, which must hold HeaderSize bytes.
func PutHeader(b []byte, length int, typ, flags byte) {
	binary.BigEndian.PutUint32(b, uint32(length))
	b[4] = typ
	b[5] = flags
}

// AppendFrame appends a complete frame to dst.
func AppendFrame(dst []byte, typ, flags byte, payload []byte) []byte {
	var h [HeaderSize]byte
	PutHeader(h[:], len(payload), typ, flags)
	return append(append(dst, h[:]...), payload...)
}

// ParseHeader validates a header against the receiver's limits. dataLimit is
// the largest DATA payload accepted; compressionOn says whether a codec was
// negotiated (the COMPRESSED flag is illegal otherwise).
func ParseHeader(b []byte, dataLimit uint32, compressionOn bool) (Header, error) {
	h := Header{Length: binary.BigEndian.Uint32(b), Type: b[4], Flags: b[5]}
	if h.Type < TypeHello || h.Type > TypeClose {
		return h, protoErr("unknown frame type 0x%02x", h.Type)
	}
	if h.Flags&^FlagCompressed != 0 ||
		(h.Flags&FlagCompressed != 0 && (h.Type != TypeData || !compressionOn)) {
		return h, protoErr("invalid flags")
	}
	switch h.Type {
	case TypeData:
		if h.Length > dataLimit {
			return h, ErrTooLarge
		}
	case TypePing, TypePong:
		if h.Length > MaxPingPayload {
			return h, protoErr("%s frame too large", TypeName(h.Type))
		}
	default:
		if h.Length > MaxControlPayload {
			return h, protoErr("%s frame too large", TypeName(h.Type))
		}
	}
	return h, nil
}

// AppendCodeReason builds a REJECT or CLOSE payload.
func AppendCodeReason(dst []byte, code uint16, reason string) []byte {
	if len(reason) > MaxControlPayload-2 {
		reason = reason[:MaxControlPayload-2]
	}
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}

// ParseCodeReason decodes a REJECT or CLOSE payload.
func ParseCodeReason(p []byte) (uint16, string, error) {
	if len(p) < 2 {
		return 0, "", protoErr("short close payload")
	}
	return binary.BigEndian.Uint16(p), string(p[2:]), nil
}
