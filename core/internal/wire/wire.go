// Package wire encodes and decodes netsys protocol v1 frames (docs/protocol.md).
// It allocates nothing before a header has been validated, so a hostile peer
// cannot make a receiver reserve memory by announcing a huge frame.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
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
	// TypeAck exists only on connections that agreed acknowledged delivery
	// (TagAck); everywhere else 0x08 is an unknown frame type.
	TypeAck byte = 0x08
)

// AckPayloadSize is the exact payload of an ACK frame: seq:u64.
const AckPayloadSize = 8

// FlagCompressed marks a DATA payload compressed with the negotiated codec.
const FlagCompressed byte = 0x01

// Limits on control frames (docs/protocol.md section 1.1).
const (
	MaxControlPayload = 65535
	MaxPingPayload    = 64
	MaxClientIDLen    = 255
	MaxListLen        = 16
	// MaxReasonLen bounds the reason a sender puts in REJECT and CLOSE.
	MaxReasonLen = 1024
	// MaxMessageCap is the largest max_message a peer can announce: larger
	// values are read as this one.
	MaxMessageCap = 1 << 30
	// MaxEarlyData is the total DATA payload a client may send behind HELLO
	// before it has read WELCOME.
	MaxEarlyData = 65536
)

// Close and reject codes (docs/protocol.md section 2).
const (
	CloseNormal            uint16 = 1000
	CloseGoingAway         uint16 = 1001
	CloseProtocolError     uint16 = 1002
	CloseTimeout           uint16 = 1008 // idle timeout, frame timeout, peer not reading
	CloseTooLarge          uint16 = 1009
	CloseInternal          uint16 = 1011 // transform failed, internal error
	RejectServerFull       uint16 = 2001
	RejectVersion          uint16 = 2002
	RejectBadHello         uint16 = 2003
	RejectHandshakeTimeout uint16 = 2004
	RejectTransform        uint16 = 2005
	RejectServerStopping   uint16 = 2006
)

// Reason prefixes: every REJECT and CLOSE reason is "<prefix>" or
// "<prefix>: <detail>", and programs match the code and the prefix
// (docs/protocol.md section 2). Build reasons with Reason.
const (
	ReasonServerFull         = "server full" // REJECT 2001
	ReasonPendingHandshakes  = "too many pending handshakes"
	ReasonUnsupportedVersion = "unsupported version" // REJECT 2002
	ReasonBadHello           = "bad hello"           // REJECT 2003
	ReasonHandshakeTimeout   = "handshake timeout"   // REJECT 2004
	ReasonTransformMismatch  = "transform mismatch"  // REJECT 2005
	ReasonServerStopping     = "server stopping"     // REJECT 2006, CLOSE 1001
	ReasonNormal             = "normal close"        // CLOSE 1000
	ReasonProtocol           = "protocol error"      // CLOSE 1002
	ReasonIdleTimeout        = "idle timeout"        // CLOSE 1008
	ReasonFrameTimeout       = "frame timeout"       // CLOSE 1008
	ReasonPeerNotReading     = "peer not reading"    // CLOSE 1008
	ReasonTooLarge           = "message too large"   // CLOSE 1009
	ReasonTransformFailed    = "transform failed"    // CLOSE 1011
	ReasonInternal           = "internal error"      // CLOSE 1011
)

// Reason builds a reason text from its stable prefix and an optional
// detail, cut to what a sender may send (CutReason).
func Reason(prefix, detail string) string {
	if detail == "" {
		return CutReason(prefix)
	}
	return CutReason(prefix + ": " + detail)
}

// CutReason makes s a valid reason to send: UTF-8 (invalid bytes replaced)
// of at most MaxReasonLen bytes, cut at a code-point boundary.
func CutReason(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= MaxReasonLen {
		return s
	}
	i := MaxReasonLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Codec ids offered in HELLO and chosen in WELCOME.
const (
	CodecNone   byte = 0
	CodecSnappy byte = 1 // the Snappy block format
	CodecZstd   byte = 2 // one zstd frame with its content size
)

// ErrTooLarge reports a DATA frame whose announced length exceeds the limit.
// Errors of type *TooLargeError match it.
var ErrTooLarge = errors.New(ReasonTooLarge)

// TooLargeError is a message over the receiver's limit; its text is the
// close reason ("message too large: 2000000 > 1048576").
type TooLargeError struct{ Size, Limit uint64 }

// Error is the close reason.
func (e *TooLargeError) Error() string {
	return Reason(ReasonTooLarge, fmt.Sprintf("%d > %d", e.Size, e.Limit))
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// ProtocolError is a violation of the wire protocol. Detail names the
// problem; Error() is the close reason "protocol error: <detail>".
type ProtocolError struct{ Detail string }

// Error is the close reason.
func (e *ProtocolError) Error() string { return Reason(ReasonProtocol, e.Detail) }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Detail: fmt.Sprintf(format, args...)}
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
	case TypeAck:
		return "ACK"
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
// negotiated (the COMPRESSED flag is illegal otherwise). ACK frames are
// unknown here; a connection that agreed them uses ParseHeaderAck.
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
			return h, &TooLargeError{Size: uint64(h.Length), Limit: uint64(dataLimit)}
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

// ParseHeaderAck is ParseHeader for a receiver that accepts ACK frames when
// ackOn is set (an open acknowledged connection).
func ParseHeaderAck(b []byte, dataLimit uint32, compressionOn, ackOn bool) (Header, error) {
	h, err := ParseHeader(b, dataLimit, compressionOn)
	if err != nil && ackOn {
		return AckHeader(h, err)
	}
	return h, err
}

// AckHeader turns ParseHeader's verdict err on h into the one of a
// receiver that accepts ACK frames: only an ACK header changes, it is
// checked here (no flags, at most 8 bytes). ParseHeader stays the one
// check of every other frame, so ordinary frames pay nothing for ACK.
func AckHeader(h Header, err error) (Header, error) {
	switch {
	case h.Type != TypeAck:
		return h, err
	case h.Flags != 0:
		return h, protoErr("invalid flags")
	case h.Length > AckPayloadSize:
		return h, protoErr("%s frame too large", TypeName(h.Type))
	}
	return h, nil
}

// ParseAck decodes an ACK payload: exactly 8 bytes (a longer one was
// already refused by ParseHeaderAck).
func ParseAck(p []byte) (uint64, error) {
	if len(p) < AckPayloadSize {
		return 0, protoErr("short ACK payload")
	}
	return binary.BigEndian.Uint64(p), nil
}

// AppendAck appends the payload of ACK(seq).
func AppendAck(dst []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(dst, seq) }

// AppendCodeReason builds a REJECT or CLOSE payload; the reason is cut to
// MaxReasonLen bytes of valid UTF-8 (CutReason).
func AppendCodeReason(dst []byte, code uint16, reason string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, CutReason(reason)...)
}

// ParseCodeReason decodes the payload of a REJECT or CLOSE frame (typ
// names which, for the error). Invalid UTF-8 in the reason is replaced, not
// refused: the reason is for people and logs.
func ParseCodeReason(typ byte, p []byte) (uint16, string, error) {
	if len(p) < 2 {
		return 0, "", protoErr("short %s payload", TypeName(typ))
	}
	return binary.BigEndian.Uint16(p), strings.ToValidUTF8(string(p[2:]), "\uFFFD"), nil
}
