package core

import (
	"fmt"
	"testing"

	"github.com/netsys/netsys/core/internal/wire"
)

// BenchmarkCodecs measures compression plus decompression of one message per
// codec, payload kind and size, and reports the compressed/original ratio.
// It feeds the codec table in docs/compression.md.
func BenchmarkCodecs(b *testing.B) {
	payloads := []struct {
		kind string
		gen  func(int) []byte
	}{{"json", jsonLike}, {"random", randomBytes}}
	codecs := []struct {
		name string
		id   byte
	}{{"s2", wire.CodecSnappy}, {"zstd", wire.CodecZstd}}
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, p := range payloads {
			msg := p.gen(size)
			for _, c := range codecs {
				b.Run(fmt.Sprintf("%s/%s/%dKiB", c.name, p.kind, size>>10), func(b *testing.B) {
					var comp, out []byte
					b.SetBytes(int64(len(msg)))
					for i := 0; i < b.N; i++ {
						comp = compress(c.id, comp[:0], msg)
						var err error
						if out, err = decompress(c.id, out[:0], comp, len(msg)); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(len(comp))/float64(len(msg)), "ratio")
				})
			}
		}
	}
}

// BenchmarkLoopbackCompression is the end-to-end view: one connection
// streaming 1 KiB JSON-like messages, with and without each codec.
func BenchmarkLoopbackCompression(b *testing.B) {
	for _, codec := range []Codec{"", CodecS2, CodecZstd} {
		name := string(codec)
		if name == "" {
			name = "none"
		}
		for _, data := range []struct {
			name string
			make func(int) []byte
		}{{"json", jsonLike}, {"random", randomBytes}} {
			for _, size := range []int{1 << 10, 64 << 10} {
				b.Run(fmt.Sprintf("%s/%s/%dKiB", name, data.name, size>>10), func(b *testing.B) {
					var codecs []Codec
					if codec != "" {
						codecs = []Codec{codec}
					}
					cfg := TransportConfig{Compression: codecs}
					streamBench(b, cfg, data.make(size))
				})
			}
		}
	}
}

// streamBench sends b.N copies of msg over one loopback connection and stops
// when the server has received them all.
func streamBench(b *testing.B, cfg TransportConfig, msg []byte) {
	s, err := NewServer("bench", ServerConfig{BindAddress: "127.0.0.1", Loops: 1, TransportConfig: cfg})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Stop()
	done := make(chan struct{})
	var got int
	s.OnMessage(func(*Session, []byte) {
		if got++; got == b.N {
			close(done)
		}
	})
	c, err := NewClient(ClientConfig{TransportConfig: cfg})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Connect("127.0.0.1", s.Port()); err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.SendTimeout(msg, 10e9); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}
