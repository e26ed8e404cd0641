// Command demo walks through the netsys Go API on loopback in a few seconds:
// a server and several clients, groups and broadcasts, per-session data,
// statistics, automatic reconnection with messages queued while the server
// was down, and a short throughput and latency run.
//
//	go run ./examples/go/demo [--results FILE]
//
// Every step checks what it expects; the exit status is 1 if a check failed
// (2 if the demo hung), so `make demo` fails loudly. --results writes the
// counts ("PASSED FAILED 0") for the summary at the end of `make demo`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/core"
)

const (
	host      = "127.0.0.1"
	waitLimit = 5 * time.Second  // how long any single step may take
	hangLimit = 60 * time.Second // the whole demo
)

func main() {
	results := flag.String("results", "", "write the check counts to this file")
	flag.Parse()
	watchdog := time.AfterFunc(hangLimit, func() {
		fmt.Fprintf(os.Stderr, "\ndemo: FAIL: still running after %v\n", hangLimit)
		os.Exit(2)
	})
	d := &demo{}
	d.run()
	watchdog.Stop()
	fmt.Println()
	if *results != "" {
		d.writeResults(*results)
	}
	if d.failed > 0 {
		fmt.Printf("demo: FAIL: %d of %d checks failed\n", d.failed, d.checks)
		os.Exit(1)
	}
	fmt.Printf("demo: OK, all %d checks passed\n", d.checks)
}

type demo struct {
	checks, failed int

	srv    *core.Server
	port   int
	events chan string // what the server's handlers saw, printed by main
	byName map[string]*member

	offlineMu sync.Mutex
	offline   []string // messages the server got from "eve"
}

// member is one chat client and what it received.
type member struct {
	name  string
	cl    *core.Client
	inbox inbox
}

// ---------------------------------------------------------------- steps

func (d *demo) run() {
	fmt.Println("netsys demo: the Go core on loopback")
	if !d.startServer() {
		return
	}
	if !d.connectClients() {
		d.srv.Stop()
		return
	}
	d.groups()
	d.broadcasts()
	d.relay()
	d.sessionData()
	d.statistics()
	d.leave()
	d.reconnect()
	d.srv.Stop()
	d.throughput()
	d.latency()
}

func (d *demo) startServer() bool {
	section("1. Start a server")
	d.events = make(chan string, 256)
	d.byName = map[string]*member{}
	srv, err := core.NewServer("demo", core.ServerConfig{BindAddress: host, Port: 0, Loops: 2})
	if !d.noErr("NewServer", err) {
		return false
	}
	srv.OnConnect(func(s *core.Session) {
		// Per-session data, set by the server as the session opens.
		s.Data().Set("nick", strings.ToUpper(s.ClientID()[:1])+s.ClientID()[1:])
		s.Data().Set("joined", time.Now().Format("15:04:05.000"))
		d.events <- fmt.Sprintf("OnConnect     session %d, client id %q, from %v", s.ID(), s.ClientID(), s.RemoteAddr())
	})
	srv.OnDisconnect(func(s *core.Session, reason string) {
		d.events <- fmt.Sprintf("OnDisconnect  session %d (%s): %q", s.ID(), s.ClientID(), reason)
	})
	srv.OnError(func(s *core.Session, err error) {
		d.events <- fmt.Sprintf("OnError       %v", err)
	})
	srv.OnMessage(d.onServerMessage)
	if !d.noErr("Start", srv.Start()) {
		return false
	}
	d.srv, d.port = srv, srv.Port()
	say("server %q listening on %s:%d (ephemeral port), %d event loops",
		srv.ID(), host, d.port, srv.Config().Loops)
	d.check(srv.IsRunning(), "server is running")
	return true
}

// onServerMessage runs on the session's event loop. "chat:<text>" is relayed
// to the chat group under the sender's nick; messages from eve are logged.
func (d *demo) onServerMessage(s *core.Session, msg []byte) {
	text := string(msg) // msg is only valid during the call: copy it
	s.Data().Set("last message", text)
	switch {
	case strings.HasPrefix(text, "chat:"):
		nick, _ := s.Data().Get("nick")
		n, err := s.Server().BroadcastToGroup("chat", []byte(nick+": "+strings.TrimPrefix(text, "chat:")))
		d.events <- fmt.Sprintf("OnMessage     session %d %q -> relayed to %d chat members (err=%v)", s.ID(), text, n, err)
	case s.ClientID() == "eve":
		d.offlineMu.Lock()
		d.offline = append(d.offline, text)
		d.offlineMu.Unlock()
	}
}

func (d *demo) connectClients() bool {
	section("2. Clients connect with client ids")
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		cl, err := core.NewClient(core.ClientConfig{ClientID: name})
		if !d.noErr("NewClient "+name, err) {
			return false
		}
		m := &member{name: name, cl: cl}
		cl.OnMessage(m.inbox.add)
		if !d.noErr("Connect "+name, cl.Connect(host, d.port)) {
			return false
		}
		d.byName[name] = m
		d.drainEvents(1)
		say("%-5s connected: session id %d", name, cl.SessionID())
	}
	d.check(d.srv.ConnectionCount() == 4, "server has 4 open sessions (ConnectionCount=%d)", d.srv.ConnectionCount())
	for _, s := range d.srv.Sessions() {
		m := d.byName[s.ClientID()]
		d.check(m != nil && m.cl.SessionID() == s.ID(), "client %q and server agree on session id %d", s.ClientID(), s.ID())
	}
	return true
}

func (d *demo) session(name string) *core.Session {
	for _, s := range d.srv.Sessions() {
		if s.ClientID() == name {
			return s
		}
	}
	return nil
}

func (d *demo) groups() {
	section(`3. Groups "chat" and "ops", managed through the server API`)
	plan := map[string][]string{"chat": {"alice", "bob", "carol"}, "ops": {"carol", "dave"}}
	for _, g := range []string{"chat", "ops"} {
		for _, name := range plan[g] {
			s := d.session(name)
			if s == nil {
				d.check(false, "session of %s exists", name)
				continue
			}
			d.noErr("AddToGroup", d.srv.AddToGroup(s.ID(), g))
			say("AddToGroup(session %d = %s, %q)", s.ID(), name, g)
		}
	}
	for _, g := range []string{"chat", "ops"} {
		got := d.names(d.srv.GroupMembers(g))
		d.check(slices.Equal(got, plan[g]), "GroupMembers(%q) = %v", g, got)
	}
	carol := d.session("carol")
	d.check(carol != nil && slices.Equal(d.srv.SessionGroups(carol.ID()), []string{"chat", "ops"}),
		"carol is in both: SessionGroups = %v", d.srv.SessionGroups(carol.ID()))
}

// names maps session ids to client ids.
func (d *demo) names(ids []uint64) []string {
	var out []string
	for _, id := range ids {
		if s := d.srv.Session(id); s != nil {
			out = append(out, s.ClientID())
		}
	}
	return out
}

func (d *demo) broadcasts() {
	section("4. Broadcast and group broadcast")
	n, err := d.srv.Broadcast([]byte("server: maintenance at 18:00"))
	d.noErr("Broadcast", err)
	say("Broadcast(%q) queued for %d sessions", "server: maintenance at 18:00", n)
	d.expectInboxes(map[string][]string{
		"alice": {"server: maintenance at 18:00"}, "bob": {"server: maintenance at 18:00"},
		"carol": {"server: maintenance at 18:00"}, "dave": {"server: maintenance at 18:00"},
	})

	n, err = d.srv.BroadcastToGroup("chat", []byte("chat: welcome to #chat"))
	d.noErr("BroadcastToGroup", err)
	say("BroadcastToGroup(\"chat\", ...) queued for %d sessions", n)
	n2, err := d.srv.BroadcastToGroup("ops", []byte("ops: deploy at 17:00"))
	d.noErr("BroadcastToGroup", err)
	say("BroadcastToGroup(\"ops\", ...)  queued for %d sessions", n2)
	d.expectInboxes(map[string][]string{
		"alice": {"chat: welcome to #chat"},
		"bob":   {"chat: welcome to #chat"},
		"carol": {"chat: welcome to #chat", "ops: deploy at 17:00"},
		"dave":  {"ops: deploy at 17:00"},
	})
	d.check(n == 3 && n2 == 2, "group broadcasts reached 3 (chat) and 2 (ops) sessions")
}

func (d *demo) relay() {
	section("5. A client writes to the chat; the server relays it to the group")
	alice := d.byName["alice"]
	d.noErr("Send", alice.cl.Send([]byte("chat:hello everyone")))
	say("alice.Send(%q)", "chat:hello everyone")
	d.drainEvents(1)
	d.expectInboxes(map[string][]string{
		"alice": {"Alice: hello everyone"}, "bob": {"Alice: hello everyone"},
		"carol": {"Alice: hello everyone"}, "dave": nil,
	})
}

func (d *demo) sessionData() {
	section("6. Per-session data (Session.Data)")
	for _, s := range d.srv.Sessions() {
		var kv []string
		for _, k := range s.Data().Keys() {
			v, _ := s.Data().Get(k)
			kv = append(kv, fmt.Sprintf("%s=%q", k, v))
		}
		say("session %d (%s): %s", s.ID(), s.ClientID(), strings.Join(kv, " "))
	}
	a := d.session("alice")
	last, ok := a.Data().Get("last message")
	d.check(ok && last == "chat:hello everyone", "alice's session remembers her last message")
	nick, _ := a.Data().Get("nick")
	d.check(nick == "Alice", "nick set in OnConnect is %q", nick)
}

func (d *demo) statistics() {
	section("7. Statistics")
	st := d.srv.Statistics()
	say("server:  %d connections (%d open), sent %d msgs / %d B, received %d msgs / %d B, up %v",
		st.TotalConnections, st.CurrentConnections, st.MessagesSent, st.BytesSent,
		st.MessagesReceived, st.BytesReceived, time.Since(st.StartTime).Round(time.Millisecond))
	var received uint64
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		s := d.session(name)
		ss := s.Statistics()
		cs := d.byName[name].cl.Statistics()
		received += cs.MessagesReceived
		say("%-5s   session: sent %d, received %d | client: sent %d, received %d, reconnects %d",
			name, ss.MessagesSent, ss.MessagesReceived, cs.MessagesSent, cs.MessagesReceived, cs.Reconnects)
	}
	// 4 broadcast + 3 chat + 2 ops + 3 relayed.
	d.check(st.MessagesSent == 12 && received == 12, "server sent 12 messages, clients received %d", received)
	d.check(st.MessagesReceived == 1 && st.TotalConnections == 4, "server received 1 message over 4 connections")
}

func (d *demo) leave() {
	section("8. The chat clients leave")
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		d.noErr("Stop", d.byName[name].cl.Stop())
	}
	d.drainEvents(4)
	d.check(waitUntil(func() bool { return d.srv.ConnectionCount() == 0 }), "no session left")
	d.check(len(d.srv.GroupMembers("chat")) == 0, "closed sessions left their groups")
}

func (d *demo) reconnect() {
	section("9. Automatic reconnection: the server restarts, queued messages arrive")
	connected := make(chan struct{}, 4)
	disconnected := make(chan string, 4)
	failures := make(chan error, 64)
	eve, err := core.NewClient(core.ClientConfig{ClientID: "eve", AutoReconnect: true,
		ReconnectInterval: 50 * time.Millisecond, ReconnectMaxInterval: 200 * time.Millisecond})
	if !d.noErr("NewClient eve", err) {
		return
	}
	defer eve.Stop()
	eve.OnConnect(func() { connected <- struct{}{} })
	eve.OnDisconnect(func(reason string) { disconnected <- reason })
	eve.OnError(func(err error) {
		select {
		case failures <- err:
		default: // never block eve's event loop on a full channel
		}
	})
	if !d.noErr("Connect eve", eve.Connect(host, d.port)) {
		return
	}
	<-connected
	d.drainEvents(1)
	say("eve connected with AutoReconnect (backoff 50 ms .. 200 ms, ±20%% jitter)")
	d.noErr("Send", eve.Send([]byte("eve #0 (online)")))
	d.check(waitUntil(func() bool { return len(d.eveGot()) == 1 }), "server got eve's first message")

	say("server.Stop() ...")
	d.noErr("Stop", d.srv.Stop())
	d.drainEvents(1)
	select {
	case reason := <-disconnected:
		say("eve: OnDisconnect %q", reason)
	case <-time.After(waitLimit):
		d.check(false, "eve noticed the server stopping")
		return
	}
	for i := 1; i <= 5; i++ {
		d.noErr("Send while disconnected", eve.Send(fmt.Appendf(nil, "eve #%d (sent while the server was down)", i)))
	}
	say("eve sent 5 messages while disconnected: Send returned nil, they wait in the reconnect queue")
	// Watch a few refused attempts with growing backoff: a refused attempt
	// keeps the queued messages for the next one.
	const refusals = 3
	lost := false
	for i := 1; i <= refusals; i++ {
		select {
		case err := <-failures:
			say("eve: OnError (attempt %d): %v", i, err)
			lost = lost || errors.Is(err, core.ErrNotDelivered)
		case <-time.After(waitLimit):
			d.check(false, "eve retried while the server was down")
			return
		}
	}
	d.check(!lost, "the refused attempts kept the queued messages (no ErrNotDelivered)")

	cfg := d.srv.Config()
	cfg.Port = d.port
	d.noErr("SetConfig", d.srv.SetConfig(cfg))
	if !d.noErr("Start", d.srv.Start()) {
		return
	}
	say("server restarted on the same port %d", d.srv.Port())
	select {
	case <-connected:
		d.drainEvents(1)
		say("eve reconnected: new session id %d, Statistics().Reconnects = %d", eve.SessionID(), eve.Statistics().Reconnects)
	case <-time.After(waitLimit):
		d.check(false, "eve reconnected")
		return
	}
	d.check(waitUntil(func() bool { return len(d.eveGot()) >= 6 }), "the 5 queued messages were delivered after reconnecting")
	for _, m := range d.eveGot()[1:] {
		say("  server received: %q", m)
	}
	want := []string{"eve #0 (online)"}
	for i := 1; i <= 5; i++ {
		want = append(want, fmt.Sprintf("eve #%d (sent while the server was down)", i))
	}
	d.check(slices.Equal(d.eveGot(), want), "in order, nothing lost or duplicated")
	d.check(eve.Statistics().Reconnects == 1, "client counted 1 reconnect")
	// Attempts refused after the three shown must not have lost anything either.
	for len(failures) > 0 {
		if err := <-failures; errors.Is(err, core.ErrNotDelivered) {
			d.check(false, "no message reported undelivered: %v", err)
		}
	}
	d.noErr("Stop eve", eve.Stop())
	d.drainEvents(1)
}

func (d *demo) eveGot() []string {
	d.offlineMu.Lock()
	defer d.offlineMu.Unlock()
	return slices.Clone(d.offline)
}

// throughput streams 64-byte messages from one client for about a second
// and counts them on the server.
func (d *demo) throughput() {
	section("10. Throughput: one client -> server, 64-byte messages, ~1 s")
	const size, maxMsgs, runFor = 64, 50_000_000, time.Second
	var got atomic.Int64
	srv, cl, ok := d.pair("throughput", func(*core.Session, []byte) { got.Add(1) })
	if !ok {
		return
	}
	defer srv.Stop()
	defer cl.Stop()
	msg := make([]byte, size)
	sent, retries := int64(0), 0
	start := time.Now()
	for sent < maxMsgs && (sent%1024 != 0 || time.Since(start) < runFor) {
		err := cl.Send(msg)
		for errors.Is(err, core.ErrBackpressure) { // queue at SendQueueLimit: wait for room
			retries++
			err = cl.SendTimeout(msg, waitLimit)
		}
		if !d.noErr("Send", err) {
			return
		}
		sent++
	}
	sendTime := time.Since(start)
	d.check(waitUntil(func() bool { return got.Load() == sent }), "server counted all %d messages", sent)
	elapsed := time.Since(start)
	rate := float64(got.Load()) / elapsed.Seconds()
	say("sent %d messages in %v (%d backpressure waits), all received after %v",
		sent, sendTime.Round(time.Millisecond), retries, elapsed.Round(time.Millisecond))
	say("=> %.0f msg/s, %.1f MB/s of payload", rate, rate*size/1e6)
}

// latency measures sequential round trips of a 64-byte message.
func (d *demo) latency() {
	section("11. Latency: ping-pong, 64-byte message, 2000 round trips")
	const rounds = 2000
	srv, cl, ok := d.pair("latency", func(s *core.Session, m []byte) { s.Send(m) })
	if !ok {
		return
	}
	defer srv.Stop()
	defer cl.Stop()
	pong := make(chan struct{}, 1)
	cl.OnMessage(func([]byte) { pong <- struct{}{} })
	msg := make([]byte, 64)
	rtt := make([]time.Duration, 0, rounds)
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		if !d.noErr("Send", cl.Send(msg)) {
			return
		}
		select {
		case <-pong:
		case <-time.After(waitLimit):
			d.check(false, "echo %d arrived", i)
			return
		}
		rtt = append(rtt, time.Since(t0))
	}
	slices.Sort(rtt)
	q := func(p float64) time.Duration { return rtt[min(len(rtt)-1, int(p*float64(len(rtt))))] }
	say("round trip: p50 %v, p99 %v, max %v", us(q(0.50)), us(q(0.99)), us(rtt[len(rtt)-1]))
	d.check(len(rtt) == rounds, "%d round trips completed", rounds)
}

// pair starts a one-loop server with handler h and a client connected to it.
func (d *demo) pair(name string, h func(*core.Session, []byte)) (*core.Server, *core.Client, bool) {
	srv, err := core.NewServer(name, core.ServerConfig{BindAddress: host, Loops: 1})
	if !d.noErr("NewServer", err) {
		return nil, nil, false
	}
	srv.OnMessage(h)
	if !d.noErr("Start", srv.Start()) {
		return nil, nil, false
	}
	cl, err := core.NewClient(core.ClientConfig{ClientID: name})
	if d.noErr("NewClient", err) && d.noErr("Connect", cl.Connect(host, srv.Port())) {
		return srv, cl, true
	}
	srv.Stop()
	return nil, nil, false
}

// ---------------------------------------------------------------- helpers

func section(title string) { fmt.Printf("\n== %s\n", title) }

func say(format string, args ...any) { fmt.Printf("   "+format+"\n", args...) }

func us(t time.Duration) string { return fmt.Sprintf("%.1f µs", float64(t)/float64(time.Microsecond)) }

func (d *demo) check(ok bool, format string, args ...any) bool {
	d.checks++
	mark := "ok  "
	if !ok {
		d.failed++
		mark = "FAIL"
	}
	fmt.Printf("   [%s] %s\n", mark, fmt.Sprintf(format, args...))
	return ok
}

// writeResults records the counts in the format of mk/results.sh.
func (d *demo) writeResults(path string) {
	line := fmt.Sprintf("%d %d 0\n", d.checks-d.failed, d.failed)
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, []byte(line), 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: writing %s: %v\n", path, err)
	}
}

func (d *demo) noErr(what string, err error) bool {
	if err == nil {
		return true
	}
	return d.check(false, "%s: %v", what, err)
}

// drainEvents prints n server-handler events, waiting for them.
func (d *demo) drainEvents(n int) {
	for i := 0; i < n; i++ {
		select {
		case ev := <-d.events:
			fmt.Printf("   server> %s\n", ev)
		case <-time.After(waitLimit):
			d.check(false, "server handler event %d of %d", i+1, n)
			return
		}
	}
}

// expectInboxes waits until each client received exactly the messages
// listed for it (since the last call), then prints and clears them.
func (d *demo) expectInboxes(want map[string][]string) {
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	waitUntil(func() bool {
		for _, name := range names {
			if len(d.byName[name].inbox.peek()) < len(want[name]) {
				return false
			}
		}
		return true
	})
	time.Sleep(20 * time.Millisecond) // let anything unexpected arrive too
	for _, name := range names {
		got := d.byName[name].inbox.take()
		if len(got) == 0 {
			say("%-5s received nothing", name)
		}
		for _, m := range got {
			say("%-5s received %q", name, m)
		}
		d.check(slices.Equal(got, want[name]) || len(got) == 0 && len(want[name]) == 0,
			"%s got exactly %d expected message(s)", name, len(want[name]))
	}
}

// waitUntil polls cond for up to waitLimit.
func waitUntil(cond func() bool) bool {
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// inbox collects copies of the messages a client receives.
type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func (in *inbox) add(msg []byte) {
	in.mu.Lock()
	in.msgs = append(in.msgs, string(msg)) // string() copies: msg is reused
	in.mu.Unlock()
}

func (in *inbox) peek() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.msgs)
}

func (in *inbox) take() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := in.msgs
	in.msgs = nil
	return out
}
