package wireraw

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// The example of docs/protocol.md section 1, byte for byte.
func TestFrameMatchesTheDocument(t *testing.T) {
	if got := Frame(Data, 0, []byte("hi")); !bytes.Equal(got, []byte{0, 0, 0, 2, 4, 0, 'h', 'i'}) {
		t.Fatalf("% x", got)
	}
}

func TestHelloLayout(t *testing.T) {
	h := HelloFields{MinVersion: 1, MaxVersion: 2, MaxMessage: 0x01020304, ClientID: "ab", Codecs: []byte{2}, Transforms: []string{"x"}}
	want := []byte{0, 1, 0, 2, 1, 2, 3, 4, 2, 'a', 'b', 1, 2, 1, 1, 'x'}
	if got := h.Payload(); !bytes.Equal(got, want) {
		t.Fatalf("% x, want % x", got, want)
	}
}

func TestAwaitEndSeesRejectThenEOF(t *testing.T) {
	a, b := net.Pipe()
	go func() {
		b.Write(Frame(Reject, 0, CodeReason(2003, "bad hello: x")))
		b.Close()
	}()
	o := AwaitEnd(a, time.Now().Add(time.Second))
	if o.Label() != "REJECT 2003" || o.Reason != "bad hello: x" {
		t.Fatalf("%+v", o)
	}
}

func TestAwaitEndReportsOpen(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	if o := AwaitEnd(a, time.Now().Add(50*time.Millisecond)); o.Kind != "OPEN" {
		t.Fatalf("%+v", o)
	}
}
