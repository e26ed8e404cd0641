package core

import (
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/netsys/netsys/core/internal/wire"
)

// FuzzDecompress drives the receive path of compressed DATA frames with
// arbitrary payloads: it must never panic, never produce more than the
// limit, and never allocate more than the limit plus the decoder's fixed
// working buffers (decoderOverhead), whatever the payload declares.
func FuzzDecompress(f *testing.F) {
	single, _ := zstd.NewWriter(nil, zstd.WithSingleSegment(true))
	small := single.EncodeAll([]byte("ten bytes!"), nil)
	huge := single.EncodeAll(make([]byte, 4<<20), nil)
	noFCS, _ := zstd.NewWriter(nil, zstd.WithSingleSegment(false))
	f.Add(byte(wire.CodecSnappy), s2.EncodeSnappy(nil, jsonLike(3000)))
	f.Add(byte(wire.CodecSnappy), s2.Encode(nil, jsonLike(3000)))
	f.Add(byte(wire.CodecZstd), zstdEncoder.EncodeAll(jsonLike(3000), nil))
	f.Add(byte(wire.CodecSnappy), s2.Encode(nil, make([]byte, 1<<20)))
	f.Add(byte(wire.CodecZstd), []byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x10})
	f.Add(byte(wire.CodecZstd), append(append([]byte(nil), small...), huge...))
	f.Add(byte(wire.CodecZstd), append(append([]byte(nil), small...), skippableFrame(16)...))
	f.Add(byte(wire.CodecZstd), noFCS.EncodeAll(make([]byte, 100), nil))
	f.Add(byte(wire.CodecZstd), huge)
	f.Fuzz(func(t *testing.T, codec byte, payload []byte) {
		const limit = 64 << 10
		var out []byte
		var err error
		cost := heapAllocated(func() { out, err = decompress(codec%3, nil, payload, limit) })
		if err == nil && len(out) > limit {
			t.Fatalf("decompressed %d bytes past the %d limit", len(out), limit)
		}
		if cost > limit+decoderOverhead {
			t.Fatalf("allocated %d bytes for a %d-byte limit (payload %d bytes)", cost, limit, len(payload))
		}
	})
}
