package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The subcommands run in-process, end to end over 127.0.0.1, with their
// real flag parsing and output.

// lockedBuffer is written by the command's goroutines and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what one finished command produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs one command line to its end (bounded by the context).
func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errs lockedBuffer
	code := run(ctx, args, streams{strings.NewReader(stdin), &out, &errs})
	return result{code, out.String(), errs.String()}
}

// background is a server (or receiving client) command running until stop.
type background struct {
	cancel      context.CancelFunc
	done        chan int
	out, errs   lockedBuffer
	address     string
	stoppedCode int
}

var listening = regexp.MustCompile(`listening on (\S+)`)

// startServer runs a server command on an ephemeral port and returns once
// it prints where it listens.
func startServer(t *testing.T, args ...string) *background {
	t.Helper()
	b := start(t, append(args, "--port", "0")...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listening.FindStringSubmatch(b.errs.String()); m != nil {
			b.address = m[1]
			return b
		}
		select {
		case code := <-b.done:
			t.Fatalf("%v exited with %d before listening: %s", args, code, b.errs.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not print its address: %s", args, b.errs.String())
		}
	}
}

func start(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel, done: make(chan int, 1)}
	go func() { b.done <- run(ctx, args, streams{strings.NewReader(""), &b.out, &b.errs}) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop ends the command as SIGINT would and returns its exit status.
func (b *background) stop(t *testing.T) int {
	t.Helper()
	if b.cancel == nil {
		return b.stoppedCode
	}
	b.cancel()
	b.cancel = nil
	select {
	case b.stoppedCode = <-b.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("command did not stop: %s", b.errs.String())
	}
	return b.stoppedCode
}

// wait returns the exit status of a command that ends by itself.
func (b *background) wait(t *testing.T) int {
	t.Helper()
	select {
	case b.stoppedCode = <-b.done:
		b.cancel()
		b.cancel = nil
	case <-time.After(15 * time.Second):
		t.Fatalf("command did not end: %s", b.errs.String())
	}
	return b.stoppedCode
}

func TestHelpListsEveryCommandAndEachHasItsOwn(t *testing.T) {
	r := runCmd(t, "", "--help")
	if r.code != 0 {
		t.Fatalf("--help exited %d", r.code)
	}
	for _, c := range commands() {
		if !strings.Contains(r.stdout, "  "+c.name+" ") {
			t.Errorf("overview does not list %s:\n%s", c.name, r.stdout)
		}
		h := runCmd(t, "", c.name, "--help")
		if h.code != 0 || !strings.Contains(h.stdout, "usage: netsys "+c.name) || !strings.Contains(h.stdout, "-compress") {
			t.Errorf("%s --help: exit %d, stdout:\n%s\nstderr:\n%s", c.name, h.code, h.stdout, h.stderr)
		}
		if same := runCmd(t, "", "help", c.name); same.stdout != h.stdout {
			t.Errorf("`help %s` differs from `%s --help`", c.name, c.name)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"send"},
		{"send", "no-port-here", "x"},
		{"send", "--nonsense", "127.0.0.1:1"},
		{"send", "--compress", "lz4", "127.0.0.1:1", "x"},
		{"echo", "--port", "70000"},
		{"bench", "--mode", "sideways"},
	} {
		if r := runCmd(t, "", args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d (want 2), stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	if r := runCmd(t, "", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "netsys 1.") {
		t.Fatalf("version: %d %q", r.code, r.stdout)
	}
}

func TestSendToEchoPrintsTheReplies(t *testing.T) {
	srv := startServer(t, "echo")
	r := runCmd(t, "", "send", srv.address, "one", "two", "three")
	if r.code != 0 || r.stdout != "one\ntwo\nthree\n" {
		t.Fatalf("send: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Without arguments: stdin's lines.
	r = runCmd(t, "alpha\nbeta\n", "send", "--format", "quoted", srv.address)
	if r.code != 0 || r.stdout != "\"alpha\"\n\"beta\"\n" {
		t.Fatalf("send from stdin: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if code := srv.stop(t); code != 0 {
		t.Fatalf("echo exited %d: %s", code, srv.errs.String())
	}
	if !strings.Contains(srv.errs.String(), "received 5 messages") {
		t.Errorf("echo's statistics at exit: %s", srv.errs.String())
	}
}

func TestSendReportsMissingReplies(t *testing.T) {
	srv := startServer(t, "listen") // receives, never replies
	r := runCmd(t, "", "send", "--count", "2", "--timeout", "300ms", srv.address, "hello")
	if r.code != 1 || !strings.Contains(r.stderr, "0 of 2 replies") {
		t.Fatalf("send: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCmd(t, "", "send", "--count", "0", srv.address, "no reply wanted"); r.code != 0 {
		t.Fatalf("send --count 0: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestSendToAClosedPortFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := l.Addr().String()
	l.Close()
	r := runCmd(t, "", "send", "--connect-timeout", "2s", address, "x")
	if r.code != 1 || !strings.Contains(r.stderr, "refused") {
		t.Fatalf("send to a closed port: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestListenPrintsWhatClientsSend(t *testing.T) {
	srv := startServer(t, "listen", "--prefix", "--count", "3")
	if r := runCmd(t, "", "send", "--count", "0", "--id", "alice", srv.address, "a1", "a2"); r.code != 0 {
		t.Fatalf("send: %d %s", r.code, r.stderr)
	}
	if r := runCmd(t, "", "send", "--count", "0", "--id", "bob", srv.address, "b1"); r.code != 0 {
		t.Fatalf("send: %d %s", r.code, r.stderr)
	}
	if code := srv.wait(t); code != 0 { // --count 3 ends it
		t.Fatalf("listen exited %d: %s", code, srv.errs.String())
	}
	if got := srv.out.String(); got != "alice: a1\nalice: a2\nbob: b1\n" {
		t.Fatalf("listen printed %q", got)
	}
	if !strings.Contains(srv.errs.String(), "alice connected") {
		t.Errorf("connections not reported: %s", srv.errs.String())
	}
}

func TestChatRoomsAndBroadcast(t *testing.T) {
	srv := startServer(t, "chat")
	// bob renames himself, joins room "ops" and prints what he receives.
	bob := start(t, "recv", "--id", "bob", "--send", "/nick bob", "--send", "/join ops", srv.address)
	waitFor(t, func() bool { return strings.Contains(bob.out.String(), "* bob joined ops") }, "bob in ops", bob)
	// alice is not in ops: she may not talk to it.
	r := runCmd(t, "", "send", "--count", "4", srv.address, "/nick alice", "/to ops hello ops")
	if r.code != 0 || !strings.Contains(r.stdout, "* you are not in ops") || !strings.Contains(r.stdout, "is now alice") {
		t.Fatalf("alice: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// carol joins ops and talks to it; then says something to everyone.
	if r := runCmd(t, "", "send", "--count", "0", srv.address, "/nick carol", "/join ops", "/to ops hello ops", "hi all"); r.code != 0 {
		t.Fatalf("carol: %d %s", r.code, r.stderr)
	}
	waitFor(t, func() bool { return strings.Contains(bob.out.String(), "carol: hi all") }, "carol's broadcast", bob)
	if code := bob.stop(t); code != 0 {
		t.Fatalf("bob exited %d: %s", code, bob.errs.String())
	}
	out := bob.out.String()
	for _, want := range []string{"* welcome user", "is now bob", "* bob joined ops", "is now alice",
		"* carol joined ops", "[ops] carol: hello ops", "carol: hi all"} {
		if !strings.Contains(out, want) {
			t.Errorf("bob did not see %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "alice: hello ops") {
		t.Errorf("alice's message reached a room she is not in:\n%s", out)
	}
}

func TestCompressionAndSizeLimits(t *testing.T) {
	big := strings.Repeat("compressible text ", 400) // 7,200 B
	for _, codec := range []string{"snappy", "zstd"} {
		srv := startServer(t, "echo", "--compress", codec)
		r := runCmd(t, "", "send", "--compress", codec, srv.address, big)
		if r.code != 0 || r.stdout != big+"\n" {
			t.Fatalf("%s: exit %d, %d bytes back, stderr %q", codec, r.code, len(r.stdout), r.stderr)
		}
	}
	// The server's limit (announced in the handshake): the client refuses
	// to send a larger message.
	srv := startServer(t, "echo", "--max-message", "1K")
	r := runCmd(t, "", "send", "--timeout", "3s", srv.address, strings.Repeat("x", 2000))
	if r.code != 1 || !strings.Contains(r.stderr, "message too large") {
		t.Fatalf("oversize: exit %d, stderr %q", r.code, r.stderr)
	}
	// The client's own limit: the echo is too large for it, the connection
	// ends with "message too large" and the reply never arrives.
	srv2 := startServer(t, "echo")
	r = runCmd(t, "", "send", "--max-message", "1K", "--timeout", "1s", srv2.address, strings.Repeat("y", 1500))
	if r.code != 1 || !strings.Contains(r.stderr, "0 of 1 replies") {
		t.Fatalf("reply over the client's limit: exit %d, stdout %d bytes, stderr %q", r.code, len(r.stdout), r.stderr)
	}
}

func TestBenchSelfHostedAndAgainstAServer(t *testing.T) {
	r := runCmd(t, "", "bench", "--count", "2000", "--window", "100", "--clients", "2", "--rounds", "200")
	if r.code != 0 || !strings.Contains(r.stdout, "throughput: 2 client(s) x 2000 messages") ||
		!strings.Contains(r.stdout, "latency: 200 round trips: p50 ") {
		t.Fatalf("bench: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	srv := startServer(t, "echo", "--compress", "zstd")
	r = runCmd(t, "", "bench", "--compress", "zstd", "--size", "1K", "--count", "500", "--rounds", "50", srv.address)
	if r.code != 0 || !strings.Contains(r.stdout, "1024 B messages") {
		t.Fatalf("bench against echo: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	srv.stop(t)
	if !strings.Contains(srv.errs.String(), fmt.Sprintf("received %d messages", 500+50)) {
		t.Errorf("the server did not see the bench's messages: %s", srv.errs.String())
	}
}

func TestBenchIsBoundedByItsTimeout(t *testing.T) {
	srv := startServer(t, "listen") // never echoes
	r := runCmd(t, "", "bench", "--mode", "latency", "--timeout", "300ms", srv.address)
	if r.code != 1 || !strings.Contains(r.stderr, "timed out after 0 of") {
		t.Fatalf("bench against a silent server: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestServerPrintsStatisticsPeriodically(t *testing.T) {
	srv := startServer(t, "echo", "--stats-interval", "50ms")
	waitFor(t, func() bool { return strings.Count(srv.errs.String(), "open,") >= 2 }, "two statistics lines", srv)
}

func waitFor(t *testing.T, cond func() bool, what string, b *background) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: stdout %q, stderr %q", what, b.out.String(), b.errs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
