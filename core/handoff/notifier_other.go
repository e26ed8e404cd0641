//go:build !linux

package handoff

import "golang.org/x/sys/unix"

// notifier is a non-blocking pipe used as a level-triggered "events
// pending" flag where eventfd does not exist: one byte in the pipe means
// readable.
type notifier struct{ r, w int }

func newNotifier() (*notifier, error) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return nil, err
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return nil, err
		}
	}
	return &notifier{r: p[0], w: p[1]}, nil
}

func (n *notifier) fd() int { return n.r }

func (n *notifier) set() { unix.Write(n.w, []byte{1}) }

func (n *notifier) clear() {
	var buf [16]byte
	for {
		if k, _ := unix.Read(n.r, buf[:]); k <= 0 {
			return
		}
	}
}

func (n *notifier) close() {
	unix.Close(n.r)
	unix.Close(n.w)
}
