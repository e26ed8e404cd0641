//go:build ignore

// gotest-summary runs `go test -json` and prints what a person needs: one
// line per package, the full output of every failing test, build errors,
// and the totals; it records the totals for the suite summary at the end of
// `make test` (mk/results.sh). The exit status is go test's.
//
//	go run mk/gotest-summary.go -suite test-go -results build/test-results [-dir DIR] -- -race ./...
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
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// counts are the results of one package or of the whole run.
type counts struct{ passed, failed, skipped int }

// run collects the events of one go test invocation.
type run struct {
	out      io.Writer
	perPkg   map[string]*counts
	total    counts
	outputs  map[string][]string // "pkg\x00test" -> its output lines, kept until it ends
	pkgLines map[string][]string // output lines outside any test, per package
	failedPk []string
}

func newRun(out io.Writer) *run {
	return &run{out: out, perPkg: map[string]*counts{}, outputs: map[string][]string{},
		pkgLines: map[string][]string{}}
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
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "output", "build-output":
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
			fmt.Fprintf(r.out, "--- FAIL: %s (%s)\n", e.Test, e.Package)
			for _, line := range r.outputs[key] {
				fmt.Fprint(r.out, "    "+line)
			}
		}
		delete(r.outputs, key)
	case "build-fail":
		r.failedPk = append(r.failedPk, e.Package)
	}
}

// packageDone prints the package's line; a package that failed without a
// failing test (build error, panic in init, TestMain) shows its output.
func (r *run) packageDone(e event) {
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
	fmt.Fprintf(r.out, "  %s %-52s %-28s %6.1fs\n", status, e.Package, detail, e.Elapsed)
	if e.Action == "fail" && c.failed == 0 {
		r.failedPk = append(r.failedPk, e.Package)
		r.total.failed++ // a package that fails on its own counts as one failure
		for _, line := range r.pkgLines[e.Package] {
			fmt.Fprint(r.out, "    "+line)
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
	scanner := bufio.NewScanner(stdout)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Printf("%s\n", line) // not an event: a build error from go itself
			continue
		}
		r.handle(e)
	}
	waitErr := cmd.Wait()
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
