// Command relfwd is a lossy, delaying IP packet forwarder between two
// network namespaces, standing in for `tc qdisc ... netem` on kernels
// without the netem qdisc. It creates one TUN device in each namespace
// (they are then addressed as the two ends of a point-to-point link) and
// copies every IP packet from one to the other, dropping -loss percent of
// them and delaying the rest by -delay. Loss happens at the packet level,
// below TCP, so TCP's retransmissions and timers are what is exercised.
//
//	relfwd -ns-a relc1 -dev-a rlc1 -ns-b rels1 -dev-b rls1 -loss 5 -delay 20ms
//
// It prints READY once both devices exist, then a STATS line every second
// and at exit (SIGTERM, stdin closed, or -max-run).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type options struct {
	nsA, devA, nsB, devB string
	loss                 float64
	delay                time.Duration
	seed                 uint64
	maxRun               time.Duration
}

// counts of one direction.
type counts struct {
	forwarded, dropped, overflow atomic.Int64
}

func main() {
	var o options
	flag.StringVar(&o.nsA, "ns-a", "", "first network namespace (ip netns name)")
	flag.StringVar(&o.devA, "dev-a", "", "TUN device to create in it")
	flag.StringVar(&o.nsB, "ns-b", "", "second network namespace")
	flag.StringVar(&o.devB, "dev-b", "", "TUN device to create in it")
	flag.Float64Var(&o.loss, "loss", 0, "percent of packets dropped, each direction")
	flag.DurationVar(&o.delay, "delay", 0, "delay added to every packet, each direction")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed of the drops")
	flag.DurationVar(&o.maxRun, "max-run", 10*time.Minute, "exit after this long")
	flag.Parse()
	if o.nsA == "" || o.devA == "" || o.nsB == "" || o.devB == "" {
		fail(fmt.Errorf("-ns-a, -dev-a, -ns-b and -dev-b are required"))
	}
	a, err := tunIn(o.nsA, o.devA)
	if err != nil {
		fail(err)
	}
	b, err := tunIn(o.nsB, o.devB)
	if err != nil {
		fail(err)
	}
	var ab, ba counts
	go forward(a, b, o, o.seed, &ab)
	go forward(b, a, o, o.seed+1, &ba)
	fmt.Println("READY")
	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGTERM, syscall.SIGINT)
	go func() { bufio.NewReader(os.Stdin).ReadString(0); done <- syscall.SIGTERM }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(o.maxRun)
	for {
		select {
		case <-tick.C:
			report(&ab, &ba)
		case <-done:
			report(&ab, &ba)
			return
		case <-end:
			report(&ab, &ba)
			return
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "relfwd:", err)
	os.Exit(2)
}

func report(ab, ba *counts) {
	fmt.Printf("STATS a2b_forwarded=%d a2b_dropped=%d a2b_overflow=%d b2a_forwarded=%d b2a_dropped=%d b2a_overflow=%d\n",
		ab.forwarded.Load(), ab.dropped.Load(), ab.overflow.Load(), ba.forwarded.Load(), ba.dropped.Load(), ba.overflow.Load())
}

// tunIn creates TUN device dev inside network namespace ns and returns
// its fd. The creating thread enters the namespace and is never handed
// back to the Go scheduler (it exits with its locked goroutine), so no
// other goroutine ever runs in the wrong namespace.
func tunIn(ns, dev string) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := func() (int, error) {
			nsfd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, fmt.Errorf("open namespace %s: %w", ns, err)
			}
			defer unix.Close(nsfd)
			if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
				return -1, fmt.Errorf("enter namespace %s: %w", ns, err)
			}
			return createTUN(dev)
		}()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

func createTUN(dev string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("device name %q: %w", dev, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("create TUN %s: %w", dev, err)
	}
	return fd, nil
}

// packet waits in the delay line until due.
type packet struct {
	data []byte
	due  time.Time
}

// forward copies packets from in to out: a blocking reader thread and a
// writer that releases each packet at its due time (a constant delay
// keeps the order, as a real link does).
func forward(in, out int, o options, seed uint64, c *counts) {
	line := make(chan packet, 8192)
	go func() {
		for p := range line {
			if d := time.Until(p.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := unix.Write(out, p.data); err == nil {
				c.forwarded.Add(1)
			}
		}
	}()
	rng := rand.New(rand.NewPCG(seed, 7))
	buf := make([]byte, 65536)
	for {
		n, err := unix.Read(in, buf)
		if err != nil {
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			fail(fmt.Errorf("read TUN: %w", err))
		}
		if rng.Float64()*100 < o.loss {
			c.dropped.Add(1)
			continue
		}
		p := packet{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(o.delay)}
		select {
		case line <- p:
		default:
			c.overflow.Add(1) // a full delay line drops, like a router queue
		}
	}
}
