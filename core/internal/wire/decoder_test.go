package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendPlainTakesWhatNextPlainTakesUpToTheRoom(t *testing.T) {
	var in []byte
	for _, m := range []string{"one", "", "three", "four"} {
		in = AppendFrame(in, TypeData, 0, []byte(m))
	}
	tail := AppendFrame(nil, TypeData, FlagCompressed, []byte("zz"))
	in = append(in, tail...)
	d := &Decoder{DataLimit: 1 << 20}
	for _, tc := range []struct {
		max, maxBytes int
		want          []string
	}{
		{100, 1 << 20, []string{"one", "", "three", "four"}}, // stops at the compressed frame
		{2, 1 << 20, []string{"one", ""}},
		{100, 3, []string{"one"}}, // the frame that reaches the byte room is taken
		{100, 4, []string{"one", "", "three"}},
	} {
		const base = 100 // b's offset in the memory the spans count from
		spans, rest, bytes := d.AppendPlain(nil, in, base, tc.max, tc.maxBytes)
		var got []string
		total := 0
		for _, sp := range spans {
			got = append(got, string(in[sp.Offset-base:][:sp.Size]))
			total += sp.Size
		}
		require.Equal(t, tc.want, got, "max %d, maxBytes %d", tc.max, tc.maxBytes)
		require.Equal(t, total, bytes)
		// What is left is what NextPlainWithin would have left after as many.
		want := in
		for range spans {
			_, want, _ = NextPlainWithin(want, d.PlainLimit())
		}
		require.Equal(t, want, rest)
	}
	cut := in[:len(in)-len(tail)-1] // the last plain frame incomplete
	spans, rest, _ := d.AppendPlain(nil, cut, 0, 100, 1<<20)
	require.Len(t, spans, 3, "an incomplete frame is not taken")
	require.Len(t, rest, HeaderSize+len("four")-1)
	tooLarge := &Decoder{DataLimit: 4}
	spans, _, _ = tooLarge.AppendPlain(nil, in, 0, 100, 1<<20)
	require.Len(t, spans, 2, "a frame over the limit is left for the decoder to refuse")
	// More frames than one chunk of room, and a max inside the second.
	var many []byte
	for i := range 2*appendChunk + 7 {
		many = AppendFrame(many, TypeData, 0, []byte{byte(i)})
	}
	spans, rest, _ = d.AppendPlain(nil, many, 0, 1<<20, 1<<20)
	require.Len(t, spans, 2*appendChunk+7)
	require.Empty(t, rest)
	for i, sp := range spans {
		require.Equal(t, Span{Offset: i*(HeaderSize+1) + HeaderSize, Size: 1}, sp)
	}
	spans, rest, _ = d.AppendPlain(spans[:0], many, 0, appendChunk+3, 1<<20)
	require.Len(t, spans, appendChunk+3)
	require.Len(t, rest, (appendChunk+4)*(HeaderSize+1))
}

// BenchmarkAppendPlain64B is the cost per message of taking a read's run
// of 64 B plain frames into a batch.
func BenchmarkAppendPlain64B(b *testing.B) {
	var in []byte
	for len(in) < 256<<10-HeaderSize-64 {
		in = AppendFrame(in, TypeData, 0, make([]byte, 64))
	}
	d := &Decoder{DataLimit: 1 << 20}
	spans, _, _ := d.AppendPlain(nil, in, 0, 1<<30, 1<<30)
	perRead := len(spans)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += perRead {
		spans, _, _ = d.AppendPlain(spans[:0], in, 0, 1<<30, 1<<30)
	}
}
