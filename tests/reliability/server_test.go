package reliability

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stats is one STATS line of relserver, as numbers.
type stats map[string]int64

func parseKV(line string) map[string]string {
	kv := map[string]string{}
	for _, f := range strings.Fields(line)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func parseStats(line string) stats {
	s := stats{}
	for k, v := range parseKV(line) {
		n, _ := strconv.ParseInt(v, 10, 64)
		s[k] = n
	}
	return s
}

// serverProc is a running relserver.
type serverProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	Port   int
	PID    int
	Absent map[string]bool

	mu      sync.Mutex
	last    stats
	peak    stats // maxima since the last mark
	events  []string
	answers chan string
	exited  chan struct{}
}

// startServer starts relserver with ServerConfig options (Name=value) and
// extra flags; it is killed when the test ends.
func startServer(t *testing.T, opts []string, flags ...string) *serverProc {
	t.Helper()
	args := append([]string{}, flags...)
	for _, o := range opts {
		args = append(args, "-opt", o)
	}
	cmd, stdin, stdout := startPiped(t, "relserver", args...)
	s := &serverProc{t: t, cmd: cmd, stdin: stdin, answers: make(chan string, 16), exited: make(chan struct{}),
		Absent: map[string]bool{}}
	ready := make(chan string, 1)
	go s.read(stdout, ready)
	go func() { cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.Kill)
	select {
	case line := <-ready:
		kv := parseKV(line)
		s.Port, _ = strconv.Atoi(kv["port"])
		s.PID = cmd.Process.Pid
		for _, a := range strings.Split(kv["absent"], ",") {
			if a != "" {
				s.Absent[a] = true
			}
		}
	case <-s.exited:
		t.Fatalf("relserver %v exited before READY", args)
	case <-time.After(10 * time.Second):
		t.Fatalf("relserver %v: no READY within 10 s", args)
	}
	s.waitStats()
	return s
}

func (s *serverProc) read(r io.Reader, ready chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "READY "):
			ready <- line
		case strings.HasPrefix(line, "STATS "):
			st := parseStats(line)
			s.mu.Lock()
			s.last = st
			if s.peak == nil {
				s.peak = stats{}
			}
			for k, v := range st {
				s.peak[k] = max(s.peak[k], v)
			}
			s.mu.Unlock()
		case strings.HasPrefix(line, "EVENT "):
			s.mu.Lock()
			s.events = append(s.events, line)
			s.mu.Unlock()
		case strings.HasPrefix(line, "OK "), strings.HasPrefix(line, "ERR "):
			select {
			case s.answers <- line:
			default:
			}
		}
	}
}

func (s *serverProc) waitStats() {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		ok := s.last != nil
		s.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatal("relserver printed no STATS within 5 s")
}

// command sends one stdin command and waits for its OK line.
func (s *serverProc) command(c string, timeout time.Duration) (string, error) {
	if _, err := fmt.Fprintln(s.stdin, c); err != nil {
		return "", fmt.Errorf("send %q: %w", c, err)
	}
	select {
	case a := <-s.answers:
		if strings.HasPrefix(a, "ERR") {
			return a, fmt.Errorf("relserver: %s", a)
		}
		return a, nil
	case <-s.exited:
		return "", fmt.Errorf("relserver exited during %q", c)
	case <-time.After(timeout):
		return "", fmt.Errorf("no answer to %q within %v", c, timeout)
	}
}

// Mark collects garbage in the server, restarts its peak figures and
// returns the baseline: the next Peak is measured from here.
func (s *serverProc) Mark() stats {
	if _, err := s.command("reset", 10*time.Second); err != nil {
		s.t.Fatal(err)
	}
	// Wait for a STATS line taken after the reset.
	time.Sleep(250 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = stats{}
	for k, v := range s.last {
		s.peak[k] = v
	}
	base := stats{}
	for k, v := range s.last {
		base[k] = v
	}
	return base
}

// Peak returns the maxima of every figure since the last Mark.
func (s *serverProc) Peak() stats {
	time.Sleep(150 * time.Millisecond) // one more STATS line
	s.mu.Lock()
	defer s.mu.Unlock()
	p := stats{}
	for k, v := range s.peak {
		p[k] = v
	}
	return p
}

// Last returns the latest STATS line.
func (s *serverProc) Last() stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := stats{}
	for k, v := range s.last {
		p[k] = v
	}
	return p
}

// Events returns the EVENT lines so far.
func (s *serverProc) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

// waitFor polls the latest STATS until cond holds or timeout passes.
func (s *serverProc) waitFor(timeout time.Duration, cond func(stats) bool) (stats, bool) {
	deadline := time.Now().Add(timeout)
	for {
		st := s.Last()
		if cond(st) {
			return st, true
		}
		if time.Now().After(deadline) {
			return st, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Alive reports whether the process is still running.
func (s *serverProc) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stop stops the server gracefully (Server.Stop) and waits for the exit.
func (s *serverProc) Stop(timeout time.Duration) error {
	if !s.Alive() {
		return fmt.Errorf("relserver had already exited")
	}
	fmt.Fprintln(s.stdin, "stop")
	select {
	case <-s.exited:
		return nil
	case <-time.After(timeout):
		s.Kill()
		return fmt.Errorf("graceful stop took more than %v", timeout)
	}
}

// Kill sends SIGKILL and waits for the exit.
func (s *serverProc) Kill() {
	if s.Alive() {
		s.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
		}
	}
}

// Signal sends sig to the server process.
func (s *serverProc) Signal(sig syscall.Signal) error { return s.cmd.Process.Signal(sig) }

// startPiped starts one of the suite's programs with its stdin and stdout
// piped to the test and its stderr on the test's.
func startPiped(t *testing.T, name string, args ...string) (*exec.Cmd, io.WriteCloser, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(bin(name), args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return cmd, stdin, stdout
}
