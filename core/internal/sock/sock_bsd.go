//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package sock

import (
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

func socket(family int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// Accept takes one pending connection from a listening socket.
func Accept(fd int) (int, netip.AddrPort, error) {
	nfd, sa, err := unix.Accept(fd)
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	unix.CloseOnExec(nfd)
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, netip.AddrPort{}, err
	}
	return nfd, AddrPort(sa), nil
}

// LocalAddr returns the bound address of fd.
func LocalAddr(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	return AddrPort(sa)
}

// Write sends b; SO_NOSIGPIPE (set in Apply) keeps SIGPIPE away.
func Write(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

func noSigPipe(fd int) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1))
}

// Read reads into b; n == 0 with a nil error means the peer closed.
func Read(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}
