// Command relserver is the reliability suite's measured target: a netsys
// server (core) in its own process, so that the memory an attack costs is
// measured where it is spent, not mixed with the attacker's.
//
// It prints one line per event on stdout:
//
//	READY port=P pid=N absent=Name,...      once, when serving
//	STATS ms=... heap=... heap_peak=... rss_kib=... hwm_kib=... fds=... ...
//	EVENT ms=... kind=disconnect sid=... client=... reason="..."   (-events)
//	OK <command> ...                        answer to a command
//
// and reads commands on stdin, one per line:
//
//	reset                 collect garbage, then restart the peak heap and peak RSS
//	live                  collect garbage and print the heap that stays
//	broadcast SIZE TEXT   Broadcast a SIZE-byte message starting with TEXT
//	stop                  graceful Stop, then exit 0
//
// Modes: echo (every message is sent back), log (every message's first
// line is appended to -log with one write, so it survives kill -9: the
// delivery record of the restart tests), sink (messages are counted).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/tests/reliability/internal/optcfg"
	"github.com/netsys/netsys/tests/reliability/internal/procfs"
)

// out serializes stdout lines written from handlers and the sampler.
type out struct {
	mu    sync.Mutex
	w     *bufio.Writer
	start time.Time
}

func (o *out) line(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, format+"\n", args...)
	o.w.Flush()
}

func (o *out) ms() int64 { return time.Since(o.start).Milliseconds() }

// counters of what the handlers saw.
type counters struct {
	messages, sendErrors, errors, disconnects atomic.Int64
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "relserver:", err)
		os.Exit(1)
	}
}

type options struct {
	bind, mode, logPath string
	port, loops         int
	stats, sample       time.Duration
	events              bool
	opts                optcfg.Multi
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.bind, "bind", "127.0.0.1", "bind address")
	flag.IntVar(&o.port, "port", 0, "port (0: ephemeral, printed in READY)")
	flag.IntVar(&o.loops, "loops", 2, "event loops")
	flag.StringVar(&o.mode, "mode", "echo", "echo | log | sink")
	flag.StringVar(&o.logPath, "log", "", "log mode: file receiving one line per delivered message")
	flag.DurationVar(&o.stats, "stats", 100*time.Millisecond, "interval of STATS lines")
	flag.DurationVar(&o.sample, "sample", 5*time.Millisecond, "interval of heap sampling for heap_peak")
	flag.BoolVar(&o.events, "events", false, "print EVENT lines for disconnects")
	flag.Var(&o.opts, "opt", "ServerConfig field Name=value (repeatable); absent fields are reported in READY")
	flag.Parse()
	return o
}

func run() error {
	o := parseFlags()
	if _, err := procfs.RaiseFDLimit(); err != nil {
		return err
	}
	cfg := core.ServerConfig{BindAddress: o.bind, Port: o.port, Loops: o.loops}
	absent, err := o.opts.Apply(&cfg)
	if err != nil {
		return err
	}
	srv, err := core.NewServer("relserver", cfg)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	w := &out{w: bufio.NewWriter(os.Stdout), start: time.Now()}
	var n counters
	if err := install(srv, o, w, &n); err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	peak := newHeapPeak(o.sample)
	w.line("READY port=%d pid=%d absent=%s", srv.Port(), os.Getpid(), strings.Join(absent, ","))
	go statsLoop(srv, w, &n, peak, o.stats)
	commands(srv, w, peak)
	return nil
}

// install sets the handlers of the chosen mode.
func install(srv *core.Server, o options, w *out, n *counters) error {
	srv.OnError(func(*core.Session, error) { n.errors.Add(1) })
	srv.OnDisconnect(func(s *core.Session, reason string) {
		n.disconnects.Add(1)
		if o.events {
			w.line("EVENT ms=%d kind=disconnect sid=%d client=%q reason=%q", w.ms(), s.ID(), s.ClientID(), reason)
		}
	})
	switch o.mode {
	case "echo":
		srv.OnMessage(func(s *core.Session, msg []byte) {
			n.messages.Add(1)
			if s.Send(msg) != nil {
				n.sendErrors.Add(1)
			}
		})
	case "sink":
		srv.OnMessage(func(*core.Session, []byte) { n.messages.Add(1) })
	case "log":
		f, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open delivery log: %w", err)
		}
		srv.OnMessage(func(s *core.Session, msg []byte) {
			n.messages.Add(1)
			line := msg
			if i := indexByte(msg, '\n'); i >= 0 {
				line = msg[:i+1]
			}
			// One write per message, straight to the kernel: a kill -9
			// loses none of the lines written before it.
			f.Write(line)
		})
	default:
		return fmt.Errorf("unknown mode %q", o.mode)
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// heapPeak samples the live heap often and keeps its maximum since the last
// reset: the figure the attacks are judged by.
type heapPeak struct {
	peak atomic.Uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func newHeapPeak(every time.Duration) *heapPeak {
	h := &heapPeak{}
	go func() {
		s := []metrics.Sample{{Name: heapMetric}}
		for {
			metrics.Read(s)
			v := s[0].Value.Uint64()
			for {
				old := h.peak.Load()
				if v <= old || h.peak.CompareAndSwap(old, v) {
					break
				}
			}
			time.Sleep(every)
		}
	}()
	return h
}

func heapNow() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func (h *heapPeak) reset() { h.peak.Store(heapNow()) }

func statsLoop(srv *core.Server, w *out, n *counters, peak *heapPeak, every time.Duration) {
	for {
		mem, _ := procfs.ReadMemory(0)
		fds, _ := procfs.FDCount(0)
		st := srv.Statistics()
		w.line("STATS ms=%d heap=%d heap_peak=%d rss_kib=%d hwm_kib=%d fds=%d goroutines=%d sessions=%d "+
			"total=%d rejected=%d protocol=%d oversize=%d messages=%d send_errors=%d errors=%d disconnects=%d",
			w.ms(), heapNow(), peak.peak.Load(), mem.RSSKiB, mem.HWMKiB, fds, runtime.NumGoroutine(),
			srv.ConnectionCount(), st.TotalConnections, st.RejectedConnections, st.ProtocolErrors,
			st.OversizeMessages, n.messages.Load(), n.sendErrors.Load(), n.errors.Load(), n.disconnects.Load())
		time.Sleep(every)
	}
}

func commands(srv *core.Server, w *out, peak *heapPeak) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "reset":
			runtime.GC()
			debug.FreeOSMemory()
			peak.reset()
			err := procfs.ResetPeakRSS()
			w.line("OK reset heap=%d err=%v", heapNow(), err)
		case "live":
			// The heap that stays after a collection: what peers hold
			// for as long as they stay, without the garbage of growth.
			runtime.GC()
			w.line("OK live heap=%d", heapNow())
		case "broadcast":
			broadcast(srv, w, f)
		case "stop":
			srv.Stop()
			w.line("OK stop")
			os.Exit(0)
		default:
			w.line("ERR unknown command %q", f[0])
		}
	}
	// stdin closed: the test harness is gone; stop gracefully.
	srv.Stop()
}

func broadcast(srv *core.Server, w *out, f []string) {
	if len(f) < 3 {
		w.line("ERR broadcast SIZE TEXT")
		return
	}
	size, _ := strconv.Atoi(f[1])
	msg := make([]byte, max(size, len(f[2])))
	copy(msg, f[2])
	start := time.Now()
	n, err := srv.Broadcast(msg)
	errs := 0
	if err != nil {
		errs = strings.Count(err.Error(), "\n") + 1
	}
	w.line("OK broadcast queued=%d errors=%d us=%d", n, errs, time.Since(start).Microseconds())
}
