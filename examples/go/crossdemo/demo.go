package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// demo runs the two phases and keeps the table.
type demo struct {
	root        string
	count, size int
	langs       []language
	rows        []row
	notes       []note // printed under the table
	// The verdicts of the last run, for the summary of `make demo`.
	passed, failed, skipped int
}

// note is output worth showing after the table: why something failed.
type note struct{ Title, Text string }

// row is one server/client pairing.
type row struct {
	Server, Client string
	Verdict        verdict
	Result         string // "1000/1000 echoed", or why not
	Rate, P50      string
}

type verdict int

const (
	passed verdict = iota
	failed
	skipped
)

// summaryLine is the contract's "<lang> client: N/N echoed, X msg/s, p50 Y us".
var summaryLine = regexp.MustCompile(`^\S+ client: (\d+)/(\d+) echoed, ([0-9.]+) msg/s, p50 ([0-9.]+) us$`)

// run prints the table as rows complete and reports whether nothing failed.
func (d *demo) run(w io.Writer) bool {
	start := time.Now()
	fmt.Fprintf(w, "netsys cross-language demo: every client sends %d messages of %d B over 127.0.0.1,\n", d.count, d.size)
	fmt.Fprintf(w, "one round trip at a time, and checks each echo byte for byte.\n\n")
	fmt.Fprintf(w, "%-8s %-8s %-42s %10s %8s\n", "server", "client", "result", "msg/s", "p50 us")
	fmt.Fprintf(w, "%s\n", strings.Repeat("-", 80))

	goLang := d.langs[0]
	// Phase 1: every client against the Go server.
	d.withServer(w, goLang, d.langs)
	// Phase 2: the Go client against every other server.
	for _, l := range d.langs[1:] {
		d.withServer(w, l, []language{goLang})
	}

	var nPassed, nFailed, nSkipped int
	for _, r := range d.rows {
		switch r.Verdict {
		case passed:
			nPassed++
		case failed:
			nFailed++
		default:
			nSkipped++
		}
	}
	d.passed, d.failed, d.skipped = nPassed, nFailed, nSkipped
	for _, n := range d.notes {
		fmt.Fprintf(w, "\n%s:\n%s", n.Title, indent(n.Text))
	}
	fmt.Fprintf(w, "\n")
	took := time.Since(start).Round(time.Millisecond)
	if nFailed > 0 {
		fmt.Fprintf(w, "crossdemo: FAIL: %d of %d runs failed, %d passed, %d skipped (%v)\n",
			nFailed, nFailed+nPassed, nPassed, nSkipped, took)
		return false
	}
	fmt.Fprintf(w, "crossdemo: OK: %d runs passed, %d skipped (%v)\n", nPassed, nSkipped, took)
	return true
}

// withServer starts srvLang's server, runs each client against it and
// stops the server, adding one row per client.
func (d *demo) withServer(w io.Writer, srvLang language, clients []language) {
	add := func(r row) {
		d.rows = append(d.rows, r)
		if r.Rate == "" {
			fmt.Fprintf(w, "%-8s %-8s %s\n", r.Server, r.Client, r.Result)
			return
		}
		fmt.Fprintf(w, "%-8s %-8s %-42s %10s %8s\n", r.Server, r.Client, r.Result, r.Rate, r.P50)
	}
	if why, skip := srvLang.availability(d.root, srvLang.Server); why != "" {
		for _, cl := range clients {
			add(row{Server: srvLang.Name, Client: cl.Name, Verdict: verdictOf(skip), Result: "server " + why})
		}
		return
	}
	srv, err := startServer(srvLang.Server)
	if err != nil {
		for _, cl := range clients {
			add(row{Server: srvLang.Name, Client: cl.Name, Verdict: failed, Result: "FAIL: server did not start"})
		}
		d.notes = append(d.notes, note{srvLang.Name + " server did not start", err.Error() + "\n" + srv.output.String()})
		return
	}
	runFailed := false // a client ran and failed: the server's log may say why
	for _, cl := range clients {
		r, output := d.runPair(srvLang, cl, srv.Port)
		add(r)
		if r.Verdict == failed && output != "" {
			runFailed = true
			d.notes = append(d.notes, note{fmt.Sprintf("%s client against the %s server", cl.Name, srvLang.Name), output})
		}
	}
	err = srv.stop()
	if err != nil {
		// The runs themselves may have passed: the stop is part of the
		// contract too, so the last row of this server carries the failure.
		add(row{Server: srvLang.Name, Client: "(stop)", Verdict: failed, Result: "FAIL: server " + err.Error()})
	}
	if runFailed || err != nil {
		d.notes = append(d.notes, note{srvLang.Name + " server output", srv.output.String()})
	}
}

// runPair runs clLang's client against the server on port; it returns the
// row and the client's output.
func (d *demo) runPair(srvLang, clLang language, port int) (row, string) {
	r := row{Server: srvLang.Name, Client: clLang.Name}
	if why, skip := clLang.availability(d.root, clLang.Client); why != "" {
		r.Verdict, r.Result = verdictOf(skip), "client "+why
		return r, ""
	}
	run := runClient(clLang.Client, port, d.count, d.size)
	m := summaryLine.FindStringSubmatch(run.Line)
	switch {
	case run.Err != nil:
		r.Verdict, r.Result = failed, "FAIL: client "+exitText(run.Err)
	case m == nil:
		r.Verdict, r.Result = failed, "FAIL: no summary line"
		return r, "expected \"<lang> client: N/N echoed, X msg/s, p50 Y us\", got:\n" + run.Output
	case m[1] != strconv.Itoa(d.count) || m[2] != strconv.Itoa(d.count):
		r.Verdict, r.Result = failed, "FAIL: "+m[1]+"/"+m[2]+" echoed"
	default:
		r.Verdict, r.Result, r.Rate, r.P50 = passed, "ok, "+m[1]+"/"+m[2]+" echoed", m[3], m[4]
	}
	return r, run.Output
}

func verdictOf(skip bool) verdict {
	if skip {
		return skipped
	}
	return failed
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "  (no output)\n"
	}
	return "  | " + strings.ReplaceAll(s, "\n", "\n  | ") + "\n"
}
