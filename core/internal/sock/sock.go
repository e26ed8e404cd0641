// Package sock holds the few socket system calls the event loops need, with
// the platform differences (accept4, MSG_NOSIGNAL, SO_NOSIGPIPE) hidden.
// Every socket it creates is non-blocking and close-on-exec.
package sock

import (
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Options are the per-connection socket options from the configuration.
type Options struct {
	NoDelay   bool
	KeepAlive bool
	RecvBuf   int
	SendBuf   int
}

// Apply sets the options on a connected socket.
func (o Options) Apply(fd int) error {
	set := func(level, opt, v int) error {
		return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, level, opt, v))
	}
	if err := set(unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(o.NoDelay)); err != nil {
		return err
	}
	if err := set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(o.KeepAlive)); err != nil {
		return err
	}
	if o.RecvBuf > 0 {
		if err := set(unix.SOL_SOCKET, unix.SO_RCVBUF, o.RecvBuf); err != nil {
			return err
		}
	}
	if o.SendBuf > 0 {
		if err := set(unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBuf); err != nil {
			return err
		}
	}
	return noSigPipe(fd)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func family(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// Sockaddr converts an address to the system form.
func Sockaddr(ap netip.AddrPort) unix.Sockaddr {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	return sa
}

// AddrPort converts a system address; unknown families give the zero value.
func AddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func newSocket(a netip.Addr) (int, error) {
	fd, err := socket(family(a))
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

// Listen opens a listening socket on addr.
func Listen(addr netip.AddrPort, backlog int) (int, error) {
	fd, err := newSocket(addr.Addr())
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt", err)
	}
	if err := unix.Bind(fd, Sockaddr(addr)); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// Connect starts a non-blocking connect; completion is signalled by
// writability, after which ConnectResult tells whether it succeeded.
func Connect(addr netip.AddrPort) (int, error) {
	fd, err := newSocket(addr.Addr())
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, Sockaddr(addr)); err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		unix.Close(fd)
		return -1, os.NewSyscallError("connect", err)
	}
	return fd, nil
}

// ConnectResult reports the outcome of a non-blocking connect: nil, or the
// errno the connect failed with (unix.Errno, so errors.Is matches it).
func ConnectResult(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if v != 0 {
		// The bare errno: callers say "connect" themselves.
		return unix.Errno(v)
	}
	return nil
}

// ShutdownWrite half-closes the connection (sends FIN).
func ShutdownWrite(fd int) { unix.Shutdown(fd, unix.SHUT_WR) }

// Close closes fd.
func Close(fd int) { unix.Close(fd) }
