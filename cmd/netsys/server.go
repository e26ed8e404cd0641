package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/netsys/netsys/core"
)

// There is no "stats" command: the wire protocol has no statistics query, so
// a client cannot ask a server for its counters. The servers of this tool
// print their own (--stats-interval, and at exit); `netsys bench` measures a
// server from the outside.

// serve starts a configured server, prints where it listens, then waits for
// --duration or a signal, printing statistics, and stops it gracefully.
func serve(ctx context.Context, s streams, sf *serverFlags, name string, setup func(*core.Server)) error {
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	srv, err := core.NewServer("netsys-"+name, cfg)
	if err != nil {
		return fmt.Errorf("server configuration: %w", err)
	}
	setup(srv)
	srv.OnError(func(sess *core.Session, err error) {
		who := "server"
		if sess != nil {
			who = fmt.Sprintf("session %d (%s)", sess.ID(), sess.ClientID())
		}
		fmt.Fprintf(s.stderr, "netsys %s: %s: %v\n", name, who, err)
	})
	if err := srv.Start(); err != nil {
		return err
	}
	fmt.Fprintf(s.stderr, "netsys %s: listening on %s\n", name, net.JoinHostPort(cfg.BindAddress, strconv.Itoa(srv.Port())))
	var deadline <-chan time.Time
	if sf.duration > 0 {
		deadline = time.After(sf.duration)
	}
	var tick <-chan time.Time
	if sf.statsInterval > 0 {
		ticker := time.NewTicker(sf.statsInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for running := true; running; {
		select {
		case <-tick:
			printStats(s.stderr, name, srv.Statistics())
		case <-deadline:
			running = false
		case <-ctx.Done():
			running = false
		}
	}
	err = srv.Stop()
	printStats(s.stderr, name, srv.Statistics())
	return err
}

func printStats(w io.Writer, name string, st core.ServerStatistics) {
	fmt.Fprintf(w, "netsys %s: %d open, %d accepted, %d rejected; received %d messages (%d B), sent %d (%d B); "+
		"%d protocol errors, %d oversize\n", name, st.CurrentConnections, st.TotalConnections, st.RejectedConnections,
		st.MessagesReceived, st.BytesReceived, st.MessagesSent, st.BytesSent, st.ProtocolErrors, st.OversizeMessages)
}

// ---------------------------------------------------------------- echo

func echoCommand() command {
	return command{
		name:    "echo",
		summary: "run an echo server",
		details: `Sends every message back to its sender. Prints "listening on ADDRESS" on
stderr once it accepts connections, then runs until SIGINT/SIGTERM or
--duration and prints its statistics (also every --stats-interval).`,
		run: func(ctx context.Context, s streams, fs *flag.FlagSet, args []string) error {
			var sf serverFlags
			sf.register(fs)
			if err := noArgs(fs, args); err != nil {
				return err
			}
			return serve(ctx, s, &sf, "echo", func(srv *core.Server) {
				srv.OnMessage(func(sess *core.Session, msg []byte) { echoBack(sess, msg, s.stderr) })
			})
		},
	}
}

// echoBack sends msg back (Send copies it). A client that sends faster than
// it reads fills its queue: waiting for room, boundedly, stalls this loop,
// which stops reading from that client too (backpressure) instead of
// dropping its echoes.
func echoBack(sess *core.Session, msg []byte, errs io.Writer) {
	err := sess.Send(msg)
	if errors.Is(err, core.ErrBackpressure) {
		err = sess.SendTimeout(msg, time.Second)
	}
	if err != nil && !errors.Is(err, core.ErrClosed) {
		fmt.Fprintf(errs, "netsys echo: session %d: echo dropped: %v\n", sess.ID(), err)
	}
}

func noArgs(fs *flag.FlagSet, args []string) error {
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	return nil
}

// ---------------------------------------------------------------- listen

func listenCommand() command {
	return command{
		name:    "listen",
		summary: "run a server that prints every message it receives",
		details: `Prints every message received, from any client, on stdout (with
--prefix: "CLIENT-ID: " before each). Connections and disconnections are
reported on stderr. Runs until SIGINT/SIGTERM, --duration, or --count
messages.`,
		run: runListen,
	}
}

func runListen(ctx context.Context, s streams, fs *flag.FlagSet, args []string) error {
	var sf serverFlags
	sf.register(fs)
	format := registerFormat(fs)
	prefix := fs.Bool("prefix", false, "print the sender's client id before each message")
	count := fs.Int("count", 0, "stop after this many messages (0: no limit)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex // handlers of different sessions run concurrently
	received := 0
	return serve(ctx, s, &sf, "listen", func(srv *core.Server) {
		srv.OnConnect(func(sess *core.Session) {
			fmt.Fprintf(s.stderr, "netsys listen: %s connected from %s (session %d)\n", sess.ClientID(), sess.RemoteAddr(), sess.ID())
		})
		srv.OnDisconnect(func(sess *core.Session, reason string) {
			fmt.Fprintf(s.stderr, "netsys listen: %s disconnected: %s\n", sess.ClientID(), reason)
		})
		srv.OnMessage(func(sess *core.Session, msg []byte) {
			mu.Lock()
			defer mu.Unlock()
			if *count > 0 && received >= *count {
				return
			}
			p := ""
			if *prefix {
				p = sess.ClientID() + ": "
			}
			format.print(s.stdout, p, msg)
			if received++; *count > 0 && received == *count {
				cancel()
			}
		})
	})
}

// ---------------------------------------------------------------- chat

func chatCommand() command {
	return command{
		name:    "chat",
		summary: "run a chat server with rooms (netsys groups) and broadcast",
		details: `A chat room for text clients (the protocol of the examples' chat servers,
so examples/cpp and examples/python chat clients work with it). Everyone
starts in room "lobby" with the nick "userN". A client sends lines:
  /nick NAME      choose a name
  /join ROOM      join a room (a netsys group)
  /leave ROOM     leave it
  /rooms          list your rooms
  /to ROOM TEXT   say TEXT to the members of ROOM
  anything else   say it to everyone`,
		run: func(ctx context.Context, s streams, fs *flag.FlagSet, args []string) error {
			var sf serverFlags
			sf.register(fs)
			if err := noArgs(fs, args); err != nil {
				return err
			}
			return serve(ctx, s, &sf, "chat", func(srv *core.Server) { (&chatRoom{srv: srv}).attach() })
		},
	}
}

// chatRoom implements the chat protocol over a server's groups.
type chatRoom struct{ srv *core.Server }

func (c *chatRoom) attach() {
	c.srv.OnConnect(func(sess *core.Session) {
		nick := fmt.Sprintf("user%d", sess.ID())
		sess.Data().Set("nick", nick)
		sess.JoinGroup("lobby")
		sess.Send([]byte("* welcome " + nick + ", you are in lobby"))
		c.srv.BroadcastToGroup("lobby", []byte("* "+nick+" joined lobby"))
	})
	c.srv.OnDisconnect(func(sess *core.Session, reason string) {
		nick, _ := sess.Data().Get("nick")
		c.srv.Broadcast([]byte("* " + nick + " left"))
	})
	c.srv.OnMessage(func(sess *core.Session, msg []byte) { c.said(sess, string(msg)) })
}

func (c *chatRoom) said(sess *core.Session, line string) {
	nick, _ := sess.Data().Get("nick")
	if !strings.HasPrefix(line, "/") {
		c.srv.Broadcast([]byte(nick + ": " + line))
		return
	}
	cmd, rest, _ := strings.Cut(line, " ")
	reply := func(text string) { sess.Send([]byte(text)) }
	switch {
	case cmd == "/nick" && rest != "":
		sess.Data().Set("nick", rest)
		c.srv.Broadcast([]byte("* " + nick + " is now " + rest))
	case cmd == "/join" && rest != "":
		sess.JoinGroup(rest)
		c.srv.BroadcastToGroup(rest, []byte("* "+nick+" joined "+rest))
	case cmd == "/leave" && rest != "":
		sess.LeaveGroup(rest)
		reply("* you left " + rest)
	case cmd == "/rooms":
		reply("* your rooms: " + strings.Join(sess.Groups(), ", "))
	case cmd == "/to":
		room, text, _ := strings.Cut(rest, " ")
		if !sess.InGroup(room) {
			reply("* you are not in " + room)
			return
		}
		if n, _ := c.srv.BroadcastToGroup(room, []byte("["+room+"] "+nick+": "+text)); n == 0 {
			reply("* nobody received it")
		}
	default:
		reply("* unknown command: " + cmd)
	}
}
