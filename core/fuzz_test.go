package core

import (
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/netsys/netsys/core/internal/wire"
)

// FuzzDecompress drives the receive path of compressed DATA frames with
// arbitrary payloads: it must never panic, never exceed the limit and never
// allocate more than the limit allows.
func FuzzDecompress(f *testing.F) {
	f.Add(byte(wire.CodecSnappy), s2.Encode(nil, jsonLike(3000)))
	f.Add(byte(wire.CodecZstd), zstdEncoder.EncodeAll(jsonLike(3000), nil))
	f.Add(byte(wire.CodecSnappy), s2.Encode(nil, make([]byte, 1<<20)))
	f.Add(byte(wire.CodecZstd), []byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x10})
	f.Fuzz(func(t *testing.T, codec byte, payload []byte) {
		const limit = 64 << 10
		out, err := decompress(codec%3, nil, payload, limit)
		if err == nil && len(out) > limit {
			t.Fatalf("decompressed %d bytes past the %d limit", len(out), limit)
		}
	})
}
