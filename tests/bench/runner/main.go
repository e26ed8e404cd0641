// Command runner is `make bench-peers`: it starts every benchmark server in
// turn (each its own process, pinned to CPU 0), drives each scenario against
// it with the load generator (pinned to CPU 1), repeats each scenario, and
// writes every run as a JSON line plus a Markdown summary with medians,
// spreads and ratios to the raw C server measured in the same run. The
// ZeroMQ peers (libzmq's C loop and pyzmq's Python one) speak their own
// protocol and are driven by zmq_bench instead of the load generator.
//
// A server whose binary could not be built, or that does not start, is not
// silently dropped: it gets a "not measured: reason" row.
//
//	runner -bin build/bench/bin -src tests/bench -out build/bench
//	runner -from build/bench/results.jsonl      (redo the summary and chart)
//	runner -doc docs/benchmarks.md              (paste results.md into it)
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netsys/netsys/tests/bench/internal/sched"
)

// Server is one system under test.
type Server struct {
	Name  string // file-name-safe key; NAME.skip in the bin directory says why it was not built
	Label string // what the tables call it
	// Argv is the command, relative to the bin directory unless Script is
	// set (then Argv[0] is the Python interpreter, -python).
	Argv   []string
	Script bool
	Env    []string
	// Scenarios restricts the server to these scenarios (nil: all).
	Scenarios []string
	// ZMQ marks a ZeroMQ peer: Argv is zmq_bench, which is both the sending
	// side and, with ZMQReceiver nil, the receiving side (libzmq's own C
	// loop); ZMQReceiver is another receiving side's command (pyzmq).
	ZMQ         bool
	ZMQReceiver []string
	// Optional marks a peer that needs something `make deps` installs and
	// the build may lack (libzmq3-dev, pyzmq): when it is not measured for
	// that reason, the smoke test reports it instead of failing.
	Optional bool
	// NotMeasured, when set before the run, is why the server is skipped.
	NotMeasured string
}

// Scenario is one loadgen configuration.
type Scenario struct {
	Name string
	Args []string
}

type config struct {
	bin, src, out, lib string
	python             string
	reps               int
	quick, smoke       bool
	verbose            bool
	only               map[string]bool
	onlyScenarios      map[string]bool
	profile            bool
	pin                bool
	loadgenTimeout     time.Duration
	from               string
	doc                string
	docForce           bool
	// command is the command line the results name (-command).
	command string
	// nice is the niceness servers and the load generator run at: -15 when
	// this process may raise priorities (root), else 0; they then also get
	// a short scheduler slice (package sched). On a shared machine that
	// keeps compilers and test suites from taking the measured processes'
	// CPUs, without the starvation risks of real-time classes.
	nice int
	// retryUntil ends the retrying of disturbed runs, so that `make bench`
	// stays within its time limit however busy the machine is.
	retryUntil time.Time
}

func main() {
	var c config
	var only, onlyScenarios string
	flag.StringVar(&c.bin, "bin", "build/bench/bin", "directory with the built servers and the loadgen")
	flag.StringVar(&c.src, "src", "tests/bench", "the tests/bench source directory (Python server)")
	flag.StringVar(&c.out, "out", "build/bench", "where results.jsonl, results.md and summary.json go")
	flag.StringVar(&c.lib, "lib", "build/lib", "directory holding libnetsys.so")
	flag.StringVar(&c.python, "python", "python3", "the Python interpreter for the Python servers and the chart")
	flag.IntVar(&c.reps, "reps", 3, "repetitions of each scenario")
	flag.BoolVar(&c.quick, "quick", false, "one repetition, short runs (BENCH_QUICK=1)")
	flag.BoolVar(&c.smoke, "smoke", false, "harness self-test: tiny runs of every server; fail unless every figure is positive")
	flag.BoolVar(&c.verbose, "v", false, "print every run's result (the default except with -smoke)")
	flag.StringVar(&only, "only", "", "comma-separated server names to run (default: all)")
	flag.StringVar(&onlyScenarios, "scenarios", "", "comma-separated scenario names to run (default: all)")
	flag.StringVar(&c.command, "command", "", "the command line to print in the results (default: this process's)")
	flag.StringVar(&c.from, "from", "", "only rewrite the summary (results.md, summary.json, chart) from this results.jsonl")
	flag.StringVar(&c.doc, "doc", "", "rewrite the generated part of this file (docs/benchmarks.md) from -out's results.md and chart")
	flag.BoolVar(&c.docForce, "doc-force", false, "with -doc: accept a quick, dirty or out-of-date run")
	flag.BoolVar(&c.profile, "profile", true, "also profile under stream 64 B: Go pprof of netsysgo, perf of the C and C++ servers")
	flag.Parse()
	if c.quick || c.smoke {
		c.reps = 1
	}
	if c.smoke {
		c.profile = false
	} else {
		c.verbose = true
	}
	c.only, c.onlyScenarios = nameSet(only), nameSet(onlyScenarios)
	for _, p := range []*string{&c.bin, &c.src, &c.out, &c.lib} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fatal(err)
		}
		*p = abs
	}
	// Pinning needs two CPUs this process may use and the taskset tool.
	_, tsErr := exec.LookPath("taskset")
	c.pin = runtime.NumCPU() >= 2 && tsErr == nil
	c.loadgenTimeout = 60 * time.Second
	c.nice = canRaisePriority()
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		fatal(err)
	}
	if c.doc != "" {
		if err := writeDoc(c); err != nil {
			fatal(err)
		}
		return
	}
	if c.from != "" {
		if err := resummarize(c); err != nil {
			fatal(err)
		}
		return
	}
	if c.smoke {
		// `make test` may run in several trees' shells at once on a shared
		// machine: each smoke run gets its own directory, removed when it
		// passes and kept for inspection when it fails.
		dir, err := os.MkdirTemp(c.out, "smoke-")
		if err != nil {
			fatal(err)
		}
		c.out = dir
		if err := run(c); err != nil {
			fatal(fmt.Errorf("%w (results kept in %s)", err, dir))
		}
		_ = os.RemoveAll(dir)
		return
	}
	if err := run(c); err != nil {
		fatal(err)
	}
}

// nameSet is a comma-separated list as a set; nil for "" (everything).
func nameSet(list string) map[string]bool {
	if list == "" {
		return nil
	}
	set := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		set[strings.TrimSpace(s)] = true
	}
	return set
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "runner:", err)
	os.Exit(1)
}

// scenarios lists the scenarios with their loadgen arguments for this mode.
func scenarios(c config) []Scenario {
	dur, idleConns, many := "1s", "10000", "1000"
	switch {
	case c.smoke:
		dur, idleConns, many = "100ms", "200", "100"
	case c.quick:
		dur, idleConns, many = "300ms", "2000", "1000"
	}
	d := "-dur=" + dur
	all := []Scenario{
		{"stream-64", []string{"-scenario=stream", "-size=64", d}},
		{"stream-1k", []string{"-scenario=stream", "-size=1024", d}},
		{"stream-8k", []string{"-scenario=stream", "-size=8192", d}},
		{"pipeline-64", []string{"-scenario=pipeline", "-size=64", "-window=128", d}},
		{"pingpong-64", []string{"-scenario=pingpong", "-size=64", d}},
		{"fanin-50", []string{"-scenario=fanin", "-size=64", "-conns=50", "-window=1", d}},
		{"fanin-" + many, []string{"-scenario=fanin", "-size=64", "-conns=" + many, "-window=1", d}},
		{"connect", []string{"-scenario=connect", "-size=64", d}},
		{"idle-" + idleConns, []string{"-scenario=idle", "-conns=" + idleConns}},
	}
	var out []Scenario
	for _, sc := range all {
		if c.onlyScenarios == nil || c.onlyScenarios[sc.Name] {
			out = append(out, sc)
		}
	}
	return out
}

// zmqScenarios are the scenarios the ZeroMQ peers have a counterpart of:
// PUSH/PULL for the 64 B stream, REQ/REP for ping-pong.
var zmqScenarios = []string{"stream-64", "pingpong-64"}

// libraryEnv is the environment of a server on libnetsys.so.
func libraryEnv(c config) []string {
	return []string{"LD_LIBRARY_PATH=" + c.lib}
}

// pythonEnv is the environment of a Python server: the package from the
// source tree on the library of the build.
func pythonEnv(c config) []string {
	return append([]string{
		"PYTHONPATH=" + filepath.Join(filepath.Dir(filepath.Dir(c.src)), "bindings", "python"),
		"NETSYS_LIBRARY=" + filepath.Join(c.lib, "libnetsys.so"),
		// The build directory: the package's C extension, when built, is
		// in python/netsys/ there (NETSYS_PYTHON_ACCEL=0 in the runner's
		// environment measures the package as pure Python).
		"NETSYS_BUILD=" + filepath.Dir(c.lib),
		"PYTHONUNBUFFERED=1",
	}, libraryEnv(c)...)
}

// servers lists the systems under test. Order matters: rawc first, so the
// ratios are known when the others are printed in the log.
func servers(c config) []Server {
	libEnv := libraryEnv(c)
	pyEnv := pythonEnv(c)
	pingOnly := []string{"pingpong-64"}
	list := []Server{
		{Name: "rawc", Label: "raw C epoll (limit)", Argv: []string{"rawc"}},
		{Name: "netsysgo", Label: "netsys Go", Argv: []string{"netsysgo"}},
		{Name: "netsysc", Label: "netsys C ABI", Argv: []string{"netsysc"}, Env: libEnv},
		// The C ABI's pull interface (events drained in batches by a host
		// thread), where batching matters most.
		{Name: "netsysc-poll", Label: "netsys C ABI, poll", Argv: []string{"netsysc"}, Env: append([]string{"DELIVERY=events"}, libEnv...), Scenarios: []string{"stream-64", "pipeline-64", "pingpong-64", "fanin-50"}},
		{Name: "netsyscpp", Label: "netsys C++", Argv: []string{"netsyscpp"}, Env: libEnv},
		{Name: "netsyspy", Label: "netsys Python", Argv: []string{c.python, filepath.Join(c.src, "servers", "python", "server.py")}, Script: true, Env: pyEnv},
		{Name: "gonet", Label: "Go net", Argv: []string{"gonet"}},
		{Name: "gnet", Label: "gnet v2", Argv: []string{"gnet"}},
		// The opt-in low-latency modes, measured on ping-pong only.
		{Name: "rawc-spin", Label: "raw C busy-poll", Argv: []string{"rawc"}, Env: []string{"SPIN=1"}, Scenarios: pingOnly},
		{Name: "netsysgo-spin", Label: "netsys Go spin 50µs", Argv: []string{"netsysgo"}, Env: []string{"SPIN_US=50"}, Scenarios: pingOnly},
		// The ZeroMQ peers (their own protocol): libzmq's C loop, and pyzmq
		// receiving into a Python handler, the Python peer of netsys Python.
		{Name: "zmq", Label: "libzmq (reference)", Argv: []string{"zmq_bench"}, ZMQ: true, Scenarios: zmqScenarios, Optional: true},
		{Name: "pyzmq", Label: "pyzmq, Python handler", Argv: []string{"zmq_bench"}, ZMQ: true, Scenarios: zmqScenarios, Optional: true,
			ZMQReceiver: []string{c.python, filepath.Join(c.src, "zmq", "pyzmq_peer.py")}},
	}
	var out []Server
	for _, s := range list {
		if c.only != nil && !c.only[s.Name] {
			continue
		}
		if r, ok := skipFile(c, s.Name); ok {
			s.NotMeasured = r
		}
		if !s.Script {
			bin := filepath.Join(c.bin, s.Argv[0])
			if _, err := os.Stat(bin); err != nil && s.NotMeasured == "" {
				s.NotMeasured = "binary " + s.Argv[0] + " was not built"
				if r, ok := skipFile(c, s.Argv[0]); ok {
					s.NotMeasured = r
				}
			}
			s.Argv = append([]string{bin}, s.Argv[1:]...)
		}
		out = append(out, s)
	}
	return out
}

// skipFile is the reason the build left in NAME.skip, if it left one.
func skipFile(c config, name string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(c.bin, name+".skip"))
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), true
	}
	return "", false
}

// Record is one JSON line of results.jsonl: a loadgen result with the
// server and repetition, or a not-measured marker.
type Record struct {
	// Run, set on the first line only, describes the whole run.
	Run         *RunInfo `json:"run,omitempty"`
	Server      string   `json:"server,omitempty"`
	Label       string   `json:"label,omitempty"`
	Scenario    string   `json:"scenario,omitempty"`
	Rep         int      `json:"rep,omitempty"`
	NotMeasured string   `json:"not_measured,omitempty"`
	// Retries counts runs repeated because other processes used the
	// server's CPU; Disturbed marks a result kept although every attempt was.
	Retries   int             `json:"retries,omitempty"`
	Disturbed bool            `json:"disturbed,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
}

func run(c config) error {
	jsonl, err := os.Create(filepath.Join(c.out, "results.jsonl"))
	if err != nil {
		return err
	}
	defer jsonl.Close()
	enc := json.NewEncoder(jsonl)
	var recs []Record
	emit := func(r Record) {
		recs = append(recs, r)
		_ = enc.Encode(r)
	}
	start := time.Now()
	// The run's description opens the file (a run cut short still says
	// what it measured) and, complete with its duration, closes it.
	info := newRunInfo(c)
	_ = enc.Encode(Record{Run: &info})
	// The smoke test checks the harness, not the figures: no retries.
	switch {
	case c.smoke:
		c.retryUntil = start
	case c.quick:
		c.retryUntil = start.Add(time.Minute)
	default:
		c.retryUntil = start.Add(90 * time.Second)
	}
	scs := scenarios(c)
	srvs := servers(c)
	// Scenario by scenario, and within a scenario repetition by repetition,
	// every server once: a burst of load from elsewhere on a shared machine
	// then hits one repetition of several servers, not every repetition of
	// one, and the medians stay comparable. Every run gets a fresh server
	// process, so RSS figures start from the same clean state.
	for _, sc := range scs {
		broken := map[string]bool{}
		for rep := 1; rep <= c.reps; rep++ {
			for _, s := range srvs {
				if (s.Scenarios != nil && !contains(s.Scenarios, sc.Name)) || broken[s.Name] {
					continue
				}
				if s.NotMeasured != "" {
					if rep == 1 {
						emit(Record{Server: s.Name, Label: s.Label, Scenario: sc.Name, NotMeasured: s.NotMeasured})
					}
					continue
				}
				r := measure(c, s, sc, rep)
				emit(r)
				if r.NotMeasured != "" {
					broken[s.Name] = true
				}
			}
		}
		if c.verbose {
			fmt.Fprintf(os.Stderr, "runner: %s done (%.0fs elapsed)\n", sc.Name, time.Since(start).Seconds())
		}
	}
	// The profiles are of the 64 B stream, the first scenario.
	if len(scs) == 0 || scs[0].Name != "stream-64" {
		c.profile = false
	}
	if c.profile && (c.only == nil || c.only["netsysgo"]) {
		if err := profileNetsysGo(c, scs[0]); err != nil {
			fmt.Fprintln(os.Stderr, "runner: profile:", err)
		}
	}
	if c.profile {
		for _, s := range srvs {
			if (s.Name == "netsysc" || s.Name == "netsyscpp") && s.NotMeasured == "" {
				if err := perfProfile(c, s, scs[0]); err != nil {
					fmt.Fprintf(os.Stderr, "runner: perf profile of %s: %v\n", s.Name, err)
				}
			}
		}
	}
	info.LoadAfter = loadAvg()
	info.Seconds = time.Since(start).Seconds()
	_ = enc.Encode(Record{Run: &info})
	sum := summarize(recs)
	if err := writeSummary(c, info, sum); err != nil {
		return err
	}
	if c.verbose {
		fmt.Fprintf(os.Stderr, "runner: finished in %.0fs; results in %s\n", time.Since(start).Seconds(), c.out)
	}
	if c.smoke {
		return checkSmoke(c, scs, srvs, recs)
	}
	return nil
}

// resummarize rebuilds the summary of an earlier run from its JSON lines,
// with that run's description (commit, command, machine).
func resummarize(c config) error {
	info, recs, err := readResults(c.from)
	if err != nil {
		return err
	}
	return writeSummary(c, info, summarize(recs))
}

// readResults reads a results.jsonl: the run's description (the last one:
// the first lacks the end figures) and its records. A file without a
// description (from an older runner) gets one saying so.
func readResults(path string) (RunInfo, []Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return RunInfo{}, nil, err
	}
	info := RunInfo{Commit: "unknown (results from an older runner)", Command: "unknown", Mode: "full",
		Machine: "unknown", Toolchain: "unknown", Pinning: "unknown", LoadBefore: "unknown", LoadAfter: "unknown"}
	var recs []Record
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return info, nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		if r.Run != nil {
			info = *r.Run
			continue
		}
		recs = append(recs, r)
	}
	return info, recs, nil
}

// measuredNice is the niceness of the measured processes when allowed.
const measuredNice = -15

// sliceNanos is the scheduler slice the measured processes ask for (see
// package sched for why).
const sliceNanos = 100_000

// canRaisePriority reports whether the measured processes may get
// measuredNice and the short slice: it tries both on a sleeping child.
func canRaisePriority() int {
	cmd := exec.Command("sleep", "1")
	if err := cmd.Start(); err != nil {
		return 0
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	if err := sched.Apply(cmd.Process.Pid, measuredNice, sliceNanos); err != nil {
		return 0
	}
	return measuredNice
}

// prioritized prefixes argv with nice when priorities can be raised.
func (c config) prioritized(argv []string) []string {
	if c.nice == 0 {
		return argv
	}
	return append([]string{"nice", "-n", strconv.Itoa(c.nice)}, argv...)
}

// loadAvg is /proc/loadavg's first three fields: other work on a shared
// machine shows up here and explains outliers.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// maxInterference is how much of the server's CPU other processes may have
// used during a run (CPU 0's busy fraction minus the server's own use)
// before the run is considered disturbed and repeated.
const maxInterference = 0.15

// measure runs one repetition of a scenario against a fresh server. A run
// disturbed by other processes on the server's CPU is repeated (at most
// twice); the record keeps the count of such retries.
func measure(c config, s Server, sc Scenario, rep int) Record {
	var last json.RawMessage
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			if time.Now().After(c.retryUntil) {
				break // out of time for retries: keep the disturbed result
			}
			time.Sleep(300 * time.Millisecond) // let a burst of other work pass
		}
		run := runOnce
		if s.ZMQ {
			run = runZMQ
		}
		res, err := run(c, s, sc)
		if err != nil {
			fmt.Fprintf(os.Stderr, "runner: %s %s: not measured: %v\n", s.Name, sc.Name, err)
			return Record{Server: s.Name, Label: s.Label, Scenario: sc.Name, Rep: rep, NotMeasured: err.Error()}
		}
		last = res
		other := interference(c, res)
		if c.verbose {
			fmt.Fprintf(os.Stderr, "runner: %s %s rep %d: %s\n", s.Name, sc.Name, rep, strings.TrimSpace(string(res)))
		}
		if other <= maxInterference {
			return Record{Server: s.Name, Label: s.Label, Scenario: sc.Name, Rep: rep, Retries: attempt, Result: res}
		}
		if c.verbose {
			fmt.Fprintf(os.Stderr, "runner: %s %s rep %d: other processes used %.2f of the server's CPU; repeating\n", s.Name, sc.Name, rep, other)
		}
	}
	return Record{Server: s.Name, Label: s.Label, Scenario: sc.Name, Rep: rep, Retries: 2, Disturbed: true, Result: last}
}

// interference is the share of the server's CPU that other processes used
// during the run; 0 when unknown (not pinned).
func interference(c config, res json.RawMessage) float64 {
	var f struct {
		ServerCPU float64   `json:"server_cpu"`
		CPUBusy   []float64 `json:"cpu_busy"`
	}
	if !c.pin || json.Unmarshal(res, &f) != nil || len(f.CPUBusy) == 0 {
		return 0
	}
	return max(0, f.CPUBusy[0]-f.ServerCPU)
}

// runOnce starts a fresh server, runs the loadgen once, stops the server.
func runOnce(c config, s Server, sc Scenario) (json.RawMessage, error) {
	srv, err := startServer(c, s, nil)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	res, err := runLoadgen(c, srv, sc)
	if err == nil && !srv.alive() {
		err = fmt.Errorf("server exited during the run: %s", srv.stderr.oneLine())
	}
	return res, err
}

// server is a running benchmark server.
type server struct {
	cmd    *exec.Cmd
	port   int
	stderr *tailBuffer
	exited chan error
}

// startServer launches s on a free port and waits until it accepts.
func startServer(c config, s Server, extraEnv []string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := s.Argv
	if c.pin {
		argv = append([]string{"taskset", "-c", "0"}, argv...)
	}
	argv = c.prioritized(argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(append(os.Environ(), "PORT="+strconv.Itoa(port)), s.Env...), extraEnv...)
	// A runner killed mid-run must not leave its server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	tail := &tailBuffer{max: 4096}
	cmd.Stderr = tail
	cmd.Stdout = tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Argv[0], err)
	}
	srv := &server{cmd: cmd, port: port, stderr: tail, exited: make(chan error, 1)}
	go func() { srv.exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			conn.Close()
			if c.nice != 0 {
				// Its threads exist now: give them the short slice too.
				_ = sched.Apply(cmd.Process.Pid, c.nice, sliceNanos)
			}
			return srv, nil
		}
		select {
		case werr := <-srv.exited:
			srv.exited <- werr
			return nil, fmt.Errorf("server exited at start (%v): %s", werr, tail.oneLine())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			srv.stop()
			return nil, fmt.Errorf("server did not listen within 15s: %s", tail.oneLine())
		}
	}
}

// stop sends SIGTERM, and SIGKILL if the server has not exited in 5 s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		s.exited <- <-s.exited
	}
}

// alive reports whether the server process is still running.
func (s *server) alive() bool {
	select {
	case err := <-s.exited:
		s.exited <- err
		return false
	default:
		return true
	}
}

// runLoadgen runs one loadgen process and returns its JSON result.
func runLoadgen(c config, srv *server, sc Scenario) (json.RawMessage, error) {
	argv := []string{filepath.Join(c.bin, "loadgen")}
	if c.pin {
		argv = append([]string{"taskset", "-c", "1"}, argv...)
	}
	argv = c.prioritized(argv)
	// nice and taskset exec the server: its pid is the one we started.
	argv = append(argv, "-port="+strconv.Itoa(srv.port), "-server-pid="+strconv.Itoa(srv.cmd.Process.Pid))
	if c.nice != 0 {
		argv = append(argv, "-nice="+strconv.Itoa(c.nice), "-slice="+strconv.Itoa(sliceNanos))
	}
	argv = append(argv, sc.Args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr tailBuffer
	stderr.max = 2048
	cmd.Stderr = &stderr
	timer := time.AfterFunc(c.loadgenTimeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.Output()
	if err != nil {
		msg := stderr.oneLine()
		if !srv.alive() {
			msg += "; the server died: " + srv.stderr.oneLine()
		}
		return nil, fmt.Errorf("loadgen: %v: %s", err, msg)
	}
	line := strings.TrimSpace(string(out))
	var check map[string]any
	if err := json.Unmarshal([]byte(line), &check); err != nil {
		return nil, fmt.Errorf("loadgen printed no JSON: %q", line)
	}
	return json.RawMessage(line), nil
}

// freePort asks the kernel for a port that is free right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it (a server's stderr).
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// oneLine is the tail as one line, for a table cell.
func (t *tailBuffer) oneLine() string {
	s := strings.Join(strings.Fields(string(t.b)), " ")
	if len(s) > 300 {
		s = "..." + s[len(s)-300:]
	}
	if s == "" {
		s = "(no output)"
	}
	return s
}

// zmqModes maps a scenario to zmq_bench's mode and message size.
var zmqModes = map[string]struct {
	mode string
	size int
}{"stream-64": {"pushpull", 64}, "pingpong-64": {"reqrep", 64}}

// runZMQ runs zmq_bench once for a ZeroMQ peer: PUSH/PULL throughput for
// the stream scenario, REQ/REP latency for ping-pong. zmq_bench pins both
// sides as the loadgen and the servers are pinned, gives their threads the
// same scheduler slice, and reports the loadgen's field names.
func runZMQ(c config, s Server, sc Scenario) (json.RawMessage, error) {
	m, ok := zmqModes[sc.Name]
	if !ok {
		return nil, fmt.Errorf("no ZeroMQ counterpart of %s", sc.Name)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dur := "1000"
	switch {
	case c.smoke:
		dur = "100"
	case c.quick:
		dur = "300"
	}
	pin, slice := "0", "0"
	if c.pin {
		pin = "1"
	}
	if c.nice != 0 {
		slice = strconv.Itoa(sliceNanos)
	}
	argv := append([]string{s.Argv[0], m.mode, strconv.Itoa(port), strconv.Itoa(m.size), dur, pin, slice}, s.ZMQReceiver...)
	argv = c.prioritized(argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr tailBuffer
	stderr.max = 1024
	cmd.Stderr = &stderr
	timer := time.AfterFunc(c.loadgenTimeout, func() { _ = cmd.Process.Kill() })
	out, err := cmd.Output()
	timer.Stop()
	line := strings.TrimSpace(string(out))
	var check map[string]any
	if err == nil {
		err = json.Unmarshal([]byte(line), &check)
	}
	if err != nil {
		return nil, fmt.Errorf("zmq_bench %s: %v: %s", m.mode, err, stderr.oneLine())
	}
	return json.RawMessage(line), nil
}

// profileNetsysGo runs stream 64 B once more against netsysgo with its CPU
// profile on, and saves `go tool pprof -top` of it: the evidence for what
// limits the pure-Go server.
func profileNetsysGo(c config, sc Scenario) error {
	prof := filepath.Join(c.out, "netsysgo-stream64.pprof")
	s := Server{Name: "netsysgo", Argv: []string{filepath.Join(c.bin, "netsysgo")}}
	if _, err := os.Stat(s.Argv[0]); err != nil {
		return err
	}
	srv, err := startServer(c, s, []string{"CPUPROFILE=" + prof})
	if err != nil {
		return err
	}
	_, lerr := runLoadgen(c, srv, Scenario{Name: sc.Name, Args: append(append([]string(nil), sc.Args...), "-dur=3s")})
	srv.stop()
	if lerr != nil {
		return lerr
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", s.Argv[0], prof).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %v: %s", err, top)
	}
	return os.WriteFile(filepath.Join(c.out, "netsysgo-stream64-pprof.txt"), top, 0o644)
}

// perfProfile samples a server with `perf record` during stream 64 B and
// saves the hottest symbols to NAME-stream64-perf.txt: the evidence for
// what the C and C++ layers cost per message. Without perf it says so.
func perfProfile(c config, s Server, sc Scenario) error {
	out := filepath.Join(c.out, s.Name+"-stream64-perf.txt")
	if _, err := exec.LookPath("perf"); err != nil {
		return os.WriteFile(out, []byte("not profiled: perf is not installed\n"), 0o644)
	}
	srv, err := startServer(c, s, nil)
	if err != nil {
		return err
	}
	data := filepath.Join(c.out, s.Name+"-stream64.perf.data")
	rec := exec.Command("perf", "record", "-F", "1999", "-g", "-o", data, "-p", strconv.Itoa(srv.cmd.Process.Pid), "--", "sleep", "2.5")
	var recErr tailBuffer
	recErr.max = 1024
	rec.Stderr = &recErr
	if err := rec.Start(); err != nil {
		srv.stop()
		return err
	}
	time.Sleep(200 * time.Millisecond) // perf attaches
	_, lerr := runLoadgen(c, srv, Scenario{Name: sc.Name, Args: append(append([]string(nil), sc.Args...), "-dur=2s")})
	werr := rec.Wait()
	srv.stop()
	if lerr != nil {
		return lerr
	}
	if werr != nil {
		return fmt.Errorf("perf record: %v: %s", werr, recErr.oneLine())
	}
	rep, err := exec.Command("perf", "report", "-i", data, "--no-children", "--sort", "symbol", "-g", "none", "--stdio").Output()
	if err != nil {
		return fmt.Errorf("perf report: %v", err)
	}
	var top []string
	for _, line := range strings.Split(string(rep), "\n") {
		if strings.HasPrefix(line, "#") || !strings.Contains(line, "%") {
			continue
		}
		top = append(top, strings.TrimSuffix(strings.Join(strings.Fields(line), " "), " - -"))
		if len(top) == 30 {
			break
		}
	}
	_ = os.Remove(data)
	head := fmt.Sprintf("perf record -g of %s under %s (2 s), self time by symbol:\n", s.Label, sc.Name)
	return os.WriteFile(out, []byte(head+strings.Join(top, "\n")+"\n"), 0o644)
}

// checkSmoke fails unless every scenario produced a positive figure for
// every server of the smoke run and every JSON line parses back. An
// optional peer that was not built for want of what `make deps` installs
// is reported, not failed: the smoke test checks the harness, and the
// harness did say why.
func checkSmoke(c config, scs []Scenario, srvs []Server, recs []Record) error {
	f, err := os.Open(filepath.Join(c.out, "results.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	lines := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("results.jsonl line %d does not parse: %v", lines+1, err)
		}
		lines++
	}
	if lines != len(recs)+2 { // + the run's description, first and last
		return fmt.Errorf("results.jsonl has %d lines, want %d", lines, len(recs)+2)
	}
	problems, skipped := smokeProblems(scs, srvs, recs)
	for _, s := range skipped {
		fmt.Fprintf(os.Stderr, "runner: smoke: %s\n", s)
	}
	if len(problems) > 0 {
		return errors.New("smoke test failed:\n  " + strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(os.Stderr, "runner: smoke test passed: %d results from %d servers, all positive\n", len(recs), len(srvs)-len(skipped))
	return nil
}

// smokeProblems lists what fails the smoke test, and the optional peers
// skipped (with their reason).
func smokeProblems(scs []Scenario, srvs []Server, recs []Record) (problems, skipped []string) {
	for _, s := range srvs {
		if s.Optional && s.NotMeasured != "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", s.Label, s.NotMeasured))
			continue
		}
		for _, scn := range scs {
			if s.Scenarios != nil && !contains(s.Scenarios, scn.Name) {
				continue
			}
			found := false
			for _, r := range recs {
				if r.Server != s.Name || r.Scenario != scn.Name {
					continue
				}
				found = true
				if r.NotMeasured != "" {
					problems = append(problems, fmt.Sprintf("%s %s: not measured: %s", s.Name, scn.Name, r.NotMeasured))
					continue
				}
				v, err := primary(scn.Name, r.Result)
				if err != nil || !(v > 0) {
					problems = append(problems, fmt.Sprintf("%s %s: primary figure %v (%v) is not positive", s.Name, scn.Name, v, err))
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("%s %s: no result", s.Name, scn.Name))
			}
		}
	}
	return problems, skipped
}
