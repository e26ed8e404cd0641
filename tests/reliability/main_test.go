// Package reliability is netsys's reliability suite: hostile peers against
// a live server while well-behaved clients exchange numbered messages,
// faults (killed, frozen and restarted processes, packet loss), load and
// soak. docs/reliability.md says what it tries and what held.
//
// The tests run only when NETSYS_RELIABILITY names a profile:
//
//	NETSYS_RELIABILITY=fast go test ./tests/reliability/   (make test-reliability)
//	NETSYS_RELIABILITY=soak go test ./tests/reliability/   (make soak)
//
// A plain `go test ./...` skips them: they start processes, hold
// thousands of sockets and take minutes.
package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// profile scales the suite: fast fits `make test`, soak is the long run.
type profile struct {
	name string
	// hold is how long holding attacks (slowloris, trickle, ...) last.
	hold time.Duration
	// slowlorisConns and slowlorisHold: the 2,000-connection slowloris.
	slowlorisConns int
	slowlorisHold  time.Duration
	pingFloodBytes int64
	loadConns      int
	killRounds     int
	restarts       int
	lossHold       time.Duration
	soak           time.Duration
	// heartbeatDefaults runs the frozen-peer tests with default timeouts
	// too (30 s each).
	heartbeatDefaults bool
}

var profiles = map[string]profile{
	"fast": {name: "fast", hold: 3 * time.Second, slowlorisConns: 2000, slowlorisHold: 6 * time.Second,
		pingFloodBytes: 64 << 20, loadConns: 2000, killRounds: 3, restarts: 2, lossHold: 5 * time.Second},
	"soak": {name: "soak", hold: 10 * time.Second, slowlorisConns: 2000, slowlorisHold: 30 * time.Second,
		pingFloodBytes: 512 << 20, loadConns: 10000, killRounds: 20, restarts: 12, lossHold: 30 * time.Second,
		soak: 180 * time.Second, heartbeatDefaults: true},
}

var (
	prof    profile
	binDir  string
	enabled bool
)

func TestMain(m *testing.M) {
	name := os.Getenv("NETSYS_RELIABILITY")
	if name == "" {
		os.Exit(m.Run()) // every test skips
	}
	p, ok := profiles[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "NETSYS_RELIABILITY=%q: want fast or soak\n", name)
		os.Exit(2)
	}
	if s := os.Getenv("SOAK_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "SOAK_SECONDS=%q is not a positive number\n", s)
			os.Exit(2)
		}
		p.soak = time.Duration(n) * time.Second
	}
	prof, enabled = p, true
	dir, cleanup, err := binaries()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	code := m.Run()
	if err := writeResults(); err != nil {
		fmt.Fprintln(os.Stderr, "write results:", err)
		code = 1
	}
	cleanup()
	os.Exit(code)
}

// need skips the test unless a profile is selected.
func need(t *testing.T) {
	t.Helper()
	if !enabled {
		t.Skip("reliability suite: set NETSYS_RELIABILITY=fast or soak (make test-reliability, make soak)")
	}
}

// binaries returns the directory of the suite's programs: the one make
// built (NETSYS_RELIABILITY_BIN) or a fresh build.
func binaries() (string, func(), error) {
	if dir := os.Getenv("NETSYS_RELIABILITY_BIN"); dir != "" {
		return dir, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "netsys-reliability-bin")
	if err != nil {
		return "", nil, err
	}
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "build", "-o", dir+"/", "./cmd/...")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build the suite's programs: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

func bin(name string) string { return filepath.Join(binDir, name) }
