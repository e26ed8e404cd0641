//go:build linux

package poll

import (
	"os"

	"golang.org/x/sys/unix"
)

// Poller is an epoll instance plus an eventfd used to wake it.
type Poller struct {
	epfd   int
	wakefd int
	buf    [MaxEvents]unix.EpollEvent
	wakeb  [8]byte
}

// New creates a poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd}
	if err := p.ctl(unix.EPOLL_CTL_ADD, wakefd, 0, unix.EPOLLIN); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Poller) ctl(op, fd int, token uint32, events uint32) error {
	// The event's data is the fd and the token: Wait returns both.
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(token)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(p.epfd, op, fd, &ev))
}

func interest(read, write bool) uint32 {
	var ev uint32
	if read {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if write {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// Add registers fd with the given interest; its events carry token.
func (p *Poller) Add(fd int, token uint32, read, write bool) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, token, interest(read, write))
}

// Modify changes the interest of a registered fd (token as for Add: the
// event data is replaced too).
func (p *Poller) Modify(fd int, token uint32, read, write bool) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, token, interest(read, write))
}

// Delete unregisters fd; closing an fd also unregisters it.
func (p *Poller) Delete(fd int) error {
	return p.ctl(unix.EPOLL_CTL_DEL, fd, 0, 0)
}

// Wait blocks up to timeoutMs (-1: forever, 0: not at all) and fills events.
// Wake-ups are consumed here and not reported.
func (p *Poller) Wait(events []Event, timeoutMs int) (int, error) {
	n, err := unix.EpollWait(p.epfd, p.buf[:min(len(events), MaxEvents)], timeoutMs)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	out := 0
	for i := 0; i < n; i++ {
		ev := &p.buf[i]
		if int(ev.Fd) == p.wakefd {
			unix.Read(p.wakefd, p.wakeb[:])
			continue
		}
		events[out] = Event{
			Fd:       int(ev.Fd),
			Token:    uint32(ev.Pad),
			Readable: ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0,
			Writable: ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0,
		}
		out++
	}
	return out, nil
}

var one = [8]byte{1, 0, 0, 0, 0, 0, 0, 0}

// Wake interrupts a Wait in progress, or makes the next one return at once.
func (p *Poller) Wake() error {
	_, err := unix.Write(p.wakefd, one[:])
	if err == unix.EAGAIN { // counter saturated: a wake-up is pending anyway
		err = nil
	}
	return err
}

// Close releases the poller.
func (p *Poller) Close() error {
	unix.Close(p.wakefd)
	return unix.Close(p.epfd)
}

// WakeFD is the descriptor Wake writes to (for tests of its lifetime).
func (p *Poller) WakeFD() int { return p.wakefd }
