package core

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

// heapAllocated reports the bytes fn allocated on the heap (TotalAlloc
// delta, so freed garbage counts too).
func heapAllocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// decoderOverhead bounds what a decompressor may allocate beyond the
// message limit: the zstd block decoder's working buffers (a 128 KiB block
// and its literals) and small bookkeeping.
const decoderOverhead = 1 << 20

func zstdFrame(t testing.TB, msg []byte, opts ...zstd.EOption) []byte {
	enc, err := zstd.NewWriter(nil, append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, opts...)...)
	require.NoError(t, err)
	defer enc.Close()
	return enc.EncodeAll(msg, nil)
}

// skippableFrame is a zstd skippable frame (RFC 8878 section 3.1.2).
func skippableFrame(n int) []byte {
	b := []byte{0x50, 0x2a, 0x4d, 0x18, byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
	return append(b, make([]byte, n)...)
}

// Every payload below is a bomb or a frame the protocol forbids; none may
// make the receiver allocate or produce more than its limit.
func TestDecompressBombsStayWithinTheLimit(t *testing.T) {
	const limit = 64 << 10
	small := zstdFrame(t, []byte("ten bytes!"), zstd.WithSingleSegment(true))
	huge := zstdFrame(t, make([]byte, 16<<20))
	noFCS := zstdFrame(t, make([]byte, 100), zstd.WithSingleSegment(false))
	cases := []struct {
		name    string
		codec   byte
		payload []byte
		tooBig  bool
	}{
		{"zstd: small frame then a huge one", wire.CodecZstd, append(append([]byte(nil), small...), huge...), false},
		{"zstd: a huge frame", wire.CodecZstd, huge, true},
		{"zstd: frame then a skippable frame", wire.CodecZstd, append(append([]byte(nil), small...), skippableFrame(100)...), false},
		{"zstd: skippable frame first", wire.CodecZstd, append(skippableFrame(8), small...), false},
		{"zstd: no content size", wire.CodecZstd, noFCS, false},
		{"zstd: trailing bytes", wire.CodecZstd, append(append([]byte(nil), small...), 1, 2, 3), false},
		{"zstd: two small frames", wire.CodecZstd, append(append([]byte(nil), small...), small...), false},
		{"snappy: declares 16 MiB", wire.CodecSnappy, s2.EncodeSnappy(nil, make([]byte, 16<<20)), true},
		{"s2: declares 16 MiB", wire.CodecSnappy, s2.Encode(nil, make([]byte, 16<<20)), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out []byte
			var err error
			cost := heapAllocated(func() { out, err = decompress(tc.codec, nil, tc.payload, limit) })
			require.Error(t, err)
			require.LessOrEqual(t, len(out), limit)
			if tc.tooBig {
				require.ErrorIs(t, err, wire.ErrTooLarge)
			} else {
				require.Equal(t, "protocol error: corrupt compressed frame", err.Error())
			}
			require.Less(t, cost, uint64(limit+decoderOverhead), "allocated %d bytes", cost)
		})
	}
}

// A frame whose blocks regenerate more than its declared content size is
// refused before its blocks are appended: raw and RLE blocks say their
// size up front.
func TestZstdBlocksBeyondTheContentSizeAreRefused(t *testing.T) {
	// Frame header: magic, descriptor (single segment, FCS 1 byte), FCS=10.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 10}
	// Two RLE blocks of 100000 bytes each (size<<3 | type 1<<1 | last).
	rle := func(last bool) []byte {
		v := uint32(100000)<<3 | 1<<1
		if last {
			v |= 1
		}
		return []byte{byte(v), byte(v >> 8), byte(v >> 16), 'x'}
	}
	frame = append(append(frame, rle(false)...), rle(true)...)
	var err error
	cost := heapAllocated(func() { _, err = decompress(wire.CodecZstd, nil, frame, 1<<20) })
	require.Error(t, err)
	require.Less(t, cost, uint64(decoderOverhead))
}

// Codec 1 is the Snappy block format: a strict Snappy decoder (no S2
// extensions) reads what netsys sends, and netsys still reads S2 blocks
// from older netsys senders.
func TestSnappyCodecEmitsPureSnappy(t *testing.T) {
	for _, msg := range [][]byte{jsonLike(300), jsonLike(64 << 10), jsonLike(1 << 20), randomBytes(5000)} {
		enc := compress(wire.CodecSnappy, nil, msg)
		got, err := snappy.DecodeStrict(nil, enc)
		require.NoError(t, err, "a strict Snappy decoder reads netsys output (%d bytes)", len(msg))
		require.Equal(t, msg, got)

		old := s2.Encode(nil, msg)
		back, err := decompress(wire.CodecSnappy, nil, old, 2<<20)
		require.NoError(t, err)
		require.Equal(t, msg, back)
	}
}

// zstd senders always write the content size, so a netsys receiver (which
// requires it) reads every size.
func TestZstdWritesTheContentSizeForEverySize(t *testing.T) {
	for n := 0; n <= 4096; n++ {
		msg := bytes.Repeat([]byte("ab"), n/2+1)[:n]
		enc := compress(wire.CodecZstd, nil, msg)
		var h zstd.Header
		require.NoError(t, h.Decode(enc), "size %d", n)
		require.True(t, h.HasFCS, "size %d: content size missing", n)
		require.EqualValues(t, n, h.FrameContentSize)
		got, err := decompress(wire.CodecZstd, nil, enc, 1<<20)
		require.NoError(t, err, "size %d", n)
		require.True(t, bytes.Equal(msg, got), "size %d", n)
	}
}

// Decoding into a scratch buffer never hands out capacity beyond the
// declared size, so a decoder cannot be tricked into writing past it.
func TestDecompressReusesScratchWithinTheDeclaredSize(t *testing.T) {
	scratch := make([]byte, 0, 1<<20)
	msg := jsonLike(5000)
	out, err := decompress(wire.CodecZstd, scratch, compress(wire.CodecZstd, nil, msg), 1<<20)
	require.NoError(t, err)
	require.Equal(t, msg, out)
	require.Equal(t, &scratch[:1][0], &out[0], "the scratch buffer is reused")
	_, err = decompress(wire.CodecZstd, nil, []byte("nonsense"), 1<<20)
	require.True(t, errors.Is(err, errCorrupt))
}

// A frame may declare a window far larger than its content (a frame that is
// not single-segment): the allocation still follows the content size.
func TestZstdWindowSizeDoesNotDriveAllocation(t *testing.T) {
	for _, wd := range []byte{0x90, 0xa0} { // window descriptors: 256 MiB, 1 GiB
		frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x40, wd, 44, 0} // 2-byte content size: 300
		bh := uint32(300)<<3 | 1                                 // one raw block, the last
		frame = append(frame, byte(bh), byte(bh>>8), byte(bh>>16))
		frame = append(frame, bytes.Repeat([]byte{7}, 300)...)
		var out []byte
		var err error
		cost := heapAllocated(func() { out, err = decompress(wire.CodecZstd, nil, frame, 64<<10) })
		require.NoError(t, err, "window descriptor %#x", wd)
		require.Equal(t, bytes.Repeat([]byte{7}, 300), out)
		require.Less(t, cost, uint64(4<<10), "window descriptor %#x: allocated %d bytes", wd, cost)
	}
}
