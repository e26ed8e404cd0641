package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// RunInfo describes one run of the harness: what was measured (the commit,
// whether the tree had changes), how (the exact command, the mode), where
// (machine, toolchain) and when. It is the first line of results.jsonl, the
// "run" object of summary.json, the header of results.md and the chart's
// title, so that a table pasted into docs/benchmarks.md says what it is.
type RunInfo struct {
	// Commit is `git rev-parse --short HEAD`, with "-dirty" appended when
	// the work tree had changes (tracked or untracked files not ignored:
	// either can change what is built and measured).
	Commit        string `json:"commit"`
	Dirty         bool   `json:"dirty"`
	CommitSubject string `json:"commit_subject,omitempty"`
	// FullCommit is the complete hash, to compare trees later (bench-doc).
	FullCommit string `json:"full_commit,omitempty"`
	Command    string `json:"command"`
	// Mode is "full", "quick" (BENCH_QUICK=1) or "smoke".
	Mode       string  `json:"mode"`
	Reps       int     `json:"reps"`
	Started    string  `json:"started_utc"`
	Machine    string  `json:"machine"`
	Toolchain  string  `json:"toolchain"`
	Pinning    string  `json:"pinning"`
	LoadBefore string  `json:"load_before"`
	LoadAfter  string  `json:"load_after"`
	Seconds    float64 `json:"seconds"`
}

// repoRoot is the repository holding the tests/bench directory src.
func repoRoot(src string) string {
	return filepath.Dir(filepath.Dir(src))
}

// gitOut runs git in dir and returns its trimmed output.
func gitOut(dir string, args ...string) (string, error) {
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// commitOf describes the checkout at dir: short hash with "-dirty" when
// the tree has changes, the full hash and the subject line. Outside a git
// checkout (a source tarball) the commit is "unknown (not a git checkout)".
func commitOf(dir string) (short, full, subject string, dirty bool) {
	full, err := gitOut(dir, "rev-parse", "HEAD")
	if err != nil {
		return "unknown (not a git checkout)", "", "", false
	}
	short, _ = gitOut(dir, "rev-parse", "--short", "HEAD")
	subject, _ = gitOut(dir, "log", "-1", "--format=%s")
	status, err := gitOut(dir, "status", "--porcelain")
	dirty = err != nil || status != ""
	if dirty {
		short += "-dirty"
	}
	return short, full, subject, dirty
}

// newRunInfo fills what is known before the run starts.
func newRunInfo(c config) RunInfo {
	short, full, subject, dirty := commitOf(repoRoot(c.src))
	mode := "full"
	switch {
	case c.smoke:
		mode = "smoke"
	case c.quick:
		mode = "quick"
	}
	pin := "not pinned (fewer than 2 CPUs or no taskset)"
	if c.pin {
		pin = "server pinned to CPU 0, load generator to CPU 1 (taskset)"
	}
	if c.nice != 0 {
		pin += fmt.Sprintf("; both at nice %d with a %d µs scheduler slice", c.nice, sliceNanos/1000)
	}
	return RunInfo{
		Commit: short, FullCommit: full, CommitSubject: subject, Dirty: dirty,
		Command: command(c), Mode: mode, Reps: c.reps,
		Started: time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Machine: machine(), Toolchain: toolchain(c), Pinning: pin,
		LoadBefore: loadAvg(),
	}
}

// machine describes the host: CPU model, CPU count, memory, OS and kernel.
func machine() string {
	model := "unknown CPU"
	virt := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		if strings.Contains(string(b), " hypervisor") {
			virt = ", virtual machine"
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	osName := ""
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		if m := regexp.MustCompile(`(?m)^PRETTY_NAME="?([^"\n]*)"?$`).FindSubmatch(b); m != nil {
			osName = ", " + string(m[1])
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d CPUs%s%s%s, %s", model, runtime.NumCPU(), virt, mem, osName, kernel)
}

// toolchain names the compilers and peer libraries the figures depend on;
// a tool that is missing is left out.
func toolchain(c config) string {
	parts := []string{runtime.Version()}
	first := func(argv ...string) string {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return strings.TrimSpace(line)
	}
	if v := first("cc", "-dumpfullversion"); v != "" {
		parts = append(parts, "cc "+v)
	}
	if v := first(c.python, "-c", "import platform; print(platform.python_version())"); v != "" {
		parts = append(parts, "Python "+v+" "+pythonAccel(c))
	}
	if v := first("pkg-config", "--modversion", "libzmq"); v != "" {
		parts = append(parts, "libzmq "+v)
	}
	if v := first(c.python, "-c", "import zmq; print(zmq.__version__, zmq.zmq_version())"); v != "" {
		if py, lib, ok := strings.Cut(v, " "); ok {
			parts = append(parts, fmt.Sprintf("pyzmq %s (its libzmq %s)", py, lib))
		}
	}
	return strings.Join(parts, ", ")
}

// pythonAccel says whether the Python servers run with the package's C
// extension (they run about half as fast as pure Python), asked of the
// package itself in the servers' environment.
func pythonAccel(c config) string {
	cmd := exec.Command(c.python, "-c",
		"from netsys import _speedups as s; print('with' if s.module else 'without', s.REASON)")
	cmd.Env = append(os.Environ(), pythonEnv(c)...)
	out, err := cmd.Output()
	if err != nil {
		return "(netsys package not importable)"
	}
	with, reason, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if with == "with" {
		return "(netsys with its C extension)"
	}
	return "(netsys as pure Python: its C extension " + reason + ")"
}

// describe is the run's header for results.md: the lines docs/benchmarks.md
// shows above its tables.
func (r RunInfo) describe() string {
	var b strings.Builder
	commit := "`" + r.Commit + "`"
	if r.CommitSubject != "" {
		commit += fmt.Sprintf(" (%q)", r.CommitSubject)
	}
	if r.Dirty {
		commit += "; the work tree had uncommitted changes"
	}
	mode := map[string]string{
		"full":  "full run",
		"quick": "BENCH_QUICK=1: one short repetition, for checking the mechanics, not for the figures",
		"smoke": "smoke test: tiny runs that check the harness, not the figures",
	}[r.Mode]
	fmt.Fprintf(&b, "- Commit: %s\n", commit)
	fmt.Fprintf(&b, "- Command: `%s` from the repository root, %s (%s)\n", r.Command, r.Started, mode)
	fmt.Fprintf(&b, "- Machine: %s\n", r.Machine)
	fmt.Fprintf(&b, "- Toolchain: %s\n", r.Toolchain)
	fmt.Fprintf(&b, "- Pinning: %s\n", r.Pinning)
	fmt.Fprintf(&b, "- Load average before/after: %s / %s; run took %.0f s\n", r.LoadBefore, r.LoadAfter, r.Seconds)
	return b.String()
}

// title is the chart's title line: command and commit.
func (r RunInfo) title() string {
	return fmt.Sprintf("%s at %s, %s", r.Command, r.Commit, r.Started)
}
