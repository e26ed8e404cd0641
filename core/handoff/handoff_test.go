package handoff

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/core"
)

const (
	kindConnect = 1
	kindMessage = 2
	kindError   = 4
)

// recordingSource is a Pausable that records the reasons it was paused
// and resumed for.
type recordingSource struct {
	mu              sync.Mutex
	pauses, resumes []core.PauseReason
}

func (r *recordingSource) PauseReadingFor(p core.PauseReason) {
	r.mu.Lock()
	r.pauses = append(r.pauses, p)
	r.mu.Unlock()
}

func (r *recordingSource) ResumeReadingFor(p core.PauseReason) {
	r.mu.Lock()
	r.resumes = append(r.resumes, p)
	r.mu.Unlock()
}

func (r *recordingSource) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pauses), len(r.resumes)
}

func newBacklog(events, bytes int64) *core.Backlog {
	b := new(core.Backlog)
	b.SetLimits(events, bytes)
	return b
}

// taken is a copy of what one Take handed out.
type taken struct {
	kinds    []uint32
	sessions []uint64
	datas    []string
	raw      [][]byte // the slices themselves, to check where they lie
}

func take(t *testing.T, q *Inbox, max int, timeout time.Duration) taken {
	t.Helper()
	var got taken
	_, err := q.Take(max, timeout, func(_ int, ev *Event) {
		got.kinds = append(got.kinds, ev.Kind)
		got.sessions = append(got.sessions, ev.Session)
		got.datas = append(got.datas, string(ev.Data))
		got.raw = append(got.raw, ev.Data)
		if ev.Text {
			require.Equal(t, byte(0), ev.Data[:len(ev.Data)+1][len(ev.Data)], "a text is followed by a zero byte")
		}
	})
	require.NoError(t, err)
	return got
}

func TestInboxHandsOutEventsInOrderWithTheirData(t *testing.T) {
	q := NewInbox(newBacklog(100, 1<<20), nil, nil)
	defer q.Free()
	require.True(t, q.PushNotice(kindConnect, 0, 7, "client-a"))
	require.True(t, q.PushMessage(kindMessage, 7, []byte("one"), nil))
	require.True(t, q.PushMessage(kindMessage, 7, nil, nil))
	require.True(t, q.PushMessage(kindMessage, 8, []byte("two"), nil))
	got := take(t, q, 10, 0)
	require.Equal(t, []uint32{kindConnect, kindMessage, kindMessage, kindMessage}, got.kinds)
	require.Equal(t, []uint64{7, 7, 7, 8}, got.sessions)
	require.Equal(t, []string{"client-a", "one", "", "two"}, got.datas)
	require.Empty(t, take(t, q, 10, 0).kinds, "a second Take finds nothing")
}

func TestInboxCountsWhatItHoldsAndPausesTheSourceOverTheBound(t *testing.T) {
	b := newBacklog(3, 1<<20)
	q := NewInbox(b, nil, nil)
	defer q.Free()
	src := &recordingSource{}
	for i := 0; i < 4; i++ {
		require.True(t, q.PushMessage(kindMessage, 1, []byte("abcd"), src))
	}
	events, bytes := b.Pending()
	require.Equal(t, int64(4), events)
	require.Equal(t, int64(16), bytes)
	pauses, resumes := src.counts()
	require.Equal(t, 1, pauses, "the message that crossed the bound paused its source once")
	require.Zero(t, resumes)
	require.Equal(t, []core.PauseReason{core.PauseQueue}, src.pauses, "paused for the queue's reason, never another")
	take(t, q, 10, 0)
	events, bytes = b.Pending()
	require.Zero(t, events)
	require.Zero(t, bytes)
	require.Equal(t, []core.PauseReason{core.PauseQueue}, src.resumes, "resumed once drained, for the same reason")
}

func TestInboxDataStaysValidUntilTheNextTake(t *testing.T) {
	q := NewInbox(newBacklog(1<<20, 1<<30), nil, nil)
	defer q.Free()
	for i := 0; i < 3; i++ {
		q.PushMessage(kindMessage, 1, []byte(fmt.Sprintf("m%d", i)), nil)
	}
	first := take(t, q, 10, 0)
	// Refill: with nothing pending the block is reused from its start, but
	// only once the next Take has begun.
	for i := 0; i < 3; i++ {
		q.PushMessage(kindMessage, 1, []byte(fmt.Sprintf("x%d", i)), nil)
	}
	for i, d := range first.raw {
		require.Equal(t, first.datas[i], string(d), "the previous Take's data changed before the next Take")
	}
	require.Equal(t, []string{"x0", "x1", "x2"}, take(t, q, 10, 0).datas)
}

func TestInboxTakeHandsOutOneBlockOfContiguousData(t *testing.T) {
	q := NewInbox(newBacklog(1<<20, 1<<30), nil, nil)
	defer q.Free()
	big := make([]byte, blockSize/2+1)
	q.PushMessage(kindMessage, 1, big, nil)
	q.PushMessage(kindMessage, 1, []byte("tail"), nil)
	q.PushMessage(kindMessage, 1, big, nil) // does not fit the first block
	got := take(t, q, 10, 0)
	require.Len(t, got.kinds, 2, "one Take stops at the end of a block")
	require.Equal(t, unsafePointer(got.raw[0])+uintptr(len(big)), unsafePointer(got.raw[1]),
		"the data of one Take lies back to back")
	require.Len(t, take(t, q, 10, 0).kinds, 1)
}

// failingMemory refuses every allocation while failing is set.
type failingMemory struct {
	mu      sync.Mutex
	failing bool
}

func (m *failingMemory) Alloc(n int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return nil
	}
	return make([]byte, n)
}

func (m *failingMemory) Free([]byte) {}

// Out of memory while queueing: nothing panics under the queue's lock
// (every loop queueing an event would then wait on it forever), the event
// is not counted against the bound, and the queue works once memory is back.
func TestInboxOutOfMemoryRefusesTheEventAndStaysUsable(t *testing.T) {
	b := newBacklog(100, 1<<20)
	mem := &failingMemory{failing: true}
	q := NewInbox(b, mem, nil)
	defer q.Free()
	require.False(t, q.PushMessage(kindMessage, 1, []byte("lost"), nil))
	require.False(t, q.PushNotice(kindError, 0, 0, "lost too"))
	require.True(t, q.mu.TryLock(), "the queue's lock was left held")
	q.mu.Unlock()
	events, bytes := b.Pending()
	require.Zero(t, events, "a refused event does not count")
	require.Zero(t, bytes)
	mem.mu.Lock()
	mem.failing = false
	mem.mu.Unlock()
	require.True(t, q.PushNotice(kindError, 0, 0, "second"))
	require.Equal(t, []string{"second"}, take(t, q, 4, 0).datas)
}

func readable(t *testing.T, fd int) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	require.NoError(t, err)
	return n == 1
}

func TestInboxDescriptorIsReadableExactlyWhileEventsArePending(t *testing.T) {
	q := NewInbox(newBacklog(100, 1<<20), nil, nil)
	defer q.Free()
	q.PushMessage(kindMessage, 1, []byte("before the descriptor"), nil)
	fd, err := q.FD()
	require.NoError(t, err)
	require.True(t, readable(t, fd), "events queued before FD was made")
	take(t, q, 10, 0)
	require.False(t, readable(t, fd))
	q.PushMessage(kindMessage, 1, []byte("x"), nil)
	require.True(t, readable(t, fd))
	take(t, q, 10, 0)
	require.False(t, readable(t, fd))
}

func TestInboxTakeWaitsForAnEventAndCloseEndsTheWait(t *testing.T) {
	q := NewInbox(newBacklog(100, 1<<20), nil, nil)
	defer q.Free()
	go func() {
		time.Sleep(20 * time.Millisecond)
		q.PushMessage(kindMessage, 1, []byte("late"), nil)
	}()
	require.Equal(t, []string{"late"}, take(t, q, 10, 10*time.Second).datas)

	got := make(chan error, 1)
	go func() {
		_, err := q.Take(10, -1, func(int, *Event) {})
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	// A second consumer while the first waits is refused, not queued.
	_, err := q.Take(10, 0, func(int, *Event) {})
	require.ErrorIs(t, err, ErrBusy)
	q.Close()
	select {
	case err := <-got:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a Take waiting without a limit")
	}
}

func TestInboxTakeTimesOut(t *testing.T) {
	q := NewInbox(newBacklog(100, 1<<20), nil, nil)
	defer q.Free()
	n, err := q.Take(10, 30*time.Millisecond, func(int, *Event) {})
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestInboxRefusesEventsOnceFreed(t *testing.T) {
	b := newBacklog(100, 1<<20)
	q := NewInbox(b, nil, nil)
	q.Close()
	q.Free()
	require.False(t, q.PushMessage(kindMessage, 1, []byte("x"), nil))
	events, _ := b.Pending()
	require.Zero(t, events)
	_, err := q.Take(1, 0, func(int, *Event) {})
	require.ErrorIs(t, err, ErrClosed)
}

// call is one call the workers made.
type call struct {
	batch   bool
	kind    uint32
	session uint64
	datas   []string
	tag     any
}

type recorder struct {
	mu    sync.Mutex
	calls []call
	done  chan struct{}
	want  int // events to see before done closes
	seen  int
}

func (r *recorder) add(c call, events int) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.seen += events
	if r.seen == r.want {
		close(r.done)
	}
	r.mu.Unlock()
}

func (r *recorder) funcs(batching bool) Funcs {
	return Funcs{
		Deliver: func(ev *Event) {
			r.add(call{kind: ev.Kind, session: ev.Session, datas: []string{string(ev.Data)}, tag: ev.Tag}, 1)
		},
		Batch: func(session uint64, base []byte, msgs [][]byte) {
			c := call{batch: true, kind: kindMessage, session: session}
			for _, m := range msgs {
				c.datas = append(c.datas, string(m))
			}
			r.add(c, len(msgs))
		},
		Batching:  func() bool { return batching },
		BatchKind: kindMessage,
	}
}

func waitFor(t *testing.T, done chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the workers did not deliver every event")
	}
}

func TestWorkersKeepEachSessionsOrder(t *testing.T) {
	const sessions, each = 5, 200
	r := &recorder{done: make(chan struct{}), want: sessions * each}
	b := newBacklog(1<<20, 1<<30)
	p := NewWorkers(3, b, r.funcs(false))
	defer p.Stop()
	for i := 0; i < each; i++ {
		for s := uint64(1); s <= sessions; s++ {
			p.PushMessage(kindMessage, s, []byte(fmt.Sprint(i)), nil, nil)
		}
	}
	waitFor(t, r.done)
	next := map[uint64]int{}
	for _, c := range r.calls {
		require.Equal(t, fmt.Sprint(next[c.session]), c.datas[0], "session %d out of order", c.session)
		next[c.session]++
	}
	require.Eventually(t, func() bool { e, _ := b.Pending(); return e == 0 }, 10*time.Second, time.Millisecond,
		"delivered events still count")
}

func TestWorkersBatchConsecutiveUntaggedMessagesOfOneSession(t *testing.T) {
	r := &recorder{done: make(chan struct{}), want: 7}
	b := newBacklog(1<<20, 1<<30)
	// Hold the worker in a first delivery so the rest queue up together.
	release, holding := make(chan struct{}), make(chan struct{})
	f := r.funcs(true)
	deliver := f.Deliver
	first := true
	f.Deliver = func(ev *Event) {
		if first {
			first = false
			close(holding)
			<-release
		}
		deliver(ev)
	}
	p := NewWorkers(1, b, f)
	defer p.Stop()
	p.PushNotice(kindConnect, 0, 1, "hold")
	<-holding
	p.PushMessage(kindMessage, 1, []byte("a"), nil, nil)
	p.PushMessage(kindMessage, 1, []byte("b"), nil, nil)
	p.PushMessage(kindMessage, 1, []byte("c"), "tagged", nil)
	p.PushMessage(kindMessage, 1, []byte("d"), nil, nil)
	p.PushMessage(kindMessage, 2, []byte("e"), nil, nil)
	p.PushMessage(kindMessage, 2, []byte("f"), nil, nil)
	close(release)
	waitFor(t, r.done)
	want := []call{
		{kind: kindConnect, session: 1, datas: []string{"hold"}},
		{batch: true, kind: kindMessage, session: 1, datas: []string{"a", "b"}},
		{kind: kindMessage, session: 1, datas: []string{"c"}, tag: "tagged"},
		{batch: true, kind: kindMessage, session: 1, datas: []string{"d"}},
		{batch: true, kind: kindMessage, session: 2, datas: []string{"e", "f"}},
	}
	require.Equal(t, want, r.calls)
}

func TestWorkersRecoverAPanicAndGoOn(t *testing.T) {
	var recovered []any
	var mu sync.Mutex
	done := make(chan struct{})
	p := NewWorkers(1, newBacklog(100, 1<<20), Funcs{
		Deliver: func(ev *Event) {
			if string(ev.Data) == "boom" {
				panic("boom")
			}
			close(done)
		},
		Recovered: func(kind uint32, r any) {
			mu.Lock()
			recovered = append(recovered, fmt.Sprintf("%d %v", kind, r))
			mu.Unlock()
		},
	})
	defer p.Stop()
	p.PushMessage(kindMessage, 1, []byte("boom"), nil, nil)
	p.PushMessage(kindMessage, 1, []byte("after"), nil, nil)
	waitFor(t, done)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []any{"2 boom"}, recovered)
}

func TestWorkersPauseTheSourceUntilTheBacklogDrains(t *testing.T) {
	b := newBacklog(2, 1<<20)
	release := make(chan struct{})
	delivered := make(chan struct{}, 10)
	p := NewWorkers(1, b, Funcs{Deliver: func(*Event) { <-release; delivered <- struct{}{} }})
	defer p.Stop()
	src := &recordingSource{}
	for i := 0; i < 3; i++ {
		p.PushMessage(kindMessage, 1, []byte("x"), nil, src)
	}
	pauses, resumes := src.counts()
	require.Equal(t, 1, pauses)
	require.Zero(t, resumes)
	close(release)
	for i := 0; i < 3; i++ {
		<-delivered
	}
	require.Eventually(t, func() bool { _, r := src.counts(); return r == 1 }, 10*time.Second, time.Millisecond)
}

func unsafePointer(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func TestInboxPushMessagesQueuesABatchInOrderAndCountsIt(t *testing.T) {
	b := newBacklog(4, 1<<20)
	q := NewInbox(b, nil, nil)
	defer q.Free()
	src := &recordingSource{}
	require.Equal(t, 3, q.PushMessages(kindMessage, 9, [][]byte{[]byte("a"), nil, []byte("ccc")}, src))
	pauses, _ := src.counts()
	require.Zero(t, pauses, "3 events fit a bound of 4")
	require.Equal(t, 2, q.PushMessages(kindMessage, 9, [][]byte{[]byte("d"), []byte("e")}, src))
	pauses, _ = src.counts()
	require.Equal(t, 1, pauses, "the batch that crossed the bound paused its source")
	events, bytes := b.Pending()
	require.Equal(t, int64(5), events)
	require.Equal(t, int64(6), bytes)
	got := take(t, q, 10, 0)
	require.Equal(t, []string{"a", "", "ccc", "d", "e"}, got.datas)
	require.Equal(t, []uint64{9, 9, 9, 9, 9}, got.sessions)
}

func TestInboxPushMessagesOutOfMemoryKeepsThoseBeforeAndUncountsTheRest(t *testing.T) {
	b := newBacklog(100, 1<<30)
	mem := &failingMemory{}
	q := NewInbox(b, mem, nil)
	defer q.Free()
	big := make([]byte, blockSize+1) // needs a block of its own, which the memory refuses
	// The first message gets the usual block, which "fits" shares.
	require.True(t, q.PushMessage(kindMessage, 1, []byte("kept"), nil))
	mem.mu.Lock()
	mem.failing = true
	mem.mu.Unlock()
	require.Equal(t, 1, q.PushMessages(kindMessage, 1, [][]byte{[]byte("fits"), big, []byte("after")}, nil))
	events, bytes := b.Pending()
	require.Equal(t, int64(2), events, "the refused messages do not count")
	require.Equal(t, int64(len("kept")+len("fits")), bytes)
	require.Equal(t, []string{"kept", "fits"}, take(t, q, 10, 0).datas)
}

// oneRead lays msgs out as one read holds them, each after a gap of the
// given size (a frame header is 6 bytes), and returns the read and the
// messages' spans in it.
func oneRead(gaps []int, msgs ...string) ([]byte, []core.MessageSpan) {
	var read []byte
	spans := make([]core.MessageSpan, len(msgs))
	for i, m := range msgs {
		read = append(read, bytes.Repeat([]byte{'h'}, gaps[i])...)
		spans[i] = core.MessageSpan{Offset: len(read), Size: len(m)}
		read = append(read, m...)
	}
	return read, spans
}

// gapsBetween is how many bytes lie between each event's data and the
// next's in one Take.
func gapsBetween(got taken) []int {
	var gaps []int
	for i := 1; i < len(got.raw); i++ {
		gaps = append(gaps, int(unsafePointer(got.raw[i])-unsafePointer(got.raw[i-1]))-len(got.raw[i-1]))
	}
	return gaps
}

func TestInboxPushReadCopiesOneReadsMessagesWithTheirFrameHeaders(t *testing.T) {
	b := newBacklog(1<<20, 1<<30)
	q := NewInbox(b, nil, nil)
	defer q.Free()
	first, msgs1 := oneRead([]int{6, 6, 6}, "one", "two", "three")
	second, msgs2 := oneRead([]int{6, 6}, "four", "five")
	require.Equal(t, 3, q.PushRead(kindMessage, 1, first, msgs1, nil))
	require.Equal(t, 2, q.PushRead(kindMessage, 1, second, msgs2, nil))
	_, pending := b.Pending()
	require.Equal(t, int64(len("onetwothreefourfive")), pending, "frame headers do not count as message bytes")
	got := take(t, q, 10, 0)
	require.Equal(t, []string{"one", "two", "three", "four", "five"}, got.datas)
	require.Equal(t, []int{6, 6, 6, 6}, gapsBetween(got),
		"each read's run starts with its frame header, so one gap holds all through a stream")
}

func TestInboxPushReadStartsANewRunAtALargeGap(t *testing.T) {
	b := newBacklog(1<<20, 1<<30)
	q := NewInbox(b, nil, nil)
	defer q.Free()
	read, msgs := oneRead([]int{6, maxGap + 1, 6, 6, 6}, "a", "b", "c", "d", "e")
	require.Equal(t, 5, q.PushRead(kindMessage, 1, read, msgs, nil))
	events, pending := b.Pending()
	require.Equal(t, int64(5), events)
	require.Equal(t, int64(len("abcde")), pending, "runs count their message bytes only")
	got := take(t, q, 10, 0)
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, got.datas)
	require.Equal(t, []int{6, 6, 6, 6}, gapsBetween(got),
		"the large gap is not copied: b starts a run, which starts with b's header as every run does")
	require.Len(t, q.incoming.runs, 0, "taken")
}

func TestInboxPushReadRefusesASpanOutsideItsRead(t *testing.T) {
	q := NewInbox(newBacklog(1<<20, 1<<30), nil, nil)
	defer q.Free()
	for _, bad := range [][2]int{{100, 0}, {0, 100}, {-100, 0}, {0, -100}} { // offset or size moved out
		read, msgs := oneRead([]int{6, 6, 6}, "abc", "def", "ghi")
		for i := range msgs {
			msgs[i].Offset += bad[0]
			msgs[i].Size += bad[1]
			require.PanicsWithValue(t, "handoff: a message span outside its read", func() {
				q.PushRead(kindMessage, 1, read, msgs, nil)
			}, "message %d moved by %v", i, bad)
			msgs[i].Offset -= bad[0]
			msgs[i].Size -= bad[1]
		}
	}
	read, msgs := oneRead([]int{6}, "abc")
	require.Equal(t, 1, q.PushRead(kindMessage, 1, read, msgs, nil), "the lock was let go")
}

func TestInboxPushReadSkipsEmptyMessagesInARun(t *testing.T) {
	q := NewInbox(newBacklog(1<<20, 1<<30), nil, nil)
	defer q.Free()
	read, msgs := oneRead([]int{6, 6, 6}, "x", "", "y")
	require.Equal(t, 3, q.PushRead(kindMessage, 1, read, msgs, nil))
	got := take(t, q, 10, 0)
	require.Equal(t, []string{"x", "", "y"}, got.datas)
	require.Nil(t, got.raw[1], "an empty event has no data")
	require.Equal(t, 12, int(unsafePointer(got.raw[2])-unsafePointer(got.raw[0]))-1,
		"y lies after both frame headers")
}
