package handoff

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core"
)

// handedOut is one event as a consumer saw it.
type handedOut struct {
	kind    uint32
	status  int32
	session uint64
	data    string
}

// TakeRecords hands out what Take does, event for event, under any mix of
// pushes and takes: batches of messages of every size (empty ones, ones
// larger than a block, batches that fill a block and go on in the next),
// notices with and without text, and takes of any size, which may stop in
// the middle of a batch, pushed one by one or as one read's messages (with
// frame headers between them, larger gaps, and messages from elsewhere).
// The records of one call lie in one block in order, each after the one
// before (a text followed by its zero byte) with at most maxGap bytes
// between, and an empty event has no data (NULL for C).
func TestInboxTakeRecordsHandsOutWhatTakeDoes(t *testing.T) {
	for seed := int64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			viaTake := NewInbox(newBacklog(1<<30, 1<<40), mmapMemory{}, nil)
			defer viaTake.Free()
			viaRecords := NewInbox(newBacklog(1<<30, 1<<40), mmapMemory{}, nil)
			defer viaRecords.Free()

			var want, got []handedOut
			takeOne := func() {
				max := 1 + rng.Intn(300)
				_, err := viaTake.Take(max, 0, func(_ int, ev *Event) {
					want = append(want, handedOut{ev.Kind, ev.Status, ev.Session, string(ev.Data)})
					if ev.Text {
						require.Equal(t, byte(0), ev.Data[:len(ev.Data)+1][len(ev.Data)])
					}
				})
				require.NoError(t, err)
				out := make([]Record, max)
				n, err := viaRecords.TakeRecords(out, 0)
				require.NoError(t, err)
				var next uintptr // where the next event's bytes must start; 0: not known yet
				for i := range out[:n] {
					r := &out[i]
					span := r.Size
					if r.Kind == kindError {
						span++ // a notice's zero byte
					}
					switch {
					case r.Size == 0:
						require.Zero(t, r.Data, "an empty event has no data")
						if next != 0 {
							next += span - r.Size
						}
					case next == 0:
						next = r.Data + span
					default:
						require.GreaterOrEqual(t, r.Data, next, "record %d: after the one before", i)
						require.LessOrEqual(t, r.Data-next, uintptr(maxGap), "record %d: near the one before", i)
						next = r.Data + span
					}
					got = append(got, handedOut{r.Kind, r.Status, r.Session, string(recordBytes(r))})
				}
			}
			for step := 0; step < 150; step++ {
				switch rng.Intn(4) {
				case 0, 1:
					msgs := make([][]byte, rng.Intn(300))
					var read []byte // the messages as one read holds them, when asRead
					starts := make([]int, len(msgs))
					asRead := rng.Intn(2) == 0
					for i := range msgs {
						size := rng.Intn(200)
						switch rng.Intn(400) {
						case 0:
							size = 0
						case 1:
							size = blockSize + rng.Intn(1000)
						case 2, 3, 4, 5:
							size = blockSize/3 + rng.Intn(1000)
						}
						msgs[i] = make([]byte, size)
						rng.Read(msgs[i][:min(size, 24)]) // enough to tell messages apart
						if size > 0 {
							msgs[i][size-1] = byte(i)
						}
						if asRead {
							gap := 6 // a frame header
							switch rng.Intn(20) {
							case 0:
								gap = maxGap + 1 + rng.Intn(100) // a new run
							case 1:
								gap = rng.Intn(maxGap + 1)
							}
							read = append(read, make([]byte, gap)...)
							starts[i] = len(read)
							read = append(read, msgs[i]...)
						}
					}
					sid := uint64(rng.Intn(3))
					if asRead {
						spans := make([]core.MessageSpan, len(msgs))
						for i, m := range msgs {
							spans[i] = core.MessageSpan{Offset: starts[i], Size: len(m)}
						}
						require.Equal(t, len(msgs), viaTake.PushRead(kindMessage, sid, read, spans, nil))
						require.Equal(t, len(msgs), viaRecords.PushRead(kindMessage, sid, read, spans, nil))
					} else {
						require.Equal(t, len(msgs), viaTake.PushMessages(kindMessage, sid, msgs, nil))
						require.Equal(t, len(msgs), viaRecords.PushMessages(kindMessage, sid, msgs, nil))
					}
				case 2:
					text := ""
					if rng.Intn(3) > 0 {
						text = fmt.Sprintf("notice %d", rng.Int())
					}
					status := int32(rng.Intn(3))
					require.True(t, viaTake.PushNotice(kindError, status, 9, text))
					require.True(t, viaRecords.PushNotice(kindError, status, 9, text))
				case 3:
					takeOne()
				}
			}
			pending := func(q *Inbox) bool { n, _ := q.backlog.Pending(); return n > 0 }
			for pending(viaTake) || pending(viaRecords) {
				before := len(want) + len(got)
				takeOne()
				require.Greater(t, len(want)+len(got), before, "a take of a non-empty queue hands something out")
			}
			require.Equal(t, len(want), len(got))
			for i := range want {
				require.Equal(t, want[i], got[i], "event %d", i)
			}
		})
	}
}
