package wire

import (
	"encoding/binary"
	"unicode/utf8"
)

// Hello is the client's handshake offer (docs/protocol.md section 3.1).
type Hello struct {
	MinVersion uint16
	MaxVersion uint16
	MaxMessage uint32 // values above MaxMessageCap are read as MaxMessageCap
	ClientID   string
	Codecs     []byte
	Transforms []string
	// HasHeartbeat says the heartbeat extension is present; HeartbeatMS is
	// the sender's idle timeout in milliseconds (0: none).
	HasHeartbeat bool
	HeartbeatMS  uint32
	// HasAck says the acknowledged-delivery extension (TagAck) is present.
	// On parsing AckValue is the raw value (the receiver checks it only if
	// it agrees, docs/protocol.md) and AckStream, AckFirstSeq are read
	// from it when it is long enough. On encoding a non-nil AckValue is
	// written as it is (a parsed HELLO encodes to the same bytes); otherwise
	// the value is AckStream and AckFirstSeq.
	HasAck      bool
	AckValue    []byte
	AckStream   uint64
	AckFirstSeq uint64
}

// AckOfferSize and AckAcceptSize are the value lengths of TagAck in HELLO
// (stream_id, first_seq) and in WELCOME (delivered); longer values are
// read from their start, the rest is reserved for later revisions.
const (
	AckOfferSize  = 16
	AckAcceptSize = 8
)

// Welcome is the server's handshake answer (docs/protocol.md section 3.2).
type Welcome struct {
	Version      uint16
	MaxMessage   uint32 // values above MaxMessageCap are read as MaxMessageCap
	SessionID    uint64
	Codec        byte
	MinCompress  uint32
	Transforms   []string
	HasHeartbeat bool // as in Hello
	HeartbeatMS  uint32
	// HasAck says TagAck is present. On parsing AckValue is the raw value
	// and AckDelivered is read from it when it is long enough (the client
	// checks it, R-4.8). On encoding a non-nil AckValue is written as it
	// is; otherwise the value is AckDelivered.
	HasAck       bool
	AckValue     []byte
	AckDelivered uint64
}

// Extension tags (TLVs after the fixed HELLO and WELCOME fields).
const (
	// TagHeartbeat carries idle_timeout_ms:u32, the sender's idle timeout.
	TagHeartbeat uint16 = 0x0001
	// TagAck is acknowledged delivery (docs/protocol.md section 4.2): in
	// HELLO stream_id:u64, first_seq:u64; in WELCOME delivered:u64.
	TagAck uint16 = 0x0002
)

// reader walks a payload; the first short read or bad field latches an error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(reason string) {
	if r.err == nil {
		r.err = protoErr("%s", reason)
	}
	r.b = nil
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("truncated " + what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) byte {
	if v := r.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if v := r.take(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if v := r.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if v := r.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) str(n int, what string) string {
	v := r.take(n, what)
	if r.err == nil && !utf8.Valid(v) {
		r.fail(what + " is not UTF-8")
	}
	return string(v)
}

func (r *reader) names(what string) []string {
	n := int(r.u8(what + " count"))
	if n > MaxListLen {
		r.fail("too many " + what + "s")
	}
	var out []string
	for i := 0; i < n && r.err == nil; i++ {
		name := r.str(int(r.u8(what+" name length")), what+" name")
		if name == "" && r.err == nil {
			r.fail("empty " + what + " name")
		}
		out = append(out, name)
	}
	return out
}

// exts are the known extensions found in a HELLO or WELCOME.
type exts struct {
	hasHeartbeat bool
	heartbeatMS  uint32
	hasAck       bool
	ack          []byte
}

// extensions validates the trailing TLVs and returns the known ones;
// unknown tags are skipped (the versioning rule), and of a repeated tag
// only the first counts. A heartbeat value longer than 4 bytes is
// read from its first 4, so a later revision may extend it. The ack value
// is returned raw: only a side that uses it checks it.
func (r *reader) extensions() (e exts) {
	for r.err == nil && len(r.b) > 0 {
		tag := r.u16("extension tag")
		v := r.take(int(r.u16("extension length")), "extension")
		if r.err != nil {
			continue
		}
		switch {
		case tag == TagHeartbeat && !e.hasHeartbeat:
			if len(v) < 4 {
				r.fail("bad heartbeat extension")
				return e
			}
			e.hasHeartbeat, e.heartbeatMS = true, binary.BigEndian.Uint32(v)
		case tag == TagAck && !e.hasAck:
			e.hasAck, e.ack = true, append([]byte{}, v...)
		}
	}
	return e
}

func appendHeartbeat(dst []byte, has bool, ms uint32) []byte {
	if !has {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, TagHeartbeat)
	dst = binary.BigEndian.AppendUint16(dst, 4)
	return binary.BigEndian.AppendUint32(dst, ms)
}

func capMaxMessage(v uint32) uint32 { return min(v, MaxMessageCap) }

// appendTLV appends one extension (callers keep v within 65,535 bytes: a
// parsed value is, and the encoders' own are 8 or 16 bytes).
func appendTLV(dst []byte, tag uint16, v []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, tag)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...)
}

func appendNames(dst []byte, names []string) []byte {
	dst = append(dst, byte(len(names)))
	for _, n := range names {
		dst = append(dst, byte(len(n)))
		dst = append(dst, n...)
	}
	return dst
}

// AppendHello encodes h. Callers validate lengths first (see Hello.Validate).
func AppendHello(dst []byte, h *Hello) []byte {
	dst = binary.BigEndian.AppendUint16(dst, h.MinVersion)
	dst = binary.BigEndian.AppendUint16(dst, h.MaxVersion)
	dst = binary.BigEndian.AppendUint32(dst, h.MaxMessage)
	dst = append(dst, byte(len(h.ClientID)))
	dst = append(dst, h.ClientID...)
	dst = append(dst, byte(len(h.Codecs)))
	dst = append(dst, h.Codecs...)
	dst = appendNames(dst, h.Transforms)
	dst = appendHeartbeat(dst, h.HasHeartbeat, h.HeartbeatMS)
	if h.HasAck {
		v := h.AckValue
		if v == nil {
			v = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, h.AckStream), h.AckFirstSeq)
		}
		dst = appendTLV(dst, TagAck, v)
	}
	return dst
}

// Validate reports whether h can be encoded.
func (h *Hello) Validate() error {
	switch {
	case len(h.ClientID) > MaxClientIDLen:
		return protoErr("client id longer than %d bytes", MaxClientIDLen)
	case !utf8.ValidString(h.ClientID):
		return protoErr("client id is not UTF-8")
	case len(h.Codecs) > MaxListLen || len(h.Transforms) > MaxListLen:
		return protoErr("too many codecs or transforms")
	}
	for _, t := range h.Transforms {
		if t == "" || len(t) > 255 {
			return protoErr("transform name must be 1 to 255 bytes")
		}
	}
	return nil
}

// ParseHello decodes a HELLO payload. The version range is not checked
// here: NegotiateVersion alone decides (an empty or inverted range simply
// has no common version).
func ParseHello(p []byte) (*Hello, error) {
	h := new(Hello)
	err := h.parse(p, true)
	return h, err
}

// ParseInPlace decodes a HELLO payload into h, as ParseHello does, except
// that h.Codecs and h.AckValue alias p instead of being copied: for a
// caller done with h before p changes (a server's handshake, which then
// needs no allocation for the HELLO itself).
func (h *Hello) ParseInPlace(p []byte) error { return h.parse(p, false) }

func (h *Hello) parse(p []byte, copyCodecs bool) error {
	r := reader{b: p}
	*h = Hello{
		MinVersion: r.u16("min version"),
		MaxVersion: r.u16("max version"),
		MaxMessage: r.u32("max message"),
	}
	h.ClientID = r.str(int(r.u8("client id length")), "client id")
	n := int(r.u8("codec count"))
	if n > MaxListLen {
		r.fail("too many codecs")
	}
	h.Codecs = r.take(n, "codecs")
	if copyCodecs {
		h.Codecs = append([]byte(nil), h.Codecs...)
	}
	h.Transforms = r.names("transform")
	e := r.extensions()
	h.HasHeartbeat, h.HeartbeatMS = e.hasHeartbeat, e.heartbeatMS
	h.HasAck, h.AckValue = e.hasAck, e.ack
	if len(e.ack) >= AckOfferSize {
		h.AckStream = binary.BigEndian.Uint64(e.ack)
		h.AckFirstSeq = binary.BigEndian.Uint64(e.ack[8:])
	}
	if r.err == nil && h.MaxMessage == 0 {
		r.fail("zero max message")
	}
	h.MaxMessage = capMaxMessage(h.MaxMessage)
	return r.err
}

// AppendWelcome encodes w.
func AppendWelcome(dst []byte, w *Welcome) []byte {
	dst = binary.BigEndian.AppendUint16(dst, w.Version)
	dst = binary.BigEndian.AppendUint32(dst, w.MaxMessage)
	dst = binary.BigEndian.AppendUint64(dst, w.SessionID)
	dst = append(dst, w.Codec)
	dst = binary.BigEndian.AppendUint32(dst, w.MinCompress)
	dst = appendNames(dst, w.Transforms)
	dst = appendHeartbeat(dst, w.HasHeartbeat, w.HeartbeatMS)
	if w.HasAck {
		v := w.AckValue
		if v == nil {
			v = binary.BigEndian.AppendUint64(nil, w.AckDelivered)
		}
		dst = appendTLV(dst, TagAck, v)
	}
	return dst
}

// ParseWelcome decodes a WELCOME payload.
func ParseWelcome(p []byte) (*Welcome, error) {
	r := &reader{b: p}
	w := &Welcome{
		Version:     r.u16("version"),
		MaxMessage:  r.u32("max message"),
		SessionID:   r.u64("session id"),
		Codec:       r.u8("codec"),
		MinCompress: r.u32("min compress"),
	}
	w.Transforms = r.names("transform")
	e := r.extensions()
	w.HasHeartbeat, w.HeartbeatMS = e.hasHeartbeat, e.heartbeatMS
	w.HasAck, w.AckValue = e.hasAck, e.ack
	if len(e.ack) >= AckAcceptSize {
		w.AckDelivered = binary.BigEndian.Uint64(e.ack)
	}
	if r.err == nil && w.SessionID == 0 {
		r.fail("zero session id")
	}
	if r.err == nil && w.MaxMessage == 0 {
		r.fail("zero max message")
	}
	w.MaxMessage = capMaxMessage(w.MaxMessage)
	return w, r.err
}

// NegotiateVersion picks the version for a client range, or false if none:
// v = min(client max, server max), refused if v < max(client min, server min).
func NegotiateVersion(clientMin, clientMax uint16) (uint16, bool) {
	v := min(clientMax, uint16(Version))
	return v, v >= max(clientMin, uint16(MinVersion))
}
