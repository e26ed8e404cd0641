//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poll

import (
	"os"

	"golang.org/x/sys/unix"
)

// Poller is a kqueue plus an EVFILT_USER event used to wake it.
type Poller struct {
	kq  int
	buf [MaxEvents]unix.Kevent_t
	// tokens holds the non-zero token of each fd (a kevent's udata is a
	// pointer on some systems, so it cannot carry an integer portably).
	tokens map[int]uint32
}

const wakeIdent = 0

// New creates a poller.
func New() (*Poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	unix.CloseOnExec(kq)
	p := &Poller{kq: kq, tokens: make(map[int]uint32)}
	ev := unix.Kevent_t{Filter: unix.EVFILT_USER, Flags: unix.EV_ADD | unix.EV_CLEAR}
	unix.SetKevent(&ev, wakeIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	if err := p.apply(ev); err != nil {
		unix.Close(kq)
		return nil, err
	}
	return p, nil
}

func (p *Poller) apply(changes ...unix.Kevent_t) error {
	_, err := unix.Kevent(p.kq, changes, nil, nil)
	return os.NewSyscallError("kevent", err)
}

func change(fd int, filter int, on bool) unix.Kevent_t {
	var ev unix.Kevent_t
	flags := unix.EV_DELETE
	if on {
		flags = unix.EV_ADD | unix.EV_ENABLE
	}
	unix.SetKevent(&ev, fd, filter, flags)
	return ev
}

// Add registers fd with the given interest; its events carry token.
func (p *Poller) Add(fd int, token uint32, read, write bool) error {
	p.setToken(fd, token)
	var evs []unix.Kevent_t
	if read {
		evs = append(evs, change(fd, unix.EVFILT_READ, true))
	}
	if write {
		evs = append(evs, change(fd, unix.EVFILT_WRITE, true))
	}
	return p.apply(evs...)
}

func (p *Poller) setToken(fd int, token uint32) {
	if token == 0 {
		delete(p.tokens, fd)
	} else {
		p.tokens[fd] = token
	}
}

// Modify changes the interest of a registered fd (and its token, as for Add).
func (p *Poller) Modify(fd int, token uint32, read, write bool) error {
	p.setToken(fd, token)
	// EV_DELETE of a filter that is not registered fails with ENOENT: apply
	// each change on its own and ignore that case.
	for _, ev := range []unix.Kevent_t{change(fd, unix.EVFILT_READ, read), change(fd, unix.EVFILT_WRITE, write)} {
		if err := p.apply(ev); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// Delete unregisters fd; closing an fd also unregisters it.
func (p *Poller) Delete(fd int) error { return p.Modify(fd, 0, false, false) }

// Wait blocks up to timeoutMs (-1: forever, 0: not at all) and fills events.
func (p *Poller) Wait(events []Event, timeoutMs int) (int, error) {
	var ts *unix.Timespec
	if timeoutMs >= 0 {
		t := unix.NsecToTimespec(int64(timeoutMs) * 1e6)
		ts = &t
	}
	n, err := unix.Kevent(p.kq, nil, p.buf[:min(len(events), MaxEvents)], ts)
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, os.NewSyscallError("kevent", err)
	}
	out := 0
	for i := 0; i < n; i++ {
		ev := &p.buf[i]
		if ev.Filter == unix.EVFILT_USER {
			continue
		}
		events[out] = Event{
			Fd:       int(ev.Ident),
			Token:    p.tokens[int(ev.Ident)],
			Readable: ev.Filter == unix.EVFILT_READ || ev.Flags&unix.EV_EOF != 0,
			Writable: ev.Filter == unix.EVFILT_WRITE,
		}
		out++
	}
	return out, nil
}

// Wake interrupts a Wait in progress, or makes the next one return at once.
func (p *Poller) Wake() error {
	var ev unix.Kevent_t
	unix.SetKevent(&ev, wakeIdent, unix.EVFILT_USER, 0)
	ev.Fflags = unix.NOTE_TRIGGER
	return p.apply(ev)
}

// Close releases the poller.
func (p *Poller) Close() error { return unix.Close(p.kq) }
