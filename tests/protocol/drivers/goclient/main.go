// Command goclient is the netsys client driver of the protocol conformance
// suite (tests/protocol): it connects through the Go core to the suite's
// peer, sends numbered messages and prints what happens as JSON lines on
// stdout (connected, message, error, disconnect, send_error, sent, exit).
//
// With -early it connects asynchronously and sends at once, so the
// messages go out as early data behind HELLO. After sending it waits for
// -recv messages, a disconnect (not with -reconnect-ms: the client then
// re-dials), or -wait-ms, whichever comes first (bounded by -max-ms), then
// stops the client gracefully. -ack turns acknowledged delivery on
// (docs/protocol.md section 4.2); an option this library lacks is reported
// as "unsupported" and the driver exits without connecting.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/tests/protocol/progutil"
)

// options are the command-line settings; -1 means "leave the default".
type options struct {
	host                                  string
	port                                  int
	id, codecs, transforms                string
	maxMessage, minCompress, idleMs       int
	sndbuf, rcvbuf, shutdownMs, connectMs int
	count, size, big, recv, waitMs, maxMs int
	ackBuffer, reconnectMs, queueTimeout  int
	early, ack                            bool
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.host, "host", "127.0.0.1", "server address")
	flag.IntVar(&o.port, "port", 0, "server port")
	flag.StringVar(&o.id, "id", "goclient", "client id")
	flag.StringVar(&o.codecs, "codecs", "", "offered codecs, e.g. snappy,zstd")
	flag.StringVar(&o.transforms, "transforms", "", "requested transforms")
	flag.IntVar(&o.maxMessage, "max-message", -1, "message size limit")
	flag.IntVar(&o.minCompress, "min-compress", -1, "compression threshold")
	flag.IntVar(&o.idleMs, "idle-ms", -2, "idle timeout (-1: off)")
	flag.IntVar(&o.sndbuf, "sndbuf", -1, "SO_SNDBUF")
	flag.IntVar(&o.rcvbuf, "rcvbuf", -1, "SO_RCVBUF")
	flag.IntVar(&o.shutdownMs, "shutdown-ms", -1, "shutdown timeout")
	flag.IntVar(&o.connectMs, "connect-ms", 3000, "connect timeout")
	flag.IntVar(&o.count, "count", 0, "messages to send")
	flag.IntVar(&o.size, "size", 16, "size of each message")
	flag.IntVar(&o.big, "big", -1, "send one message of this size after connecting")
	flag.IntVar(&o.recv, "recv", -1, "stop after receiving this many messages")
	flag.IntVar(&o.waitMs, "wait-ms", 500, "how long to wait after sending")
	flag.IntVar(&o.maxMs, "max-ms", 8000, "bound on the whole run")
	flag.BoolVar(&o.early, "early", false, "connect asynchronously and send at once (early data)")
	flag.BoolVar(&o.ack, "ack", false, "acknowledged delivery (docs/protocol.md section 4.2)")
	flag.IntVar(&o.ackBuffer, "ack-buffer", -1, "bytes of unacknowledged messages before Send fails")
	flag.IntVar(&o.reconnectMs, "reconnect-ms", -1, "re-dial after a lost connection, first after this long")
	flag.IntVar(&o.queueTimeout, "queue-timeout-ms", -1, "report messages held without a connection this long")
	flag.Parse()
	return o
}

func (o options) config() core.ClientConfig {
	cfg := core.ClientConfig{ClientID: o.id, ConnectTimeout: progutil.Millis(o.connectMs)}
	setInt := func(v int, dst *int) {
		if v >= 0 {
			*dst = v
		}
	}
	setInt(o.maxMessage, &cfg.MessageSizeLimit)
	setInt(o.minCompress, &cfg.MinCompressSize)
	setInt(o.sndbuf, &cfg.SendBufferSize)
	setInt(o.rcvbuf, &cfg.ReceiveBufferSize)
	if o.shutdownMs >= 0 {
		cfg.ShutdownTimeout = progutil.Millis(o.shutdownMs)
	}
	switch {
	case o.idleMs == -1:
		cfg.IdleTimeout = -1
	case o.idleMs >= 0:
		cfg.IdleTimeout = progutil.Millis(o.idleMs)
	}
	if o.reconnectMs >= 0 {
		cfg.AutoReconnect = true
		cfg.ReconnectInterval = progutil.Millis(o.reconnectMs)
		cfg.ReconnectMaxInterval = progutil.Millis(o.reconnectMs)
	}
	if o.queueTimeout >= 0 {
		progutil.SetField(&cfg, "ReconnectQueueTimeout", progutil.Millis(o.queueTimeout))
	}
	progutil.SetAcknowledged(&cfg, o.ack, o.ackBuffer)
	cfg.Compression = progutil.Codecs(progutil.List(o.codecs))
	cfg.Transforms = progutil.List(o.transforms)
	return cfg
}

func newClient(cfg core.ClientConfig) (*core.Client, error) {
	cl, err := core.NewClient(cfg)
	if progutil.RetryWithS2(err, cfg.Compression) {
		cl, err = core.NewClient(cfg)
	}
	if err != nil && cfg.IdleTimeout < 0 {
		progutil.Emit("note", "msg", "negative idle timeout refused, using 0 for off: "+err.Error())
		cfg.IdleTimeout = 0
		cl, err = core.NewClient(cfg)
	}
	return cl, err
}

func main() {
	o := parseFlags()
	err := run(o)
	if err != nil {
		progutil.Emit("fatal", "msg", err.Error())
	}
	progutil.Emit("exit")
	if err != nil {
		os.Exit(1)
	}
}

func run(o options) error {
	if err := progutil.RegisterTransforms(); err != nil {
		return err
	}
	cfg := o.config()
	if progutil.Unsupported() {
		return nil // the "unsupported" lines say why; the test fails on them
	}
	cl, err := newClient(cfg)
	if err != nil {
		return err
	}
	received := make(chan struct{}, 1<<16)
	ended := make(chan struct{}, 1)
	cl.OnConnect(func() { progutil.Emit("connected", "session", cl.SessionID()) })
	cl.OnMessage(func(msg []byte) {
		progutil.Emit("message", progutil.MessageFields(msg)...)
		received <- struct{}{}
	})
	cl.OnDisconnect(func(reason string) {
		progutil.Emit("disconnect", progutil.TextFields("reason", reason)...)
		ended <- struct{}{}
	})
	cl.OnError(func(err error) { progutil.Emit("error", progutil.ErrorFields(err)...) })

	deadline := time.After(progutil.Millis(o.maxMs))
	if o.early {
		err = cl.ConnectAsync(o.host, o.port)
	} else {
		err = cl.Connect(o.host, o.port)
	}
	if err != nil {
		progutil.Emit("connect_failed", progutil.ErrorFields(err)...)
		return nil
	}
	sendAll(cl, o)
	wait(o, cl, received, ended, deadline)
	cl.Stop()
	cl.Wait()
	return nil
}

// sendAll sends the numbered messages, then the optional big one.
func sendAll(cl *core.Client, o options) {
	sent := 0
	for i := 0; i < o.count; i++ {
		if err := cl.Send(progutil.Pattern(i, o.size)); err != nil {
			progutil.Emit("send_error", append([]any{"i", i}, progutil.ErrorFields(err)...)...)
			continue
		}
		sent++
	}
	if o.big >= 0 {
		if err := cl.Send(make([]byte, o.big)); err != nil {
			progutil.Emit("send_error", append([]any{"i", "big"}, progutil.ErrorFields(err)...)...)
		} else {
			sent++
		}
	}
	progutil.Emit("sent", "count", sent)
}

// wait returns when -recv messages arrived, the connection ended (or the
// client stopped by itself: a refused connect), -wait-ms passed (counted
// from the last message received) or the run's deadline.
func wait(o options, cl *core.Client, received, ended <-chan struct{}, deadline <-chan time.Time) {
	got := 0
	quiet := time.NewTimer(progutil.Millis(o.waitMs))
	defer quiet.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-poll.C:
			if !cl.IsRunning() {
				return
			}
		case <-received:
			got++
			if o.recv >= 0 && got >= o.recv {
				return
			}
			if !quiet.Stop() {
				<-quiet.C
			}
			quiet.Reset(progutil.Millis(o.waitMs))
		case <-ended:
			if o.reconnectMs < 0 {
				return
			}
		case <-quiet.C:
			return
		case <-deadline:
			progutil.Emit("note", "msg", fmt.Sprintf("run bound of %d ms reached", o.maxMs))
			return
		}
	}
}
