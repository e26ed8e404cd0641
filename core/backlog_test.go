package core

// Moved from capi (its flow is core's Backlog now), assertions unchanged.

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// countingPauser records pause and resume calls, and any made for another
// reason than the queue's own (which would undo a pause of the host's).
type countingPauser struct{ pauses, resumes, foreign int }

func (p *countingPauser) PauseReadingFor(r PauseReason) {
	p.pauses++
	if r != PauseQueue {
		p.foreign++
	}
}

func (p *countingPauser) ResumeReadingFor(r PauseReason) {
	p.resumes++
	if r != PauseQueue {
		p.foreign++
	}
}

// The host may drain the whole backlog between the moment the I/O thread
// sees the limit exceeded and the moment it records the pause: the pause
// must then be undone at once, or the session stays paused with nothing left
// for the host to drain (a stall).
func TestBacklogPauseAfterHostDrainedResumes(t *testing.T) {
	var f Backlog
	f.SetLimits(4, 1<<20)
	exceeded := false
	for i := 0; i < 5; i++ {
		exceeded = f.Add(10)
	}
	if !exceeded {
		t.Fatal("five events over a limit of four must exceed it")
	}
	f.Consumed(5, 50) // the host drains everything before pause runs
	src := &countingPauser{}
	f.Pause(src)
	if src.pauses != 1 || src.resumes != 1 {
		t.Fatalf("pause after a full drain: %d pauses, %d resumes; want 1 and 1", src.pauses, src.resumes)
	}

	// The usual order: paused while the backlog is high, resumed on drain.
	for i := 0; i < 5; i++ {
		f.Add(10)
	}
	src2 := &countingPauser{}
	f.Pause(src2)
	if src2.resumes != 0 {
		t.Fatal("resumed while the backlog is still over the limit")
	}
	f.Consumed(5, 50)
	if src2.pauses != 1 || src2.resumes != 1 {
		t.Fatalf("drain: %d pauses, %d resumes; want 1 and 1", src2.pauses, src2.resumes)
	}
	if src.foreign+src2.foreign != 0 {
		t.Fatal("the backlog paused or resumed for another reason than the queue's")
	}
}

// Held events count against the bound until released; releasing more than
// is held is refused and changes nothing.
func TestBacklogHoldCountsAgainstTheBound(t *testing.T) {
	var f Backlog
	f.SetLimits(4, 1<<20)
	require.ErrorIs(t, f.Hold(-1, 0), ErrInvalidArgument)
	for range 5 {
		f.Add(10)
	}
	src := &countingPauser{}
	f.Pause(src)
	require.NoError(t, f.Hold(5, 50)) // the host polled all five and keeps them
	f.Consumed(5, 50)
	require.Zero(t, src.resumes, "resumed while the host still holds the events")
	require.ErrorIs(t, f.Hold(-6, 0), ErrInvalidArgument)
	require.NoError(t, f.Hold(-5, -50))
	require.Equal(t, 1, src.resumes)
	require.Zero(t, src.foreign)
}
