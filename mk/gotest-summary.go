//go:build ignore

// gotest-summary runs `go test -json` and prints what a person needs: one
// line per package, the full output of every failing test, build errors,
// and the totals; it records the totals for the suite summary at the end of
// `make test` (mk/results.sh). The exit status is go test's.
//
//	gotest-summary -suite test-go -results build/test-results [-dir DIR] -- -race ./...
//
// The Makefile builds it into build/tools/ first (go run would add its own
// "exit status" line to every failure).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build events name the package being built here
	Test       string
	Output     string
	Elapsed    float64
}

// counts are the results of one package or of the whole run.
type counts struct{ passed, failed, skipped int }

// run collects the events of one go test invocation.
type run struct {
	mu       sync.Mutex // handle and the progress ticker
	out      io.Writer
	printed  time.Time            // when the last line went out
	running  map[string]time.Time // packages started and not finished
	perPkg   map[string]*counts
	total    counts
	outputs  map[string][]string // "pkg\x00test" -> its output lines, kept until it ends
	pkgLines map[string][]string // output lines outside any test, per package
	failedPk []string
}

func newRun(out io.Writer) *run {
	return &run{out: out, perPkg: map[string]*counts{}, outputs: map[string][]string{},
		pkgLines: map[string][]string{}, printed: time.Now(), running: map[string]time.Time{}}
}

// printf writes a line and remembers when (see progress).
func (r *run) printf(format string, args ...any) {
	fmt.Fprintf(r.out, format, args...)
	r.printed = time.Now()
}

// progress names the packages still running after 15 s without a line:
// the race-enabled tests of a package can take a minute on a loaded machine.
func (r *run) progress(done <-chan struct{}) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		if time.Since(r.printed) >= 15*time.Second && len(r.running) > 0 {
			names := make([]string, 0, len(r.running))
			for name, started := range r.running {
				names = append(names, fmt.Sprintf("%s (%.0fs)", name, time.Since(started).Seconds()))
			}
			sort.Strings(names)
			r.printf("  ...  still running: %s\n", strings.Join(names, ", "))
		}
		r.mu.Unlock()
	}
}

func (r *run) pkg(name string) *counts {
	c := r.perPkg[name]
	if c == nil {
		c = &counts{}
		r.perPkg[name] = c
	}
	return c
}

// handle consumes one event: test results are counted, a failing test's
// output is printed when it fails, a package prints one line when it ends.
func (r *run) handle(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "start":
		r.running[e.Package] = time.Now()
	case "build-output": // a compile error: show it as it comes
		r.printf("    %s", e.Output)
	case "output":
		if e.Test != "" {
			r.outputs[key] = append(r.outputs[key], e.Output)
		} else {
			r.pkgLines[e.Package] = append(r.pkgLines[e.Package], e.Output)
		}
	case "pass", "fail", "skip":
		if e.Test == "" {
			r.packageDone(e)
			return
		}
		c := r.pkg(e.Package)
		switch e.Action {
		case "pass":
			c.passed++
			r.total.passed++
		case "skip":
			c.skipped++
			r.total.skipped++
		case "fail":
			c.failed++
			r.total.failed++
			r.printf("--- FAIL: %s (%s)\n", e.Test, e.Package)
			for _, line := range r.outputs[key] {
				r.printf("    %s", line)
			}
		}
		delete(r.outputs, key)
	case "build-fail":
		r.failedPk = append(r.failedPk, strings.Fields(e.ImportPath + " ")[0])
	}
}

// packageDone prints the package's line; a package that failed without a
// failing test (build error, panic in init, TestMain) shows its output.
func (r *run) packageDone(e event) {
	delete(r.running, e.Package)
	c := r.pkg(e.Package)
	status := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "ok  "}[e.Action]
	detail := fmt.Sprintf("%d passed", c.passed)
	if c.failed > 0 {
		detail += fmt.Sprintf(", %d failed", c.failed)
	}
	if c.skipped > 0 {
		detail += fmt.Sprintf(", %d skipped", c.skipped)
	}
	if c.passed+c.failed+c.skipped == 0 {
		detail = "no tests"
	}
	r.printf("  %s %-52s %-28s %6.1fs\n", status, e.Package, detail, e.Elapsed)
	if e.Action == "fail" && c.failed == 0 {
		if !slices.Contains(r.failedPk, e.Package) {
			r.failedPk = append(r.failedPk, e.Package)
		}
		r.total.failed++ // a package that fails on its own counts as one failure
		for _, line := range r.pkgLines[e.Package] {
			r.printf("    %s", line)
		}
	}
	delete(r.pkgLines, e.Package)
}

func main() {
	suite := flag.String("suite", "go", "suite name for the results file")
	results := flag.String("results", "", "directory of the suite results (mk/results.sh); empty: none")
	dir := flag.String("dir", "", "directory to run go test in")
	goCmd := flag.String("go", "go", "the go command")
	appendTo := flag.Bool("append", false, "add to the suite's recorded counts instead of replacing them")
	flag.Parse()

	args := append([]string{"test", "-json"}, flag.Args()...)
	cmd := exec.Command(*goCmd, args...)
	cmd.Dir = *dir
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	r := newRun(os.Stdout)
	stopProgress := make(chan struct{})
	go r.progress(stopProgress)
	scanner := bufio.NewScanner(stdout)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			r.mu.Lock()
			r.printf("%s\n", line) // not an event: a build error from go itself
			r.mu.Unlock()
			continue
		}
		r.handle(e)
	}
	waitErr := cmd.Wait()
	close(stopProgress)
	code := 0
	if waitErr != nil {
		code = 1
		if exit, ok := waitErr.(*exec.ExitError); ok {
			code = exit.ExitCode()
		}
		if r.total.failed == 0 {
			r.total.failed = 1 // go test failed without a failing test: count it
		}
	}
	note := ""
	if len(r.failedPk) > 0 {
		sort.Strings(r.failedPk)
		note = "failed packages: " + strings.Join(r.failedPk, " ")
	}
	fmt.Printf("%s: %d passed, %d failed, %d skipped in %.0fs\n", *suite, r.total.passed, r.total.failed,
		r.total.skipped, time.Since(started).Seconds())
	if *results != "" {
		record(*results, *suite, r.total, note, *appendTo)
	}
	os.Exit(code)
}

// record writes the suite's line in the format of mk/results.sh (see there):
// "PASSED FAILED SKIPPED NOTE".
func record(dir, suite string, c counts, note string, add bool) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fatal(err)
	}
	path := filepath.Join(dir, suite+".txt")
	if old, err := os.ReadFile(path); add && err == nil {
		var p, f, s int
		var rest string
		if n, _ := fmt.Sscanf(string(old), "%d %d %d", &p, &f, &s); n == 3 {
			c.passed, c.failed, c.skipped = c.passed+p, c.failed+f, c.skipped+s
		}
		if fields := strings.SplitN(strings.TrimSpace(string(old)), " ", 4); len(fields) == 4 {
			rest = fields[3]
		}
		note = strings.TrimSpace(rest + " " + note)
	}
	line := fmt.Sprintf("%d %d %d %s\n", c.passed, c.failed, c.skipped, note)
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gotest-summary:", err)
	os.Exit(2)
}
