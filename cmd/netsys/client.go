package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/netsys/netsys/core"
)

// inbox hands the messages and the end of a connection from the client's
// event loop to the goroutine that prints them. The loop never blocks on a
// printer that has gone: it gives up once done is closed.
type inbox struct {
	messages chan []byte
	ended    chan string // why a connection ended; never blocks the loop
	done     chan struct{}
	doneOnce sync.Once

	mu      sync.Mutex
	failure error // the last error reported for the connection (not undelivered messages)
}

func newInbox() *inbox {
	return &inbox{messages: make(chan []byte, 1024), ended: make(chan string, 16), done: make(chan struct{})}
}

// attach installs the handlers. Messages are copied: the slice is only
// valid during the handler call.
func (in *inbox) attach(cl *core.Client, errs io.Writer) {
	cl.OnMessage(func(msg []byte) {
		select {
		case in.messages <- append([]byte(nil), msg...):
		case <-in.done:
		}
	})
	cl.OnDisconnect(func(reason string) {
		select {
		case in.ended <- reason:
		default: // the printer has not read the previous one: it ends anyway
		}
	})
	cl.OnError(func(err error) {
		var undelivered *core.UndeliveredError
		if errors.As(err, &undelivered) {
			fmt.Fprintf(errs, "netsys: %v\n", err)
			return
		}
		in.mu.Lock()
		in.failure = err
		in.mu.Unlock()
	})
}

// lastFailure is the error that ended the connection, if it ended in error.
func (in *inbox) lastFailure() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.failure
}

// drain prints the messages already handed over, at most limit (< 0: all),
// and returns how many.
func (in *inbox) drain(w io.Writer, format *formatFlag, limit int) int {
	for n := 0; limit < 0 || n < limit; n++ {
		select {
		case msg := <-in.messages:
			format.print(w, "", msg)
		default:
			return n
		}
	}
	return limit
}

func (in *inbox) close() { in.doneOnce.Do(func() { close(in.done) }) }

// connect builds a client from the flags and connects it.
func connect(cf *clientFlags, address string, in *inbox, s streams) (*core.Client, error) {
	host, port, err := splitAddress(address)
	if err != nil {
		return nil, err
	}
	cfg, err := cf.config()
	if err != nil {
		return nil, err
	}
	return connectWith(cfg, host, port, in, s)
}

func connectWith(cfg core.ClientConfig, host string, port int, in *inbox, s streams) (*core.Client, error) {
	cl, err := core.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("client configuration: %w", err)
	}
	in.attach(cl, s.stderr)
	if err := cl.Connect(host, port); err != nil {
		return nil, err
	}
	return cl, nil
}

// ---------------------------------------------------------------- send

func sendCommand() command {
	return command{
		name:    "send",
		args:    "HOST:PORT [MESSAGE...]",
		summary: "send messages (arguments, or stdin lines), print the replies",
		details: `Connects, sends each MESSAGE argument as one message (without arguments:
each line of stdin, without its newline; "-" also reads stdin), then prints
the replies on stdout until --count replies have arrived or --timeout has
passed without one. --count defaults to the number of messages sent (one
reply each, as from an echo server); --count 0 waits for none. Exits 1 if
fewer replies than --count arrived.`,
		run: runSend,
	}
}

func runSend(ctx context.Context, s streams, fs *flag.FlagSet, args []string) error {
	var cf clientFlags
	cf.register(fs, "netsys-send")
	var count optionalInt
	fs.Var(&count, "count", "wait for `N` replies (default: one per message sent; 0: none)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up waiting for replies after this long without one")
	format := registerFormat(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("missing HOST:PORT")
	}
	in := newInbox()
	defer in.close()
	cl, err := connect(&cf, rest[0], in, s)
	if err != nil {
		return err
	}
	defer cl.Stop()
	sent, err := sendAll(cl, rest[1:], s.stdin)
	if err != nil {
		return err
	}
	want := sent
	if count.set {
		want = count.n
	}
	return printReplies(ctx, in, s.stdout, format, want, *timeout)
}

// sendAll sends the arguments, or stdin's lines, and returns how many.
// SendTimeout waits for room when the queue is full instead of failing.
func sendAll(cl *core.Client, messages []string, stdin io.Reader) (int, error) {
	const room = 10 * time.Second
	if len(messages) == 0 || len(messages) == 1 && messages[0] == "-" {
		sent := 0
		lines := bufio.NewScanner(stdin)
		lines.Buffer(make([]byte, 64<<10), 1<<30)
		for lines.Scan() {
			if err := cl.SendTimeout(lines.Bytes(), room); err != nil {
				return sent, fmt.Errorf("send message %d: %w", sent+1, err)
			}
			sent++
		}
		return sent, lines.Err()
	}
	for i, m := range messages {
		if err := cl.SendTimeout([]byte(m), room); err != nil {
			return i, fmt.Errorf("send message %d: %w", i+1, err)
		}
	}
	return len(messages), nil
}

func printReplies(ctx context.Context, in *inbox, w io.Writer, format *formatFlag, want int, idle time.Duration) error {
	for got := 0; got < want; got++ {
		select {
		case msg := <-in.messages:
			format.print(w, "", msg)
		case reason := <-in.ended:
			// The connection's messages were all handed over before its end.
			got += in.drain(w, format, want-got)
			if got >= want {
				return nil
			}
			if err := in.lastFailure(); err != nil {
				reason = err.Error()
			}
			return fmt.Errorf("%d of %d replies received, then the connection ended: %s", got, want, reason)
		case <-time.After(idle):
			return fmt.Errorf("%d of %d replies received, none in the last %v", got, want, idle)
		case <-ctx.Done():
			return fmt.Errorf("%d of %d replies received: interrupted", got, want)
		}
	}
	return nil
}

// ---------------------------------------------------------------- recv

func recvCommand() command {
	return command{
		name:    "recv",
		args:    "HOST:PORT",
		summary: "connect and print every message that arrives",
		details: `Connects, sends each --send message (e.g. "/join ROOM" to a chat server),
then prints every message it receives on stdout until --count messages,
--duration, SIGINT/SIGTERM, or the server closing the connection (with
--reconnect: the client reconnects instead, and stops only on the others).`,
		run: runRecv,
	}
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return fmt.Sprint([]string(*r)) }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

func runRecv(ctx context.Context, s streams, fs *flag.FlagSet, args []string) error {
	var cf clientFlags
	cf.register(fs, "netsys-recv")
	var sends repeated
	fs.Var(&sends, "send", "a message to send after connecting (repeatable)")
	count := fs.Int("count", 0, "stop after this many messages (0: no limit)")
	duration := fs.Duration("duration", 0, "stop after this long (0: no limit)")
	reconnect := fs.Bool("reconnect", false, "reconnect automatically when the connection is lost")
	format := registerFormat(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want exactly one HOST:PORT")
	}
	host, port, err := splitAddress(rest[0])
	if err != nil {
		return err
	}
	cfg, err := cf.config()
	if err != nil {
		return err
	}
	cfg.AutoReconnect = *reconnect
	in := newInbox()
	defer in.close()
	cl, err := connectWith(cfg, host, port, in, s)
	if err != nil {
		return err
	}
	defer cl.Stop()
	if len(sends) > 0 {
		if _, err := sendAll(cl, sends, nil); err != nil {
			return err
		}
	}
	return receive(ctx, in, s, format, *count, *duration, *reconnect)
}

// receive prints messages until the count, the duration, a signal, or the
// end of the connection: a normal close ends it quietly (exit 0), an error
// is returned.
func receive(ctx context.Context, in *inbox, s streams, format *formatFlag, count int, duration time.Duration, reconnect bool) error {
	var deadline <-chan time.Time
	if duration > 0 {
		deadline = time.After(duration)
	}
	for got := 0; count == 0 || got < count; {
		select {
		case msg := <-in.messages:
			format.print(s.stdout, "", msg)
			got++
		case reason := <-in.ended:
			limit := -1
			if count > 0 {
				limit = count - got
			}
			if got += in.drain(s.stdout, format, limit); count > 0 && got >= count {
				return nil
			}
			if reconnect {
				fmt.Fprintf(s.stderr, "netsys recv: disconnected (%s); reconnecting\n", reason)
				continue
			}
			if err := in.lastFailure(); err != nil {
				return err
			}
			fmt.Fprintf(s.stderr, "netsys recv: disconnected: %s\n", reason)
			return nil
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
