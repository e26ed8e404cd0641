package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/tests/reliability/internal/optcfg"
	"github.com/netsys/netsys/tests/reliability/internal/procfs"
	"github.com/netsys/netsys/tests/reliability/internal/workload"
)

// clientProc is a relclient process.
type clientProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
}

// startClient starts relclient; it is killed when the test ends.
func startClient(t *testing.T, args ...string) *clientProc {
	t.Helper()
	cmd, stdin, stdout := startPiped(t, "relclient", args...)
	c := &clientProc{cmd: cmd, stdin: stdin, lines: make(chan string, 1024), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody reads these any more
			}
		}
	}()
	go func() { cmd.Wait(); close(c.exited) }()
	t.Cleanup(c.kill)
	return c
}

// expect waits for a line starting with prefix.
func (c *clientProc) expect(prefix string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case l := <-c.lines:
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-c.exited:
			return "", fmt.Errorf("relclient exited before %q", prefix)
		case <-deadline:
			return "", fmt.Errorf("no %q from relclient within %v", prefix, timeout)
		}
	}
}

func (c *clientProc) kill() {
	c.cmd.Process.Signal(syscall.SIGCONT)
	c.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
	}
}

// TestFaultKillClient: clients killed with SIGKILL mid-stream; the
// server's fds must come back to their baseline.
func TestFaultKillClient(t *testing.T) {
	need(t)
	srv := startServer(t, nil, "-mode", "sink")
	addr := fmt.Sprintf("127.0.0.1:%d", srv.Port)
	time.Sleep(200 * time.Millisecond)
	baseFDs, err := procfs.FDCount(srv.PID)
	if err != nil {
		t.Fatal(err)
	}
	const perRound = 5
	v := &verdict{}
	var worst time.Duration
	for round := range prof.killRounds {
		var procs []*clientProc
		for i := range perRound {
			p := startClient(t, "-mode", "stream", "-addr", addr, "-id", fmt.Sprintf("k%d-%d", round, i), "-interval", "200us")
			procs = append(procs, p)
		}
		for _, p := range procs {
			if _, err := p.expect("CONNECTED", 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		_, ok := srv.waitFor(5*time.Second, func(s stats) bool { return s["sessions"] == perRound })
		v.check(ok, "round %d: %d sessions, want %d", round, srv.Last()["sessions"], perRound)
		time.Sleep(300 * time.Millisecond) // mid-stream
		start := time.Now()
		for _, p := range procs {
			p.cmd.Process.Signal(syscall.SIGKILL)
		}
		back := false
		var fds int
		for time.Since(start) < 5*time.Second {
			fds, _ = procfs.FDCount(srv.PID)
			if fds <= baseFDs && srv.Last()["sessions"] == 0 {
				back = true
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(start)
		worst = max(worst, took)
		v.check(back, "round %d: server fds %d (baseline %d), %d sessions 5 s after the kills", round, fds, baseFDs, srv.Last()["sessions"])
		for _, p := range procs {
			p.kill()
		}
	}
	final, _ := procfs.FDCount(srv.PID)
	record(t, "faults", fmt.Sprintf("kill -9 of %d streaming clients, %d rounds", perRound, prof.killRounds),
		"server fds (/proc/PID/fd) and sessions back to baseline within 5 s",
		fmt.Sprintf("fds baseline %d, final %d; slowest return %s", baseFDs, final, msec(worst)), v)
}

// deliveryMode is NETSYS_DELIVERY: plain (today's transport) or acked
// (acknowledged delivery, once the option exists).
func deliveryMode() string {
	if m := os.Getenv("NETSYS_DELIVERY"); m != "" {
		return m
	}
	return "plain"
}

// restartClient is one auto-reconnecting client sending numbered messages.
type restartClient struct {
	id          string
	cli         *core.Client
	accepted    []int64
	failed      int64
	undelivered atomic.Int64
	errs        []string
	mu          sync.Mutex
}

func newRestartClient(t *testing.T, id string, port int, acked bool) *restartClient {
	cfg := core.ClientConfig{ClientID: id, AutoReconnect: true, ReconnectInterval: 50 * time.Millisecond,
		ReconnectMaxInterval: 300 * time.Millisecond, ConnectTimeout: 3 * time.Second}
	if acked {
		if err := optcfg.Set(&cfg, "Acknowledged", "true"); err != nil {
			t.Fatal(err)
		}
	}
	cli, err := core.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc := &restartClient{id: id, cli: cli}
	cli.OnError(func(err error) {
		var ue *core.UndeliveredError
		if errors.As(err, &ue) {
			rc.undelivered.Add(int64(ue.Count))
		}
		rc.mu.Lock()
		if len(rc.errs) < 3 {
			rc.errs = append(rc.errs, err.Error())
		}
		rc.mu.Unlock()
	})
	if err := cli.Connect("127.0.0.1", port); err != nil {
		t.Fatal(err)
	}
	return rc
}

// send runs until stop: one message every 500 µs (2,000 a second), so
// that a crash finds messages in flight.
func (rc *restartClient) send(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(500 * time.Microsecond)
	defer t.Stop()
	for seq := int64(0); seq < 1_000_000; seq++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if err := rc.cli.Send(workload.Message(rc.id, seq, 64)); err != nil {
			rc.failed++
			continue
		}
		rc.accepted = append(rc.accepted, seq)
	}
}

// deliveryLog reads the log-mode servers' records: per client, the
// sequence numbers in delivery order.
func deliveryLog(t *testing.T, files []string) map[string][]int64 {
	got := map[string][]int64{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line == "" {
				continue
			}
			id, seq, _, err := workload.ParseMessage([]byte(line + "\n"))
			if err != nil {
				t.Errorf("delivery log %s: %v", f, err)
				continue
			}
			got[id] = append(got[id], seq)
		}
	}
	return got
}

// accounting compares what clients were told with what servers delivered.
type accounting struct {
	accepted, failed, reported, delivered, duplicates, outOfOrder, unexpected, lost int64
}

func (a accounting) silent() int64 { return max(0, a.lost-a.reported) }

func account(clients []*restartClient, log map[string][]int64) accounting {
	var a accounting
	for _, rc := range clients {
		a.accepted += int64(len(rc.accepted))
		a.failed += rc.failed
		a.reported += rc.undelivered.Load()
		acc := map[int64]bool{}
		for _, s := range rc.accepted {
			acc[s] = true
		}
		seen := map[int64]bool{}
		last := int64(-1)
		for _, s := range log[rc.id] {
			if seen[s] {
				a.duplicates++
				continue
			}
			seen[s] = true
			if s < last {
				a.outOfOrder++
			}
			last = s
			if !acc[s] {
				a.unexpected++
			}
		}
		for s := range acc {
			if !seen[s] {
				a.lost++
			}
		}
		a.delivered += int64(len(seen))
	}
	return a
}

// TestFaultServerRestart restarts the server (graceful, then kill -9)
// while auto-reconnecting clients keep sending numbered messages, and
// checks every message against the servers' delivery logs.
func TestFaultServerRestart(t *testing.T) {
	need(t)
	for _, how := range []string{"graceful", "kill -9"} {
		t.Run(how, func(t *testing.T) { serverRestarts(t, how) })
	}
}

func serverRestarts(t *testing.T, how string) {
	mode := deliveryMode()
	acked := mode == "acked"
	var serverOpts []string
	if acked {
		serverOpts = []string{"Acknowledged=true"}
	}
	dir := t.TempDir()
	logs := []string{filepath.Join(dir, "0.log")}
	srv := startServer(t, serverOpts, "-mode", "log", "-log", logs[0])
	name := fmt.Sprintf("server restarted (%s) x%d under 4 auto-reconnecting senders, %s delivery", how, prof.restarts, mode)
	if acked && (srv.Absent["Acknowledged"] || !optcfg.Has(&core.ClientConfig{}, "Acknowledged")) {
		record(t, "faults", name, "no silent loss", "", &verdict{notRun: []string{"acknowledged delivery (option Acknowledged) is absent in this build"}})
		return
	}
	port := srv.Port
	var clients []*restartClient
	for i := range 4 {
		clients = append(clients, newRestartClient(t, fmt.Sprintf("r%d", i), port, acked))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, rc := range clients {
		wg.Add(1)
		go rc.send(stop, &wg)
	}
	for r := range prof.restarts {
		time.Sleep(700 * time.Millisecond)
		if how == "graceful" {
			if err := srv.Stop(15 * time.Second); err != nil {
				t.Error(err)
			}
		} else {
			srv.Kill()
		}
		logs = append(logs, filepath.Join(dir, fmt.Sprintf("%d.log", r+1)))
		srv = startServer(t, serverOpts, "-mode", "log", "-log", logs[len(logs)-1], "-port", fmt.Sprint(port))
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	// Let the reconnect queues drain, then stop the clients gracefully
	// (Stop flushes and reports what it could not deliver) and the server.
	deadline := time.Now().Add(10 * time.Second)
	for _, rc := range clients {
		for !rc.cli.IsConnected() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond)
	for _, rc := range clients {
		rc.cli.Stop()
	}
	if err := srv.Stop(15 * time.Second); err != nil {
		t.Error(err)
	}
	a := account(clients, deliveryLog(t, logs))
	figures := fmt.Sprintf("accepted %d, delivered %d, refused by Send %d, reported undelivered %d, lost %d, silently lost %d, duplicates %d, out of order %d, delivered though refused %d",
		a.accepted, a.delivered, a.failed, a.reported, a.lost, a.silent(), a.duplicates, a.outOfOrder, a.unexpected)
	v := &verdict{}
	for _, rc := range clients {
		if len(rc.errs) > 0 {
			v.note("%s first reports: %s", rc.id, strings.Join(rc.errs, "; "))
		}
	}
	v.check(a.accepted > 0, "nothing was sent")
	v.check(a.outOfOrder == 0, "%d messages delivered out of order", a.outOfOrder)
	v.check(a.unexpected == 0, "%d messages delivered although Send refused them", a.unexpected)
	switch {
	case how == "graceful":
		v.check(a.silent() == 0, "%d messages lost without a report", a.silent())
		v.check(a.duplicates == 0, "%d duplicates", a.duplicates)
		record(t, "faults", name, "nothing lost silently, no duplicates, in order", figures, v)
	case acked:
		v.check(a.silent() == 0, "%d messages lost without a report", a.silent())
		record(t, "faults", name, "nothing lost silently (duplicates allowed only after a crash), in order", figures, v)
	default:
		v.check(a.duplicates == 0, "%d duplicates", a.duplicates)
		v.note("without acknowledgements, messages in the dead server's socket buffers are lost unreported (expected > 0; NETSYS_DELIVERY=acked checks the acknowledged mode)")
		record(t, "faults", name, "no duplicates, in order; silent loss reported as a figure", figures, v)
	}
}

// frozenWait is how long a frozen-peer check waits for the detection.
func frozenWait(idle time.Duration) time.Duration { return idle + 15*time.Second }

// TestFaultFrozenPeer: a SIGSTOPped client (seen by the server) and a
// SIGSTOPped server (seen by a client) must be detected by heartbeats.
func TestFaultFrozenPeer(t *testing.T) {
	need(t)
	type variant struct {
		name string
		opts []string
		// idle is the idle timeout in force: short, or the default 30 s.
		idle, shutdown time.Duration
	}
	variants := []variant{{"IdleTimeout 1 s, ShutdownTimeout 1 s", []string{"IdleTimeout=1s", "ShutdownTimeout=1s"}, time.Second, time.Second}}
	if prof.heartbeatDefaults {
		variants = append(variants, variant{"defaults (idle timeout 30 s)", nil, 30 * time.Second, 5 * time.Second})
	}
	for _, vr := range variants {
		t.Run("client frozen, "+vr.name, func(t *testing.T) { frozenClient(t, vr.name, vr.opts, vr.idle, vr.shutdown) })
		t.Run("server frozen, "+vr.name, func(t *testing.T) { frozenServer(t, vr.name, vr.opts, vr.idle, vr.shutdown) })
	}
}

// detectBound: the idle timeout, then the close sequence with a peer that
// never answers (bounded by the shutdown timeout), plus timer lateness.
func detectBound(idle, shutdown time.Duration) time.Duration {
	return idle + shutdown + 500*time.Millisecond
}

func frozenClient(t *testing.T, name string, opts []string, idle, shutdown time.Duration) {
	srv := startServer(t, opts, "-events")
	p := startClient(t, "-mode", "stream", "-addr", fmt.Sprintf("127.0.0.1:%d", srv.Port), "-id", "frozen", "-interval", "10ms")
	if _, err := p.expect("CONNECTED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGSTOP)
	var found string
	for time.Since(start) < frozenWait(idle) && found == "" {
		for _, e := range srv.Events() {
			if strings.Contains(e, `client="frozen"`) {
				found = e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	p.kill()
	reportFrozen(t, "server detects a SIGSTOPped client, "+name, found != "", took, idle, shutdown, eventReason(found))
}

func frozenServer(t *testing.T, name string, opts []string, idle, shutdown time.Duration) {
	srv := startServer(t, nil)
	ccfg := core.ClientConfig{ClientID: "watcher"}
	if _, err := optcfg.Multi(opts).Apply(&ccfg); err != nil {
		t.Fatal(err)
	}
	cli, err := core.NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	reason := make(chan string, 1)
	cli.OnDisconnect(func(r string) {
		select {
		case reason <- r:
		default:
		}
	})
	if err := cli.Connect("127.0.0.1", srv.Port); err != nil {
		t.Fatal(err)
	}
	defer cli.Stop()
	cli.Send([]byte("hello"))
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	srv.Signal(syscall.SIGSTOP)
	defer srv.Signal(syscall.SIGCONT)
	var why string
	detected := false
	select {
	case why = <-reason:
		detected = true
	case <-time.After(frozenWait(idle)):
	}
	reportFrozen(t, "client detects a SIGSTOPped server, "+name, detected, time.Since(start), idle, shutdown, why)
}

func reportFrozen(t *testing.T, name string, detected bool, took, idle, shutdown time.Duration, reason string) {
	v := &verdict{}
	bound := detectBound(idle, shutdown)
	v.check(detected, "not detected within %v", frozenWait(idle))
	if detected {
		v.check(took <= bound, "detected after %s (bound %s)", msec(took), msec(bound))
		v.check(strings.Contains(reason, "idle timeout"), "reason %q, want idle timeout", reason)
	}
	figures := fmt.Sprintf("not detected within %v", frozenWait(idle))
	if detected {
		figures = fmt.Sprintf("disconnect reported after %s, reason %q", msec(took), reason)
	}
	record(t, "faults", name, fmt.Sprintf("reported within idle %v + shutdown %v + 0.5 s", idle, shutdown), figures, v)
}

// eventReason extracts the quoted reason="..." of an EVENT line.
func eventReason(line string) string {
	_, q, ok := strings.Cut(line, "reason=")
	if !ok {
		return ""
	}
	r, err := strconv.Unquote(q)
	if err != nil {
		return q
	}
	return r
}

// runCommand runs a command with a timeout and returns its output.
func runCommand(timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}
