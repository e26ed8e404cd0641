package handoff

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/core"
)

// mmapMemory is Memory outside Go's heap, as the C library's is: Records'
// addresses into it may be turned back into pointers.
type mmapMemory struct{}

func (mmapMemory) Alloc(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return b
}

func (mmapMemory) Free(b []byte) { unix.Munmap(b) }

// BenchmarkInboxStream64B is the pull interface's own cost per message
// under a stream: batches of one read's 64 B messages pushed, taken 1,024
// records at a time and each message's first byte read, as a consumer in
// C does.
func BenchmarkInboxStream64B(b *testing.B) {
	const perRead, size = 900, 64
	read := make([]byte, perRead*(size+8))
	msgs := make([]core.MessageSpan, perRead)
	for i := range msgs {
		msgs[i] = core.MessageSpan{Offset: i*(size+8) + 8, Size: size}
		read[msgs[i].Offset] = byte(i)
	}
	q := NewInbox(newBacklog(1<<30, 1<<40), mmapMemory{}, nil)
	defer q.Free()
	out := make([]Record, 1024)
	sum := 0
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		q.PushRead(2, 7, read, msgs, nil)
		for left := perRead; left > 0; {
			n, _ := q.TakeRecords(out, 0)
			for i := range out[:n] {
				sum += int(recordBytes(&out[i])[0])
			}
			left -= n
		}
		done += perRead
	}
	_ = sum
}

// recordBytes is the data a Record points at (into an mmapMemory).
func recordBytes(r *Record) []byte {
	if r.Size == 0 {
		return nil
	}
	// Read as a pointer where it lies: the address is outside Go's heap.
	return unsafe.Slice(*(**byte)(unsafe.Pointer(&r.Data)), r.Size)
}
