//go:build linux

package sock

import "golang.org/x/sys/unix"

func socket(family int) (int, error) {
	return unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
}

// Accept takes one pending connection from a listening socket.
func Accept(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}

// Write sends b. MSG_NOSIGNAL keeps a vanished peer from raising SIGPIPE in
// the host process (which matters when we run inside a C program).
func Write(fd int, b []byte) (int, error) {
	for {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

func noSigPipe(int) error { return nil }
