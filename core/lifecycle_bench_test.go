package core

// How much "am I on an event loop" costs, now and with the former way
// (parsing the goroutine id out of a stack trace):
//
//	go test -run '^$' -bench 'OnAnyLoop' -benchtime 1s ./core/

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
)

// BenchmarkOnAnyLoop is the check every call that may wait makes.
func BenchmarkOnAnyLoop(b *testing.B) {
	e, err := NewEngine(2, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if onAnyLoop() {
			n++
		}
	}
	if n != 0 {
		b.Fatal("the benchmark goroutine is not a loop")
	}
}

// BenchmarkOnAnyLoopStackParsing is the former check, for comparison.
func BenchmarkOnAnyLoopStackParsing(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		stackGoid()
	}
}

// stackGoid is how the loop identity used to be read: the goroutine id
// parsed from the header of a stack trace.
func stackGoid() int64 {
	var buf [64]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseInt(string(s), 10, 64)
	return id
}
