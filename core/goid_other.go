//go:build !gc || !(amd64 || arm64)

package core

import (
	"bytes"
	"runtime"
	"strconv"
)

// getg returns an identity of the calling goroutine. Architectures without
// the two-instruction read of goid_*.s fall back to the goroutine id in a
// stack trace header: exact, but it costs microseconds.
func getg() uintptr {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return uintptr(id)
}
