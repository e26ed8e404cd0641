package reliability

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Verdicts. A check that could not run says so; it never passes instead.
const (
	pass   = "PASS"
	fail   = "FAIL"
	notRun = "NOT RUN"
	// partial: what ran passed, but parts could not run (an option this
	// build lacks); never reported as a plain pass.
	partial = "PARTIAL"
	info    = "INFO" // a figure reported without a bound (e.g. loss without acknowledgements)
)

// row is one line of the results table.
type row struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	Bound   string `json:"bound"`
	Figures string `json:"figures"`
	Verdict string `json:"verdict"`
	Why     string `json:"why,omitempty"`
}

var (
	rowsMu sync.Mutex
	rows   []row
)

// verdict accumulates the failures of one check.
type verdict struct {
	failures []string
	notRun   []string
	notes    []string
}

func (v *verdict) check(ok bool, format string, args ...any) {
	if !ok {
		v.failures = append(v.failures, fmt.Sprintf(format, args...))
	}
}

func (v *verdict) skip(format string, args ...any) {
	v.notRun = append(v.notRun, fmt.Sprintf(format, args...))
}

func (v *verdict) note(format string, args ...any) {
	v.notes = append(v.notes, fmt.Sprintf(format, args...))
}

// record adds the row to the results and fails the test on FAIL. A
// partial NOT RUN (some parts could not run) is reported alongside.
func record(t *testing.T, section, name, bound, figures string, v *verdict) {
	t.Helper()
	r := row{Section: section, Name: name, Bound: bound, Figures: figures, Verdict: pass}
	var why []string
	switch {
	case len(v.failures) > 0:
		r.Verdict = fail
		why = append(why, v.failures...)
	case len(v.notRun) > 0 && figures == "":
		r.Verdict = notRun
	case len(v.notRun) > 0:
		r.Verdict = partial
	}
	for _, s := range v.notRun {
		why = append(why, "not run: "+s)
	}
	why = append(why, v.notes...)
	r.Why = strings.Join(why, "; ")
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
	t.Logf("%s | %s | bound: %s | %s | %s %s", section, name, bound, figures, r.Verdict, r.Why)
	if r.Verdict == fail {
		t.Errorf("%s: %s", name, r.Why)
	}
}

// recordInfo adds a row that reports figures without a pass/fail bound.
func recordInfo(t *testing.T, section, name, figures, why string) {
	t.Helper()
	rowsMu.Lock()
	rows = append(rows, row{Section: section, Name: name, Bound: "-", Figures: figures, Verdict: info, Why: why})
	rowsMu.Unlock()
	t.Logf("%s | %s | %s | INFO %s", section, name, figures, why)
}

// writeResults writes the table as Markdown and JSON lines into
// NETSYS_RELIABILITY_OUT (default: the system temp dir).
func writeResults() error {
	dir := os.Getenv("NETSYS_RELIABILITY_OUT")
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rowsMu.Lock()
	defer rowsMu.Unlock()
	order := map[string]int{"hostile peers": 0, "faults": 1, "load": 2, "soak": 3}
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].Section] < order[rows[j].Section] })
	var md, js strings.Builder
	fmt.Fprintf(&md, "# reliability results (%s profile)\n\ncommit %s, %s, %s\n\n", prof.name, commit(),
		time.Now().UTC().Format(time.RFC3339), machine())
	section := ""
	for _, r := range rows {
		if r.Section != section {
			section = r.Section
			fmt.Fprintf(&md, "\n## %s\n\n| check | bound | measured | verdict | notes |\n|---|---|---|---|---|\n", section)
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s |\n", cell(r.Name), cell(r.Bound), cell(r.Figures), r.Verdict, cell(r.Why))
		b, _ := json.Marshal(r)
		js.Write(append(b, '\n'))
	}
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.Verdict]++
	}
	fmt.Fprintf(&md, "\n%d checks: %d PASS, %d FAIL, %d PARTIAL (passed what could run), %d NOT RUN, %d INFO\n",
		len(rows), counts[pass], counts[fail], counts[partial], counts[notRun], counts[info])
	base := filepath.Join(dir, "results-"+prof.name)
	if err := os.WriteFile(base+".md", []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "reliability results: %s.md\n", base)
	return os.WriteFile(base+".jsonl", []byte(js.String()), 0o644)
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--", "../../core", "../../capi", ".").Output(); err == nil && len(st) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

func machine() string {
	out, _ := exec.Command("nproc").Output()
	return "Linux, " + strings.TrimSpace(string(out)) + " CPUs"
}

// mib formats bytes as MiB with one decimal.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// msec formats a duration in milliseconds.
func msec(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
