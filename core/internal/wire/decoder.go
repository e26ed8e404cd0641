package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"unsafe"
)

// Decoder splits a TCP byte stream into validated frames. The zero value is
// ready to use once DataLimit is set. A Decoder is owned by one goroutine.
//
// Memory follows the bytes received: a frame split across reads is carried
// over in a buffer that grows with what actually arrived (doubling, capped
// at the frame's size), never reserved from the length its header declares.
type Decoder struct {
	// DataLimit is the largest DATA payload accepted once the connection is
	// open (the limit this side agreed in the handshake).
	DataLimit uint32
	// need is the total size of the frame in pending once its header is
	// known (0: not yet). Headers are validated first, so it is at most
	// MaxMessageCap plus a header: an int32, beside DataLimit, keeps a
	// decoder (part of every connection) at 40 bytes.
	need int32
	// CompressionOn permits the COMPRESSED flag on DATA frames.
	CompressionOn bool
	// Handshaking holds every frame type to the control-frame limit
	// (MaxControlPayload): before the handshake no peer is trusted with
	// more. An oversized frame is then a protocol error.
	Handshaking bool
	// AckOn accepts ACK frames (type 0x08): set once an acknowledged
	// connection is open; before that, and on every other connection,
	// 0x08 is an unknown frame type.
	AckOn bool

	// inPending is set while fn runs on a frame held in pending.
	inPending bool
	// newPartial is set when a read leaves the start of a new frame pending
	// (see TakeNewPartial).
	newPartial bool

	// pending holds the start of a frame that has not fully arrived yet.
	// (The flags above share a word with the exported fields: a decoder is
	// part of every connection.)
	pending []byte
}

// InPending reports, from inside a frame callback, whether the payload
// aliases the decoder's own buffer (a frame completed across reads), which
// the rest of the same Feed may overwrite. Otherwise it aliases Feed's input
// and stays valid until Feed returns.
func (d *Decoder) InPending() bool { return d.inPending }

// retainLimit bounds the carry-over buffer kept between frames, so one large
// message does not pin its memory for the life of the connection.
const retainLimit = 64 << 10

// ErrSuspend, returned by a frame callback, stops Feed after that frame and
// keeps the rest of the input for Replay: reading was paused mid-buffer.
var ErrSuspend = errors.New("wire: suspended")

// Kept is the input a suspended Feed kept for Replay: the payloads Replay
// passes (outside InPending) alias it.
func (d *Decoder) Kept() []byte { return d.pending }

// Replay feeds again the input kept by a suspended Feed.
func (d *Decoder) Replay(fn func(Header, []byte) error) error {
	rest := d.pending
	d.pending, d.need = nil, 0
	return d.Feed(rest, fn)
}

// Complete is the start of Feed: it tops up the incomplete frame the
// decoder holds from b, calls fn for it once whole, and returns the rest of
// b, leaving the frames there to the caller (nothing is left while the
// frame is still incomplete; at an error or suspension the rest is kept as
// Feed keeps it). Without a held frame it returns b.
func (d *Decoder) Complete(b []byte, fn func(Header, []byte) error) ([]byte, error) {
	if len(d.pending) == 0 {
		return b, nil
	}
	b, err := d.complete(b, fn)
	if err == ErrSuspend && len(b) > 0 {
		d.pending, d.need = append(d.pending, b...), 0
	}
	if err != nil || len(d.pending) > 0 {
		return nil, err
	}
	return b, nil
}

// PlainLimit is the largest payload a plain DATA frame may have now
// (PlainLength, NextPlainWithin). A receive loop may hold it for a read: it
// changes only at the end of the handshake.
func (d *Decoder) PlainLimit() uint32 { return d.limit() }

// PlainLength returns the payload length that the frame header h declares
// if h is a plain DATA header (no flags) with a payload of at most limit
// bytes, and NotPlain otherwise: a receive loop compares it with the bytes
// it holds after the header, and one comparison tests both.
func PlainLength(h *[HeaderSize]byte, limit uint32) uint64 {
	size := binary.BigEndian.Uint32(h[:4])
	if binary.BigEndian.Uint16(h[4:]) != plainTypeFlags || size > limit {
		return NotPlain
	}
	return uint64(size)
}

// NotPlain is what PlainLength returns for a header that is not a plain
// DATA header within the limit: more than any read holds.
const NotPlain = math.MaxUint64

// plainTypeFlags is the type and flags bytes of a plain DATA header, read
// as one big-endian number.
const plainTypeFlags = uint16(TypeData) << 8

// NextPlainWithin returns the payload of the complete plain DATA frame (no
// flags, payload within limit) at the start of b, and what follows it; ok
// is false for anything else (another type, a flag, an incomplete frame),
// which Feed then handles. It is for a receive loop that takes plain
// messages itself while the decoder holds no partial frame.
func NextPlainWithin(b []byte, limit uint32) (msg, rest []byte, ok bool) {
	if len(b) >= HeaderSize {
		if size := PlainLength((*[HeaderSize]byte)(b), limit); size <= uint64(len(b)-HeaderSize) {
			end := HeaderSize + int(size)
			return b[HeaderSize:end:end], b[end:], true
		}
	}
	return nil, b, false
}

// Span is one message of a batch by its place in the memory the batch lies
// in: in[Offset : Offset+Size]. A batch of spans holds no pointers, so
// building it costs no write barriers and C may read it in place.
type Span struct {
	Offset, Size int
}

// Of is the message s describes in in, with no room to append over what
// follows it.
func (s Span) Of(in []byte) []byte { return in[s.Offset : s.Offset+s.Size : s.Offset+s.Size] }

// AppendPlain appends to spans the payloads of the complete plain DATA
// frames at the start of b, as NextPlainWithin takes them one by one, until it
// has appended max of them or their bytes reach maxBytes (the frame that
// reaches it included); offsets count from base, b's own offset in the
// memory the spans describe. It returns the spans, what follows the frames
// taken and how many payload bytes it appended.
func (d *Decoder) AppendPlain(spans []Span, b []byte, base, max, maxBytes int) (_ []Span, rest []byte, bytes int) {
	limit := d.limit()
	pos, n := 0, 0
	for n < max && bytes < maxBytes {
		// Room for as many frames as b can still hold (each has a header),
		// in chunks: fillPlain then appends with no call.
		room := min(max-n, (len(b)-pos)/HeaderSize, appendChunk)
		if room == 0 {
			break
		}
		spans = slices.Grow(spans, room)
		at := len(spans)
		k, next, more := fillPlain(spans[at:at+room], b, pos, base, limit, maxBytes-bytes)
		spans = spans[:at+k]
		n, pos, bytes = n+k, next, bytes+more
		if k < room {
			break
		}
	}
	return spans, b[pos:], bytes
}

// fillPlain is AppendPlain's loop over at most len(out) frames of b from
// pos, until their payload bytes reach room: a function of its own with
// few values, so that they stay in registers.
func fillPlain(out []Span, b []byte, pos, base int, limit uint32, room int) (k, next, bytes int) {
	data := unsafe.Pointer(unsafe.SliceData(b))
	for k < len(out) && bytes < room && len(b)-pos >= HeaderSize {
		// The loop's test keeps the header inside b.
		size := PlainLength((*[HeaderSize]byte)(unsafe.Add(data, pos)), limit)
		if size > uint64(len(b)-pos-HeaderSize) {
			break
		}
		out[k] = Span{Offset: base + pos + HeaderSize, Size: int(size)}
		pos += HeaderSize + int(size)
		bytes += int(size)
		k++
	}
	return k, pos, bytes
}

// appendChunk is how many frames AppendPlain makes room for at a time.
const appendChunk = 256

// isPlain reports whether h is a plain DATA header (no flags) within the
// current limit: valid without ParseHeader's full check.
func (d *Decoder) isPlain(h Header) bool {
	return h.Type == TypeData && h.Flags == 0 && h.Length <= d.limit()
}

// Suspend keeps rest for Replay and returns ErrSuspend, as Feed does when
// its fn returns ErrSuspend: for a receive loop that took frames with
// NextPlainWithin or PlainLength and must stop at a pause.
func (d *Decoder) Suspend(rest []byte) error {
	if len(rest) > 0 {
		d.pending, d.need = append([]byte(nil), rest...), 0
	}
	return ErrSuspend
}

// Buffered reports how many bytes of an incomplete frame are held.
func (d *Decoder) Buffered() int { return len(d.pending) }

// TakeNewPartial reports whether a new incomplete frame began since the
// last call (its first bytes arrived), and clears the mark: the receiver
// starts its frame-completion timer then.
func (d *Decoder) TakeNewPartial() bool {
	v := d.newPartial
	d.newPartial = false
	return v
}

// limit is the largest DATA payload accepted in the current state.
func (d *Decoder) limit() uint32 {
	if d.Handshaking {
		return MaxControlPayload
	}
	return d.DataLimit
}

// header validates a frame header with the limits of the current state.
// (Before the handshake CompressionOn is false, so COMPRESSED is refused.)
func (d *Decoder) header(b []byte) (Header, error) {
	h, err := ParseHeaderAck(b, d.limit(), d.CompressionOn, d.AckOn)
	if err != nil {
		err = d.stateError(h, err)
	}
	return h, err
}

// stateError words a header error for the current state: before the
// handshake an oversized frame of any type is a protocol error.
func (d *Decoder) stateError(h Header, err error) error {
	if d.Handshaking && errors.Is(err, ErrTooLarge) {
		return protoErr("%s frame too large", TypeName(h.Type))
	}
	return err
}

// Feed consumes b and calls fn for every complete frame, in order. The payload
// passed to fn aliases b or the decoder's buffer: it is valid only until fn
// returns. Feed stops at the first error, from validation or from fn.
func (d *Decoder) Feed(b []byte, fn func(Header, []byte) error) error {
	if len(d.pending) > 0 {
		var err error
		if b, err = d.Complete(b, fn); err != nil || len(d.pending) > 0 {
			return err
		}
	}
	for len(b) >= HeaderSize {
		// This runs once per frame: a plain DATA header within the limit,
		// by far the most common, is recognised here without a call;
		// everything else gets ParseHeader's full check.
		var err error
		h := Header{Length: binary.BigEndian.Uint32(b), Type: b[4], Flags: b[5]}
		if !d.isPlain(h) {
			h, err = ParseHeader(b, d.limit(), d.CompressionOn)
			if err != nil && d.AckOn {
				h, err = AckHeader(h, err)
			}
			if err != nil {
				return d.stateError(h, err)
			}
		}
		end := HeaderSize + int(h.Length)
		if len(b) < end {
			break
		}
		err = fn(h, b[HeaderSize:end])
		b = b[end:]
		if err != nil {
			if err == ErrSuspend {
				return d.Suspend(b)
			}
			return err
		}
	}
	if len(b) > 0 {
		d.hold(b)
	}
	return nil
}

// hold starts carrying an incomplete frame; its header, if whole, was valid.
func (d *Decoder) hold(b []byte) {
	d.need = 0
	if len(b) >= HeaderSize {
		d.need = int32(HeaderSize + int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])))
	}
	d.pending = d.appendPending(d.pending[:0], b)
	d.newPartial = true
}

// appendPending appends b to the carry-over buffer p. When p must grow, its
// capacity at most doubles and never exceeds the frame's size (once known):
// the buffer follows the bytes that arrived, not the declared length.
func (d *Decoder) appendPending(p, b []byte) []byte {
	if cap(p)-len(p) >= len(b) {
		return append(p, b...)
	}
	size := max(2*cap(p), len(p)+len(b))
	if d.need > 0 {
		size = min(size, max(int(d.need), len(p)+len(b)))
	}
	grown := make([]byte, len(p), size)
	copy(grown, p)
	return append(grown, b...)
}

// complete tops up the pending frame from b and delivers it when whole,
// returning what is left of b.
func (d *Decoder) complete(b []byte, fn func(Header, []byte) error) ([]byte, error) {
	if d.need == 0 {
		n := min(HeaderSize-len(d.pending), len(b))
		d.pending = d.appendPending(d.pending, b[:n])
		b = b[n:]
		if len(d.pending) < HeaderSize {
			return b, nil
		}
		h, err := d.header(d.pending)
		if err != nil {
			return nil, err
		}
		d.need = int32(HeaderSize + int(h.Length))
	}
	n := min(int(d.need)-len(d.pending), len(b))
	d.pending = d.appendPending(d.pending, b[:n])
	b = b[n:]
	if len(d.pending) < int(d.need) {
		return b, nil
	}
	h, err := d.header(d.pending)
	if err == nil {
		d.inPending = true
		err = fn(h, d.pending[HeaderSize:int(d.need)])
		d.inPending = false
	}
	d.pending, d.need = d.pending[:0], 0
	if cap(d.pending) > retainLimit {
		d.pending = nil
	}
	return b, err
}
