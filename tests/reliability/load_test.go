package reliability

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/tests/reliability/internal/procfs"
	"github.com/netsys/netsys/tests/reliability/internal/workload"
)

// Per-connection memory bounds of an idle handshaken connection (the
// benchmarks measure about 1 KiB; the bound leaves room for growth).
const (
	heapPerConnBound = 2 << 10
	rssPerConnBound  = 4 << 10
)

// TestLoadConnections holds N handshaken connections (client and server
// in separate processes: one process cannot hold both ends of 10,000 under
// this machine's fd limit) and broadcasts to all of them.
func TestLoadConnections(t *testing.T) {
	need(t)
	n := prof.loadConns
	srv := startServer(t, []string{fmt.Sprintf("MaxConnections=%d", n+100), "HandshakeTimeout=10s"})
	baseFDs, _ := procfs.FDCount(srv.PID)
	base := srv.Mark()
	cl := startClient(t, "-mode", "hold", "-addr", fmt.Sprintf("127.0.0.1:%d", srv.Port), "-conns", fmt.Sprint(n), "-window", "12")
	line, err := cl.expect("OPENED", 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	opened := parseKV(line)
	got, _ := strconv.Atoi(opened["n"])
	openMs, _ := strconv.Atoi(opened["ms"])
	v := &verdict{}
	v.check(got == n, "%d of %d connections opened (%s failed, first error %s)", got, n, opened["failed"], opened["first_error"])
	_, ok := srv.waitFor(20*time.Second, func(s stats) bool { return s["sessions"] >= int64(got) })
	v.check(ok, "server holds %d sessions, want %d", srv.Last()["sessions"], got)
	held := srv.Mark()
	heapPer := float64(held["heap"]-base["heap"]) / float64(max(got, 1))
	rssPer := float64((held["rss_kib"]-base["rss_kib"])<<10) / float64(max(got, 1))
	v.check(heapPer <= heapPerConnBound, "heap per connection %.0f B (bound %d B)", heapPer, heapPerConnBound)
	v.check(rssPer <= rssPerConnBound, "RSS per connection %.0f B (bound %d B)", rssPer, rssPerConnBound)

	start := time.Now()
	if _, err := srv.command("broadcast 64 bcast", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	reached := 0
	for time.Since(start) < 30*time.Second && reached < got {
		l, err := cl.expect("RECEIVED", 30*time.Second-time.Since(start))
		if err != nil {
			break
		}
		reached, _ = strconv.Atoi(parseKV(l)["n"])
	}
	bcast := time.Since(start)
	v.check(reached == got, "the broadcast reached %d of %d connections within 30 s", reached, got)
	fmt.Fprintln(cl.stdin, "quit")
	cl.expect("BYE", 60*time.Second)
	_, ok = srv.waitFor(20*time.Second, func(s stats) bool { return s["sessions"] == 0 })
	fds, _ := procfs.FDCount(srv.PID)
	v.check(ok, "%d sessions left after the clients stopped", srv.Last()["sessions"])
	v.check(fds <= baseFDs, "server fds %d after the clients stopped (baseline %d)", fds, baseFDs)
	record(t, "load", fmt.Sprintf("%d handshaken connections held, one broadcast", n),
		fmt.Sprintf("all open; broadcast reaches all; heap <= %d B and RSS <= %d B per connection; fds back", heapPerConnBound, rssPerConnBound),
		fmt.Sprintf("opened %d in %d ms (%s retries after a refusal); heap %.0f B/conn, RSS %.0f B/conn; broadcast reached %d in %s; fds %d -> %d",
			got, openMs, opened["retries"], heapPer, rssPer, reached, msec(bcast), baseFDs, fds), v)
}

// sample is one soak measurement of the server.
type sample struct {
	at                      time.Duration
	fds, goroutines, rssKiB int64
	heap, sessions, churnOK int64
}

// TestSoak: connection churn plus steady traffic plus small hostile
// bursts, for SOAK_SECONDS; the server's fds, goroutines and RSS are
// sampled every 10 s and must stay flat.
func TestSoak(t *testing.T) {
	need(t)
	if prof.soak == 0 {
		t.Skip("the soak runs in the soak profile (make soak)")
	}
	srv := startServer(t, []string{"MaxConnections=2000"})
	baseFDs, _ := procfs.FDCount(srv.PID)
	echo, err := workload.StartEchoers(workload.EchoConfig{Host: "127.0.0.1", Port: srv.Port, Clients: 8,
		Interval: 20 * time.Millisecond, Size: 256})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var churnOK, churnFail counter
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); churn(srv.Port, w, stop, &churnOK, &churnFail) }()
	}
	var samples []sample
	start := time.Now()
	for time.Since(start) < prof.soak {
		time.Sleep(10 * time.Second)
		burst(t, srv.Port)
		fds, _ := procfs.FDCount(srv.PID)
		st := srv.Last()
		samples = append(samples, sample{at: time.Since(start).Round(time.Second), fds: int64(fds), goroutines: st["goroutines"],
			rssKiB: st["rss_kib"], heap: st["heap"], sessions: st["sessions"], churnOK: churnOK.get()})
	}
	close(stop)
	wg.Wait()
	er := echo.Stop(5 * time.Second)
	_, quiet := srv.waitFor(15*time.Second, func(s stats) bool { return s["sessions"] == 0 })
	finalFDs, _ := procfs.FDCount(srv.PID)

	v := &verdict{}
	v.check(len(samples) >= 2, "only %d samples: SOAK_SECONDS must be at least 20", len(samples))
	if len(samples) >= 2 {
		first, last := samples[0], samples[len(samples)-1]
		flat := func(what string, a, b, slack int64) {
			v.check(float64(b) <= float64(a)*1.10+float64(slack), "%s grew from %d to %d (bound +10%% +%d)", what, a, b, slack)
		}
		flat("fds", first.fds, last.fds, 32)
		flat("goroutines", first.goroutines, last.goroutines, 16)
		flat("RSS KiB", first.rssKiB, last.rssKiB, 16<<10)
	}
	v.check(er.Delivered(), "steady clients: %d/%d echoed, %d out of order, %d disconnects", er.Echoed, er.Accepted, er.OutOfOrder, er.Disconnects)
	v.check(churnFail.get() == 0, "%d churn cycles failed", churnFail.get())
	v.check(quiet, "%d sessions left after the soak", srv.Last()["sessions"])
	v.check(finalFDs <= baseFDs, "server fds %d after the soak (baseline %d)", finalFDs, baseFDs)
	var series []string
	for _, s := range samples {
		series = append(series, fmt.Sprintf("%v: fds %d, goroutines %d, RSS %d KiB, heap %s, sessions %d",
			s.at, s.fds, s.goroutines, s.rssKiB, mib(s.heap), s.sessions))
	}
	record(t, "soak", fmt.Sprintf("churn + traffic + hostile bursts for %v", prof.soak),
		"after the first 10 s sample: last sample <= first +10% + (32 fds, 16 goroutines, 16 MiB RSS); everything delivered; fds back",
		fmt.Sprintf("%d churn cycles (%d failed), steady clients %d/%d echoed (p99 %s); fds %d -> %d after; samples: %s",
			churnOK.get(), churnFail.get(), er.Echoed, er.Accepted, msec(er.Percentile(99)), baseFDs, finalFDs, strings.Join(series, " | ")), v)
}

// counter is a mutex-guarded count (the churn workers share it).
type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }

func (c *counter) get() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// churn connects, exchanges 10 messages and stops, over and over, until
// stop (bounded by a count too).
func churn(port, worker int, stop <-chan struct{}, ok, failed *counter) {
	for i := 0; i < 1_000_000; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if churnOnce(port, fmt.Sprintf("churn%d-%d", worker, i)) != nil {
			failed.add()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ok.add()
	}
}

func churnOnce(port int, id string) error {
	cli, err := core.NewClient(core.ClientConfig{ClientID: id, ConnectTimeout: 3 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Stop()
	got := make(chan struct{}, 16)
	cli.OnMessage(func([]byte) { got <- struct{}{} })
	if err := cli.Connect("127.0.0.1", port); err != nil {
		return err
	}
	for seq := range int64(10) {
		if err := cli.Send(workload.Message(id, seq, 512)); err != nil {
			return err
		}
	}
	deadline := time.After(3 * time.Second)
	for range 10 {
		select {
		case <-got:
		case <-deadline:
			return fmt.Errorf("%s: echoes missing after 3 s", id)
		}
	}
	return nil
}

// burst runs a few quick hostile scenarios: error paths churn too.
func burst(t *testing.T, port int) {
	runHostile(t, port, 60*time.Second, "-scenario", "reset", "-n", "200", "-concurrency", "20", "-from", spread)
	runHostile(t, port, 60*time.Second, "-scenario", "badhello", "-from", spread, "-wait", "2s")
	runHostile(t, port, 60*time.Second, "-scenario", "garbage", "-n", "50", "-from", spread, "-wait", "2s")
}
