// Command relclient is the well-behaved side of the reliability suite when
// it must live in another process: a client to kill -9 or SIGSTOP, the
// client inside a network namespace, or the 10,000 connections that do not
// fit in one process next to the server's own fds.
//
//	relclient -mode stream -addr 127.0.0.1:9000          numbered messages until killed
//	relclient -mode echo -addr 10.201.0.2:9000 -duration 5s   echo check, JSON summary
//	relclient -mode hold -addr 127.0.0.1:9000 -conns 10000    hold connections, count a broadcast
//
// It prints one line per event on stdout (CONNECTED, OPENED, RECEIVED, or
// the JSON summary) and stops by itself after -max-run.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/tests/reliability/internal/optcfg"
	"github.com/netsys/netsys/tests/reliability/internal/procfs"
	"github.com/netsys/netsys/tests/reliability/internal/workload"
)

type options struct {
	mode, addr, id string
	conns, window  int
	interval       time.Duration
	duration       time.Duration
	maxRun         time.Duration
	size           int
	opts           optcfg.Multi
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "stream", "stream | echo | hold")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:9000", "server address")
	flag.StringVar(&o.id, "id", "relclient", "client id")
	flag.IntVar(&o.conns, "conns", 1, "hold: connections; echo: clients")
	flag.IntVar(&o.window, "window", 12, "hold: handshakes in flight (below the server's per-address bound of 16)")
	flag.DurationVar(&o.interval, "interval", time.Millisecond, "stream and echo: time between two messages")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "echo: how long to send")
	flag.DurationVar(&o.maxRun, "max-run", 5*time.Minute, "exit after this long whatever happens")
	flag.IntVar(&o.size, "size", 128, "message size")
	flag.Var(&o.opts, "opt", "ClientConfig field Name=value (repeatable)")
	flag.Parse()
	if _, err := procfs.RaiseFDLimit(); err != nil {
		fail(err)
	}
	time.AfterFunc(o.maxRun, func() { fmt.Println("EXIT max-run reached"); os.Exit(3) })
	host, portText, err := net.SplitHostPort(o.addr)
	if err != nil {
		fail(err)
	}
	port, _ := strconv.Atoi(portText)
	switch o.mode {
	case "stream":
		err = stream(o, host, port)
	case "echo":
		err = echo(o, host, port)
	case "hold":
		err = hold(o, host, port)
	default:
		err = fmt.Errorf("unknown mode %q", o.mode)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "relclient:", err)
	os.Exit(2)
}

func newClient(o options, id string) (*core.Client, error) {
	cfg := core.ClientConfig{ClientID: id, ConnectTimeout: 5 * time.Second}
	if _, err := o.opts.Apply(&cfg); err != nil {
		return nil, err
	}
	return core.NewClient(cfg)
}

// stream sends numbered messages until the process is killed (or -max-run).
func stream(o options, host string, port int) error {
	cli, err := newClient(o, o.id)
	if err != nil {
		return err
	}
	cli.OnMessage(func([]byte) {})
	if err := cli.Connect(host, port); err != nil {
		return err
	}
	fmt.Println("CONNECTED")
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for seq := int64(0); ; seq++ {
		<-t.C
		cli.Send(workload.Message(o.id, seq, o.size))
	}
}

// echo runs the well-behaved echo clients for -duration and prints their
// summary as JSON.
func echo(o options, host string, port int) error {
	e, err := workload.StartEchoers(workload.EchoConfig{Host: host, Port: port, Clients: o.conns,
		Interval: o.interval, Size: o.size, Options: o.opts})
	if err != nil {
		return err
	}
	time.Sleep(o.duration)
	r := e.Stop(10 * time.Second)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"clients": r.Clients, "accepted": r.Accepted, "echoed": r.Echoed, "out_of_order": r.OutOfOrder,
		"disconnects": r.Disconnects, "send_errors": r.SendErrors, "errors": r.Errors,
		"p50_ms": ms(r.Percentile(50)), "p99_ms": ms(r.Percentile(99)), "max_ms": ms(r.Max()),
		"delivered": r.Delivered(),
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// hold opens -conns clients, reports how long that took, then counts the
// clients that received each broadcast; stdin "quit" (or EOF) ends it.
func hold(o options, host string, port int) error {
	clients := make([]*core.Client, o.conns)
	var got atomic.Int64
	var retries, failures atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	sem := make(chan struct{}, max(o.window, 1))
	var wg sync.WaitGroup
	for i := range clients {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := connectRetrying(o, host, port, i, &retries)
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			c.OnMessage(func([]byte) { got.Add(1) })
			clients[i] = c
		}()
	}
	wg.Wait()
	fmt.Printf("OPENED n=%d failed=%d retries=%d ms=%d first_error=%q\n", int64(o.conns)-failures.Load(), failures.Load(),
		retries.Load(), time.Since(start).Milliseconds(), fmt.Sprint(firstErr.Load()))
	return waitBroadcasts(clients, &got)
}

// connectRetrying connects one client; a server that refuses it as full
// (its pending-handshake bounds) is asked again, up to 20 times.
func connectRetrying(o options, host string, port, i int, retries *atomic.Int64) (*core.Client, error) {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		var c *core.Client
		if c, err = newClient(o, fmt.Sprintf("hold%d", i)); err != nil {
			return nil, err
		}
		if err = c.Connect(host, port); err == nil {
			return c, nil
		}
		retries.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}

// waitBroadcasts prints RECEIVED lines as broadcasts arrive, until stdin
// says quit.
func waitBroadcasts(clients []*core.Client, got *atomic.Int64) error {
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "quit" {
				break
			}
		}
		close(done)
	}()
	start := time.Now()
	last := int64(-1)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			for _, c := range clients {
				if c != nil {
					c.Stop()
				}
			}
			fmt.Println("BYE")
			return nil
		case <-t.C:
			if n := got.Load(); n != last {
				last = n
				fmt.Printf("RECEIVED n=%d ms=%d\n", n, time.Since(start).Milliseconds())
			}
		}
	}
}
