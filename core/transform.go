package core

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/netsys/netsys/core/internal/wire"
)

// Transform is a named, symmetric encoding of one message (for example an
// application cipher or a custom codec), negotiated by name in the handshake.
// Implementations must be safe for concurrent use: every connection using
// the transform calls it from its own event loop.
type Transform interface {
	// Encode appends the encoded form of msg to dst and returns it.
	Encode(dst, msg []byte) ([]byte, error)
	// Decode appends the decoded form of msg to dst and returns it. It must
	// fail rather than produce more than limit bytes.
	Decode(dst, msg []byte, limit int) ([]byte, error)
}

var transforms sync.Map // name -> Transform

// RegisterTransform makes a transform available under name to every server
// and client of the process. Registering a name twice replaces the first.
func RegisterTransform(name string, t Transform) error {
	if name == "" || len(name) > 255 || t == nil {
		return fmt.Errorf("%w: transform name must be 1..255 bytes and transform non-nil", ErrInvalidArgument)
	}
	transforms.Store(name, t)
	return nil
}

// UnregisterTransform removes a transform. Connections that negotiated it
// keep the instance they resolved at handshake time.
func UnregisterTransform(name string) { transforms.Delete(name) }

func lookupTransform(name string) Transform {
	if t, ok := transforms.Load(name); ok {
		return t.(Transform)
	}
	return nil
}

func codecID(c Codec) byte {
	switch c {
	case CodecS2:
		return wire.CodecSnappy
	case CodecZstd:
		return wire.CodecZstd
	}
	return wire.CodecNone
}

var (
	zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	// The decoder's own memory cap is a second fence behind our size check.
	zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
)

// compress appends msg compressed with codec to dst.
func compress(codec byte, dst, msg []byte) []byte {
	switch codec {
	case wire.CodecSnappy:
		n := s2.MaxEncodedLen(len(msg))
		start := len(dst)
		dst = growTo(dst, start+n)
		return dst[:start+len(s2.Encode(dst[start:start+n], msg))]
	case wire.CodecZstd:
		return zstdEncoder.EncodeAll(msg, dst)
	}
	return append(dst, msg...)
}

// decompress appends the decompressed msg to dst, refusing before any
// allocation a payload that declares more than limit bytes.
func decompress(codec byte, dst, msg []byte, limit int) ([]byte, error) {
	switch codec {
	case wire.CodecSnappy:
		n, err := s2.DecodedLen(msg)
		if err != nil {
			return dst, errCorrupt
		}
		if n > limit {
			return dst, wire.ErrTooLarge
		}
		start := len(dst)
		dst = growTo(dst, start+n)
		out, err := s2.Decode(dst[start:start+n], msg)
		if err != nil {
			return dst[:start], errCorrupt
		}
		return dst[:start+len(out)], nil
	case wire.CodecZstd:
		var h zstd.Header
		if err := h.Decode(msg); err != nil || !h.HasFCS {
			return dst, errCorrupt
		}
		if h.FrameContentSize > uint64(limit) {
			return dst, wire.ErrTooLarge
		}
		start := len(dst)
		dst = growTo(dst, start+int(h.FrameContentSize))[:start]
		out, err := zstdDecoder.DecodeAll(msg, dst)
		if err != nil || len(out)-start != int(h.FrameContentSize) {
			return dst[:start], errCorrupt
		}
		return out, nil
	}
	return dst, errCorrupt
}

var errCorrupt = &wire.ProtocolError{Detail: "corrupt compressed frame"}

// growTo returns b with length n, reallocating only when capacity is short.
func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// encodeTransforms runs msg through the transforms in order. It allocates:
// the result is copied into the send queue right after.
func encodeTransforms(xforms []Transform, msg []byte) ([]byte, error) {
	var err error
	for _, t := range xforms {
		if msg, err = t.Encode(nil, msg); err != nil {
			return nil, err
		}
	}
	return msg, nil
}
