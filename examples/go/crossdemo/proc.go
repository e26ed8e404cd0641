package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	clientLimit  = 20 * time.Second // a client's own timeout is 10 s
	startLimit   = 10 * time.Second // for "listening on PORT"
	eofLimit     = 5 * time.Second  // for a server to stop after stdin EOF
	signalLimit  = 3 * time.Second  // for a server to stop after SIGTERM
	outputLimitB = 64 << 10         // bytes of a child's output kept
)

// registry holds the process groups of the running children.
type registry struct {
	mu     sync.Mutex
	pgid   map[int]struct{}
	closed bool // killAll ran: a child started after it is killed at once
}

var children = registry{pgid: map[int]struct{}{}}

func (r *registry) add(pid int) {
	r.mu.Lock()
	r.pgid[pid] = struct{}{}
	if r.closed {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	r.mu.Unlock()
}

func (r *registry) remove(pid int) {
	r.mu.Lock()
	delete(r.pgid, pid)
	r.mu.Unlock()
}

func (r *registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// killAll kills every child's process group (each child leads its own)
// and waits a little for them to be reaped, so none is left as a zombie.
func (r *registry) killAll() {
	r.mu.Lock()
	r.closed = true
	for pgid := range r.pgid {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	r.mu.Unlock()
	for deadline := time.Now().Add(signalLimit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		n := len(r.pgid)
		r.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

// command prepares p with the given flags, in its own process group.
func command(ctx context.Context, p program, args ...string) *exec.Cmd {
	argv := append(append([]string{}, p.Argv...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout kill the whole group, not just the direct child.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// clientRun is the outcome of one client process.
type clientRun struct {
	Line   string // the contract's summary line, if printed
	Output string // everything it printed, for diagnostics
	Err    error  // nil only when it exited 0 in time
}

// runClient runs a client against 127.0.0.1:port and waits for it.
func runClient(p program, port, count, size int) clientRun {
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()
	cmd := command(ctx, p, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--count", strconv.Itoa(count), "--size", strconv.Itoa(size))
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = nil // /dev/null: a client needs no input
	if err := cmd.Start(); err != nil {
		return clientRun{Err: err}
	}
	children.add(cmd.Process.Pid)
	err := cmd.Wait()
	children.remove(cmd.Process.Pid)
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v", clientLimit)
	}
	run := clientRun{Output: out.String(), Err: err}
	for _, line := range strings.Split(run.Output, "\n") {
		if strings.Contains(line, " client: ") {
			run.Line = strings.TrimSpace(line)
		}
	}
	return run
}

// server is a running example echo server.
type server struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	Port   int
	output limitedBuffer
	exited chan error
}

// startServer starts p with --port 0 and waits for "listening on PORT".
func startServer(p program) (*server, error) {
	// The server's lifetime is managed by stop; the context only lets Cancel kill the group.
	cmd := command(context.Background(), p, "--port", "0")
	s := &server{cmd: cmd, exited: make(chan error, 1)}
	var err error
	// Its stdin stays open until stop closes it: EOF is the polite stop.
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = &s.output
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	children.add(cmd.Process.Pid)

	ports := make(chan int, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		announced := false
		for scanner.Scan() {
			line := scanner.Text()
			s.output.Write([]byte(line + "\n"))
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); ok && !announced {
				if port, err := strconv.Atoi(rest); err == nil && port > 0 && port < 65536 {
					announced = true
					ports <- port
				}
			}
		}
		io.Copy(io.Discard, stdout)
		s.exited <- cmd.Wait()
		children.remove(cmd.Process.Pid)
	}()
	select {
	case s.Port = <-ports:
		return s, nil
	case err := <-s.exited:
		s.exited <- err // let stop see it too
		return s, fmt.Errorf("exited before printing \"listening on PORT\" (%v)", exitText(err))
	case <-time.After(startLimit):
		s.kill()
		return s, fmt.Errorf("no \"listening on PORT\" line within %v", startLimit)
	}
}

// stop closes the server's stdin and waits; a server that ignores the EOF
// gets SIGTERM, then SIGKILL. It reports how the server ended: nil only if
// it exited 0 on EOF, as the contract says.
func (s *server) stop() error {
	s.stdin.Close()
	select {
	case err := <-s.exited:
		if err != nil {
			return fmt.Errorf("after stdin EOF it exited with %v", exitText(err))
		}
		return nil
	case <-time.After(eofLimit):
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
		return fmt.Errorf("ignored stdin EOF for %v (stopped by SIGTERM)", eofLimit)
	case <-time.After(signalLimit):
	}
	s.kill()
	return fmt.Errorf("ignored stdin EOF and SIGTERM (killed)")
}

func (s *server) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(signalLimit):
	}
	children.remove(s.cmd.Process.Pid)
}

func exitText(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// limitedBuffer keeps the first outputLimitB bytes a child writes, so a
// chatty child cannot exhaust memory; it is safe for concurrent writers.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := outputLimitB - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
