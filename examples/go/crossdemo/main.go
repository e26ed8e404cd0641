// Command crossdemo is the cross-language part of `make demo`. It starts the
// Go example echo server and runs every language's example echo client
// against it, then starts every language's echo server and runs the Go
// client against each, and prints a table of what happened and how fast.
//
//	crossdemo --root . [--bin build/bin] [--lib build/lib/libnetsys.so] [--count 1000] [--size 64] [--results FILE]
//
// The programs follow the shared command-line contract of examples/README.md.
// A language is skipped only while its mk/ fragment does not exist; once the
// fragment is there, a missing program is reported as "not built" and fails
// the demo, so a half-landed language is loud. The exit status is 0 when
// every run that was not skipped passed, 1 otherwise. --results writes the
// counts of runs ("PASSED FAILED SKIPPED", the format of mk/results.sh).
//
// Every child runs in its own process group, bounded by a timeout, and is
// killed with its group if the demo is interrupted or gives up on it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// demoLimit bounds the whole demo, whatever the children do.
const demoLimit = 5 * time.Minute

func main() {
	root := flag.String("root", ".", "repository root (examples/, mk/ and bindings/ live here)")
	bin := flag.String("bin", "", "directory of the built example programs (default ROOT/build/bin)")
	lib := flag.String("lib", "", "libnetsys.so for the Python programs (default ROOT/build/lib/libnetsys.so)")
	count := flag.Int("count", 1000, "messages each client sends")
	size := flag.Int("size", 64, "message size in bytes")
	results := flag.String("results", "", "write the counts of runs to this file")
	flag.Parse()
	if *count < 1 || *size < 1 {
		fmt.Fprintln(os.Stderr, "crossdemo: --count and --size must be at least 1")
		os.Exit(2)
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crossdemo:", err)
		os.Exit(2)
	}
	if *bin == "" {
		*bin = filepath.Join(absRoot, "build", "bin")
	}
	if *lib == "" {
		*lib = filepath.Join(absRoot, "build", "lib", "libnetsys.so")
	}

	// Interrupted or stuck: kill every child's process group on the way out.
	// The runs in progress then fail at once and main reports the interrupt;
	// a second signal, or main not finishing soon, exits right away.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-signals
		children.killAll()
		select {
		case <-signals:
		case <-time.After(eofLimit):
		}
		fmt.Fprintf(os.Stderr, "\ncrossdemo: interrupted by %v, children killed\n", sig)
		os.Exit(130)
	}()
	watchdog := time.AfterFunc(demoLimit, func() {
		children.killAll()
		fmt.Fprintf(os.Stderr, "\ncrossdemo: FAIL: still running after %v, children killed\n", demoLimit)
		os.Exit(2)
	})
	defer watchdog.Stop()

	d := &demo{
		root: absRoot, count: *count, size: *size,
		langs: languages(absRoot, mustAbs(*bin), mustAbs(*lib)),
	}
	ok := d.run(os.Stdout)
	if children.isClosed() {
		fmt.Fprintln(os.Stderr, "crossdemo: interrupted, children killed")
		os.Exit(130)
	}
	children.killAll() // nothing should be left; make sure of it
	if *results != "" {
		writeResults(*results, d)
	}
	if !ok {
		os.Exit(1)
	}
}

// writeResults records the verdicts in the format of mk/results.sh.
func writeResults(path string, d *demo) {
	line := fmt.Sprintf("%d %d %d\n", d.passed, d.failed, d.skipped)
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, []byte(line), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crossdemo:", err)
	}
}

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}
