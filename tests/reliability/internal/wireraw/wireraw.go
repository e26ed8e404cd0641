// Package wireraw writes and reads netsys protocol v1 frames byte by byte,
// from docs/protocol.md alone. It shares no code with core: the reliability
// suite's hostile peers must be able to say things core would never say
// (absurd lengths, broken HELLOs, frames in the wrong state), and their
// reading of the server's answers must not inherit core's mistakes.
package wireraw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// HeaderSize is the fixed frame header: length u32, type u8, flags u8.
const HeaderSize = 6

// Frame types (docs/protocol.md section 1).
const (
	Hello   byte = 0x01
	Welcome byte = 0x02
	Reject  byte = 0x03
	Data    byte = 0x04
	Ping    byte = 0x05
	Pong    byte = 0x06
	Close   byte = 0x07
)

// FlagCompressed marks a compressed DATA payload.
const FlagCompressed byte = 0x01

// Codec ids offered in HELLO.
const (
	CodecNone   byte = 0
	CodecSnappy byte = 1
	CodecZstd   byte = 2
)

// ControlLimit is the largest control-frame payload a receiver accepts.
const ControlLimit = 65535

// TypeName names a frame type for reports.
func TypeName(t byte) string {
	names := map[byte]string{Hello: "HELLO", Welcome: "WELCOME", Reject: "REJECT", Data: "DATA",
		Ping: "PING", Pong: "PONG", Close: "CLOSE"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", t)
}

// Header encodes a frame header announcing length bytes of payload (the
// payload itself need not follow: that is the point of several attacks).
func Header(length uint32, typ, flags byte) []byte {
	b := make([]byte, HeaderSize)
	binary.BigEndian.PutUint32(b, length)
	b[4], b[5] = typ, flags
	return b
}

// Frame encodes a complete frame.
func Frame(typ, flags byte, payload []byte) []byte {
	return append(Header(uint32(len(payload)), typ, flags), payload...)
}

// HelloFields is a HELLO payload, field by field (docs/protocol.md 3.1).
// Every field is written as given, so a test can state any lie.
type HelloFields struct {
	MinVersion, MaxVersion uint16
	MaxMessage             uint32
	ClientID               string
	Codecs                 []byte
	Transforms             []string
	Extensions             []byte // raw TLV bytes appended at the end
}

// DefaultHello is a well-formed HELLO offering version 1 and nothing else.
func DefaultHello(id string) HelloFields {
	return HelloFields{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: id}
}

// Payload encodes the fields.
func (h HelloFields) Payload() []byte {
	b := binary.BigEndian.AppendUint16(nil, h.MinVersion)
	b = binary.BigEndian.AppendUint16(b, h.MaxVersion)
	b = binary.BigEndian.AppendUint32(b, h.MaxMessage)
	b = append(b, byte(len(h.ClientID)))
	b = append(b, h.ClientID...)
	b = append(b, byte(len(h.Codecs)))
	b = append(b, h.Codecs...)
	b = append(b, byte(len(h.Transforms)))
	for _, t := range h.Transforms {
		b = append(b, byte(len(t)))
		b = append(b, t...)
	}
	return append(b, h.Extensions...)
}

// Frame encodes the HELLO frame.
func (h HelloFields) Frame() []byte { return Frame(Hello, 0, h.Payload()) }

// CodeReason encodes a CLOSE or REJECT payload.
func CodeReason(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// Received is one frame read from the server.
type Received struct {
	Type, Flags byte
	Payload     []byte
}

// Code returns the code of a CLOSE or REJECT frame (0 if too short).
func (r Received) Code() uint16 {
	if len(r.Payload) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(r.Payload)
}

// Reason returns the reason text of a CLOSE or REJECT frame.
func (r Received) Reason() string {
	if len(r.Payload) < 2 {
		return ""
	}
	return string(r.Payload[2:])
}

// WelcomeInfo is the part of WELCOME the suite needs.
type WelcomeInfo struct {
	Version    uint16
	MaxMessage uint32
	SessionID  uint64
	Codec      byte
}

// ParseWelcome reads the fixed fields of a WELCOME payload.
func ParseWelcome(p []byte) (WelcomeInfo, error) {
	if len(p) < 2+4+8+1+4+1 {
		return WelcomeInfo{}, fmt.Errorf("WELCOME payload of %d bytes is too short", len(p))
	}
	return WelcomeInfo{Version: binary.BigEndian.Uint16(p), MaxMessage: binary.BigEndian.Uint32(p[2:]),
		SessionID: binary.BigEndian.Uint64(p[6:]), Codec: p[14]}, nil
}

// ReadFrame reads one frame, refusing payloads larger than limit (a broken
// server must not make the attacker allocate either).
func ReadFrame(r io.Reader, limit int) (Received, error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Received{}, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if int64(n) > int64(limit) {
		return Received{}, fmt.Errorf("server announced a %s frame of %d bytes (limit %d)", TypeName(h[4]), n, limit)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return Received{}, fmt.Errorf("truncated %s frame: %w", TypeName(h[4]), err)
	}
	return Received{Type: h[4], Flags: h[5], Payload: p}, nil
}

// Dial connects to addr from the local IP from (empty: any), with a
// bounded connect time.
func Dial(addr, from string, timeout time.Duration) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s from %q: %w", addr, from, err)
	}
	return c.(*net.TCPConn), nil
}

// Handshake sends hello and reads the answer, which must be WELCOME.
func Handshake(c net.Conn, hello HelloFields, timeout time.Duration) (WelcomeInfo, error) {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(hello.Frame()); err != nil {
		return WelcomeInfo{}, fmt.Errorf("write HELLO: %w", err)
	}
	f, err := ReadFrame(c, ControlLimit)
	if err != nil {
		return WelcomeInfo{}, fmt.Errorf("read WELCOME: %w", err)
	}
	if f.Type != Welcome {
		return WelcomeInfo{}, fmt.Errorf("answer to HELLO was %s %d %q", TypeName(f.Type), f.Code(), f.Reason())
	}
	return ParseWelcome(f.Payload)
}

// Outcome is how the server ended (or did not end) a connection.
type Outcome struct {
	// Kind: "REJECT", "CLOSE", "EOF", "RESET", "OPEN" (still open at the
	// deadline), "ERROR" (something else went wrong on our side).
	Kind   string
	Code   uint16
	Reason string
	// After is the time from the start of the wait to the end (or to the
	// deadline for OPEN).
	After time.Duration
	// Frames counts the frames read before the end (PONGs included).
	Frames int
}

// Label is the outcome as one short string: "REJECT 2003", "EOF", ...
func (o Outcome) Label() string {
	if o.Kind == "REJECT" || o.Kind == "CLOSE" {
		return fmt.Sprintf("%s %d", o.Kind, o.Code)
	}
	return o.Kind
}

// AwaitEnd reads until the server closes the connection or the deadline
// passes, and reports the first REJECT or CLOSE it saw, if any. Other
// frames (PONG, echoed DATA) are counted and skipped.
func AwaitEnd(c net.Conn, deadline time.Time) Outcome {
	start := time.Now()
	c.SetReadDeadline(deadline)
	out := Outcome{Kind: "EOF"}
	seenEnd := false
	for {
		f, err := ReadFrame(c, 1<<30)
		if err != nil {
			out.After = time.Since(start)
			switch {
			case isTimeout(err):
				if !seenEnd {
					out.Kind = "OPEN"
				}
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			case isReset(err):
				if !seenEnd {
					out.Kind = "RESET"
				}
			default:
				if !seenEnd {
					out.Kind, out.Reason = "ERROR", err.Error()
				}
			}
			return out
		}
		out.Frames++
		if !seenEnd && (f.Type == Reject || f.Type == Close) {
			seenEnd = true
			out.Kind, out.Code, out.Reason = TypeName(f.Type), f.Code(), f.Reason()
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)
}

// IsReset reports a connection reset (or broken pipe) error.
func IsReset(err error) bool { return isReset(err) }

// IsTimeout reports a deadline error.
func IsTimeout(err error) bool { return isTimeout(err) }

// Reset closes c with SO_LINGER 0, so the kernel sends RST instead of FIN.
func Reset(c *net.TCPConn) error {
	if err := c.SetLinger(0); err != nil {
		c.Close()
		return fmt.Errorf("set linger: %w", err)
	}
	return c.Close()
}
