package handoff

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// notifier is an eventfd used as a level-triggered "events pending" flag.
type notifier struct{ efd int }

func newNotifier() (*notifier, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &notifier{efd: fd}, nil
}

func (n *notifier) fd() int { return n.efd }

// set makes the fd readable (the counter becomes non-zero).
func (n *notifier) set() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(n.efd, one[:])
}

// clear makes it unreadable again (reading resets the counter).
func (n *notifier) clear() {
	var buf [8]byte
	unix.Read(n.efd, buf[:])
}

func (n *notifier) close() { unix.Close(n.efd) }
