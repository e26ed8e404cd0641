// Command goserver is the netsys server the protocol conformance suite
// (tests/protocol) talks to through the Go core. Flags set every limit and
// timeout a test needs; the application echoes messages and obeys a few
// commands sent as messages:
//
//	!send N SIZE            send N numbered messages of SIZE bytes
//	!sendclose N SIZE WHY   the same, then disconnect with reason WHY
//	!disconnect WHY         disconnect the session (WHY may be empty)
//	!big SIZE               try to send SIZE bytes; answer "big:ok" or "big:error:<kind>"
//	!quiet                  stop echoing on this session
//
// It prints JSON lines on stdout (listening, connect, message with
// -log-messages, error, disconnect, stopped) and stops gracefully when stdin
// reaches EOF or on SIGTERM.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/tests/protocol/progutil"
)

// options are the command-line settings; -1 means "leave the default".
type options struct {
	bind                                   string
	port, maxMessage, maxConns             int
	handshakeMs, idleMs, frameMs, stallMs  int
	shutdownMs, pending, perAddress        int
	minCompress, sendQueue, sndbuf, rcvbuf int
	loops, ackBuffer                       int
	codecs, transforms                     string
	logMessages, ack                       bool
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.bind, "bind", "127.0.0.1", "address to listen on")
	flag.IntVar(&o.port, "port", 0, "port (0: ephemeral)")
	flag.IntVar(&o.maxMessage, "max-message", -1, "message size limit, bytes")
	flag.IntVar(&o.maxConns, "max-connections", -1, "open sessions before REJECT 2001")
	flag.IntVar(&o.handshakeMs, "handshake-ms", -1, "handshake timeout")
	flag.IntVar(&o.idleMs, "idle-ms", -2, "idle timeout (-1: off)")
	flag.IntVar(&o.frameMs, "frame-ms", -1, "frame-completion timeout")
	flag.IntVar(&o.stallMs, "stall-ms", -1, "send-stall timeout")
	flag.IntVar(&o.shutdownMs, "shutdown-ms", -1, "shutdown timeout")
	flag.IntVar(&o.pending, "pending", -1, "pending handshakes in all")
	flag.IntVar(&o.perAddress, "per-address", -1, "pending handshakes per source address")
	flag.IntVar(&o.minCompress, "min-compress", -1, "compression threshold")
	flag.IntVar(&o.sendQueue, "send-queue", -1, "send queue high-water mark, bytes")
	flag.IntVar(&o.sndbuf, "sndbuf", -1, "SO_SNDBUF")
	flag.IntVar(&o.rcvbuf, "rcvbuf", -1, "SO_RCVBUF")
	flag.IntVar(&o.loops, "loops", 1, "event loops")
	flag.StringVar(&o.codecs, "codecs", "", "enabled codecs, e.g. snappy,zstd")
	flag.StringVar(&o.transforms, "transforms", "", "enabled transforms (xsum and other are registered)")
	flag.BoolVar(&o.logMessages, "log-messages", false, "print an event per received message")
	flag.BoolVar(&o.ack, "ack", false, "acknowledged delivery (docs/protocol.md section 4.2)")
	flag.IntVar(&o.ackBuffer, "ack-buffer", -1, "unacknowledged bytes per session before Send fails")
	flag.Parse()
	return o
}

// config builds the server configuration; options this library version
// lacks are reported by progutil.SetField.
func (o options) config() core.ServerConfig {
	cfg := core.ServerConfig{BindAddress: o.bind, Port: o.port, Loops: o.loops}
	setInt := func(v int, dst *int) {
		if v >= 0 {
			*dst = v
		}
	}
	setInt(o.maxMessage, &cfg.MessageSizeLimit)
	setInt(o.maxConns, &cfg.MaxConnections)
	setInt(o.minCompress, &cfg.MinCompressSize)
	setInt(o.sendQueue, &cfg.SendQueueLimit)
	setInt(o.sndbuf, &cfg.SendBufferSize)
	setInt(o.rcvbuf, &cfg.ReceiveBufferSize)
	if o.handshakeMs >= 0 {
		cfg.HandshakeTimeout = progutil.Millis(o.handshakeMs)
	}
	if o.shutdownMs >= 0 {
		cfg.ShutdownTimeout = progutil.Millis(o.shutdownMs)
	}
	switch {
	case o.idleMs == -1:
		cfg.IdleTimeout = -1 // off (a negative duration)
	case o.idleMs >= 0:
		cfg.IdleTimeout = progutil.Millis(o.idleMs)
	}
	if o.frameMs >= 0 {
		progutil.SetField(&cfg, "FrameTimeout", progutil.Millis(o.frameMs))
	}
	if o.stallMs >= 0 {
		progutil.SetField(&cfg, "SendStallTimeout", progutil.Millis(o.stallMs))
	}
	if o.pending >= 0 {
		progutil.SetField(&cfg, "MaxPendingHandshakes", o.pending)
	}
	if o.perAddress >= 0 {
		progutil.SetField(&cfg, "MaxHandshakesPerAddress", o.perAddress)
	}
	progutil.SetAcknowledged(&cfg, o.ack, o.ackBuffer)
	cfg.Compression = progutil.Codecs(progutil.List(o.codecs))
	cfg.Transforms = progutil.List(o.transforms)
	return cfg
}

// newServer creates the server, adapting to libraries that spell codec 1
// "s2" or that read a zero idle timeout as "off".
func newServer(cfg core.ServerConfig) (*core.Server, error) {
	srv, err := core.NewServer("protocol-suite", cfg)
	if progutil.RetryWithS2(err, cfg.Compression) {
		srv, err = core.NewServer("protocol-suite", cfg)
	}
	if err != nil && cfg.IdleTimeout < 0 {
		progutil.Emit("note", "msg", "negative idle timeout refused, using 0 for off: "+err.Error())
		cfg.IdleTimeout = 0
		srv, err = core.NewServer("protocol-suite", cfg)
	}
	return srv, err
}

// app is the server's application: echo plus commands.
type app struct {
	logMessages bool
	quiet       sync.Map // session id -> struct{}
}

func (a *app) onMessage(s *core.Session, msg []byte) {
	if a.logMessages {
		progutil.Emit("message", append([]any{"sid", s.ID()}, progutil.MessageFields(msg)...)...)
	}
	if bytes.HasPrefix(msg, []byte("!")) {
		a.command(s, string(msg[1:]))
		return
	}
	if _, quiet := a.quiet.Load(s.ID()); quiet {
		return
	}
	if err := s.Send(msg); err != nil {
		progutil.Emit("send_error", append([]any{"sid", s.ID()}, progutil.ErrorFields(err)...)...)
	}
}

func (a *app) command(s *core.Session, line string) {
	name, rest, _ := strings.Cut(line, " ")
	args := strings.SplitN(rest, " ", 3)
	num := func(i int) int {
		if i >= len(args) {
			return 0
		}
		n, _ := strconv.Atoi(args[i])
		return n
	}
	switch name {
	case "send":
		a.sendRun(s, num(0), num(1))
	case "sendclose":
		a.sendRun(s, num(0), num(1))
		why := ""
		if len(args) > 2 {
			why = args[2]
		}
		s.Disconnect(why)
	case "disconnect":
		s.Disconnect(rest)
	case "big":
		reply := "big:ok"
		if err := s.Send(make([]byte, num(0))); err != nil {
			reply = "big:error:" + progutil.Kind(err)
		}
		s.Send([]byte(reply))
	case "quiet":
		a.quiet.Store(s.ID(), struct{}{})
	default:
		s.Send([]byte("unknown command " + name))
	}
}

// sendRun sends n numbered messages, stopping at the first failure.
func (a *app) sendRun(s *core.Session, n, size int) {
	for i := 0; i < n; i++ {
		if err := s.Send(progutil.Pattern(i, size)); err != nil {
			progutil.Emit("send_error", append([]any{"sid", s.ID(), "i", i}, progutil.ErrorFields(err)...)...)
			return
		}
	}
}

func main() {
	o := parseFlags()
	if err := run(o); err != nil {
		progutil.Emit("fatal", "msg", err.Error())
		fmt.Fprintln(os.Stderr, "goserver:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if err := progutil.RegisterTransforms(); err != nil {
		return err
	}
	srv, err := newServer(o.config())
	if err != nil {
		return err
	}
	a := &app{logMessages: o.logMessages}
	srv.OnMessage(a.onMessage)
	srv.OnConnect(func(s *core.Session) {
		progutil.Emit("connect", "sid", s.ID(), "client_id", s.ClientID())
	})
	srv.OnDisconnect(func(s *core.Session, reason string) {
		a.quiet.Delete(s.ID())
		progutil.Emit("disconnect", append([]any{"sid", s.ID(), "state", s.State().String()}, progutil.TextFields("reason", reason)...)...)
	})
	srv.OnError(func(s *core.Session, err error) {
		var sid uint64
		if s != nil {
			sid = s.ID()
		}
		progutil.Emit("error", append([]any{"sid", sid}, progutil.ErrorFields(err)...)...)
	})
	if err := srv.Start(); err != nil {
		return err
	}
	stop := make(chan struct{}, 2)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-signals; stop <- struct{}{} }()
	go func() { io.Copy(io.Discard, os.Stdin); stop <- struct{}{} }()
	progutil.Emit("listening", "port", srv.Port())
	<-stop
	progutil.Emit("stopping")
	srv.Stop()
	progutil.Emit("stopped")
	return nil
}
