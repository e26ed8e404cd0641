package core

import (
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/netsys/netsys/core/internal/wire"
)

// Compression codecs of the protocol (docs/protocol.md section 4):
//
//   - codec 1, "snappy": one Snappy block (the Snappy block format). netsys
//     sends pure Snappy, which any Snappy library reads; it decodes with s2,
//     which also reads the S2 blocks older netsys versions sent.
//   - codec 2, "zstd": exactly one zstd frame with its content size, no
//     dictionary. Anything else is a corrupt frame.
//
// No decoder allocates or produces more than the connection's limit, for
// any input: the declared size is checked first, and decoding writes into
// a buffer whose capacity is exactly that size.

// codecID maps a configured codec name to its wire id (0: unknown).
func codecID(c Codec) byte {
	switch c {
	case CodecSnappy, "s2":
		return wire.CodecSnappy
	case CodecZstd:
		return wire.CodecZstd
	}
	return wire.CodecNone
}

var (
	// The content size is always written (single segment), whatever the
	// message size: receivers require it.
	zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true), zstd.WithZeroFrames(true))
	// DecodeAll writes at most cap(dst)-len(dst) bytes: decompress sizes
	// dst to the declared content size. The memory cap is a second fence.
	// The window a frame declares does not drive DecodeAll's allocations
	// (they are dst and the block buffers), so any window a 1 GiB message
	// may use is accepted.
	zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(wire.MaxMessageCap), zstd.WithDecoderMaxWindow(wire.MaxMessageCap))
)

// compress appends msg compressed with codec to dst.
func compress(codec byte, dst, msg []byte) []byte {
	switch codec {
	case wire.CodecSnappy:
		n := s2.MaxEncodedLen(len(msg))
		start := len(dst)
		dst = growTo(dst, start+n)
		return dst[:start+len(s2.EncodeSnappy(dst[start:start+n], msg))]
	case wire.CodecZstd:
		return zstdEncoder.EncodeAll(msg, dst)
	}
	return append(dst, msg...)
}

// decompress appends the decompressed msg to dst. A payload that declares
// more than limit bytes is refused before any allocation (ErrTooLarge); a
// malformed one is errCorrupt.
func decompress(codec byte, dst, msg []byte, limit int) ([]byte, error) {
	switch codec {
	case wire.CodecSnappy:
		return decompressSnappy(dst, msg, limit)
	case wire.CodecZstd:
		return decompressZstd(dst, msg, limit)
	}
	return dst, errCorrupt
}

func decompressSnappy(dst, msg []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(msg)
	if err != nil {
		return dst, errCorrupt
	}
	if n > limit {
		return dst, &wire.TooLargeError{Size: uint64(n), Limit: uint64(limit)}
	}
	start := len(dst)
	dst = growTo(dst, start+n)
	out, err := s2.Decode(dst[start:start+n], msg)
	if err != nil || len(out) != n {
		return dst[:start], errCorrupt
	}
	return dst[:start+n], nil
}

func decompressZstd(dst, msg []byte, limit int) ([]byte, error) {
	size, err := checkZstdFrame(msg)
	if err != nil {
		return dst, err
	}
	if size > uint64(limit) {
		return dst, &wire.TooLargeError{Size: size, Limit: uint64(limit)}
	}
	start := len(dst)
	// Capacity exactly the declared size: with the cap limit the decoder can
	// neither produce more nor grow the buffer.
	dst = growTo(dst, start+int(size))[: start : start+int(size)]
	out, err := zstdDecoder.DecodeAll(msg, dst)
	if err != nil || len(out)-start != int(size) {
		return dst[:start], errCorrupt
	}
	return out, nil
}

// checkZstdFrame validates that msg is exactly one zstd frame with a content
// size and no dictionary, walking its block headers (without decoding) to
// find where it ends, and returns the content size. Raw and RLE blocks
// state what they regenerate, so a frame whose blocks add up to more than
// its content size is refused here, before any of them is appended.
func checkZstdFrame(msg []byte) (uint64, error) {
	var h zstd.Header
	if err := h.Decode(msg); err != nil || h.Skippable || !h.HasFCS || h.DictionaryID != 0 {
		return 0, errCorrupt
	}
	const maxBlock = 128 << 10
	pos, known := h.HeaderSize, uint64(0)
	for {
		if len(msg)-pos < 3 {
			return 0, errCorrupt
		}
		bh := uint32(msg[pos]) | uint32(msg[pos+1])<<8 | uint32(msg[pos+2])<<16
		pos += 3
		last, typ, size := bh&1 != 0, (bh>>1)&3, int(bh>>3)
		if size > maxBlock {
			return 0, errCorrupt
		}
		switch typ {
		case 0: // raw
			known += uint64(size)
		case 1: // RLE: one byte, repeated size times
			known, size = known+uint64(size), 1
		case 3: // reserved
			return 0, errCorrupt
		}
		if len(msg)-pos < size || known > h.FrameContentSize {
			return 0, errCorrupt
		}
		pos += size
		if last {
			break
		}
	}
	if h.HasCheckSum {
		pos += 4
	}
	if pos != len(msg) {
		return 0, errCorrupt // trailing bytes, a second frame, a skippable frame
	}
	return h.FrameContentSize, nil
}

var errCorrupt = &wire.ProtocolError{Detail: "corrupt compressed frame"}

// growTo returns b with length n, reallocating (exactly n) only when its
// capacity is short: a decoder's buffer never exceeds what was declared.
func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n)
	copy(nb, b)
	return nb
}
