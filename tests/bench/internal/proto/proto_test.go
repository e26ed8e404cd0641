package proto

import (
	"bytes"
	"testing"
)

func TestEchoerHandshakeEchoAndSink(t *testing.T) {
	var in []byte
	in = append(in, HelloFrame("t")...)
	in = AppendFrame(in, TypeData, []byte("hello"))
	in = AppendFrame(in, TypeData, []byte("Sink"))
	in = AppendFrame(in, TypePing, []byte("p"))
	partial := AppendFrame(nil, TypeData, []byte("later"))
	in = append(in, partial[:4]...)

	e := Echoer{SessionID: 7}
	used, out, err := e.Process(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if used != len(in)-4 {
		t.Errorf("consumed %d bytes, want all but the partial frame (%d)", used, len(in)-4)
	}
	h := ParseHeader(out)
	if err := CheckWelcome(h, out[HeaderSize:HeaderSize+h.Length]); err != nil {
		t.Fatalf("first answer: %v", err)
	}
	rest := out[HeaderSize+h.Length:]
	want := AppendFrame(AppendFrame(nil, TypeData, []byte("hello")), TypePong, []byte("p"))
	if !bytes.Equal(rest, want) {
		t.Errorf("answers after WELCOME = %q, want %q (sink message must not be echoed)", rest, want)
	}
}

func TestEchoerRejectsDataBeforeHello(t *testing.T) {
	e := Echoer{SessionID: 1}
	if _, _, err := e.Process(AppendFrame(nil, TypeData, []byte("x")), nil); err == nil {
		t.Error("DATA before HELLO was accepted")
	}
}

func TestEchoerRejectsOversizeAndFlags(t *testing.T) {
	e := Echoer{SessionID: 1}
	b := make([]byte, HeaderSize)
	PutHeader(b, MaxMessage+1, TypeData)
	if _, _, err := e.Process(b, nil); err == nil {
		t.Error("oversize frame was accepted")
	}
	PutHeader(b, 0, TypeData)
	b[5] = 0x80
	if _, _, err := e.Process(b, nil); err == nil {
		t.Error("reserved flag was accepted")
	}
}
