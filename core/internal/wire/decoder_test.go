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
		msgs, rest, bytes := d.AppendPlain(nil, in, tc.max, tc.maxBytes)
		var got []string
		total := 0
		for _, m := range msgs {
			got = append(got, string(m))
			total += len(m)
			require.Equal(t, len(m), cap(m), "a message cannot be appended to over the next frame")
		}
		require.Equal(t, tc.want, got, "max %d, maxBytes %d", tc.max, tc.maxBytes)
		require.Equal(t, total, bytes)
		// What is left is what NextPlain would have left after as many.
		want := in
		for range msgs {
			_, want, _ = d.NextPlain(want)
		}
		require.Equal(t, want, rest)
	}
	cut := in[:len(in)-len(tail)-1] // the last plain frame incomplete
	msgs, rest, _ := d.AppendPlain(nil, cut, 100, 1<<20)
	require.Len(t, msgs, 3, "an incomplete frame is not taken")
	require.Len(t, rest, HeaderSize+len("four")-1)
	tooLarge := &Decoder{DataLimit: 4}
	msgs, _, _ = tooLarge.AppendPlain(nil, in, 100, 1<<20)
	require.Len(t, msgs, 2, "a frame over the limit is left for the decoder to refuse")
}

// BenchmarkAppendPlain64B is the cost per message of taking a read's run
// of 64 B plain frames into a batch.
func BenchmarkAppendPlain64B(b *testing.B) {
	var in []byte
	for len(in) < 256<<10-HeaderSize-64 {
		in = AppendFrame(in, TypeData, 0, make([]byte, 64))
	}
	d := &Decoder{DataLimit: 1 << 20}
	msgs, _, _ := d.AppendPlain(nil, in, 1<<30, 1<<30)
	perRead := len(msgs)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += perRead {
		msgs, _, _ = d.AppendPlain(msgs[:0], in, 1<<30, 1<<30)
	}
}
