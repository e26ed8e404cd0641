package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func rec(server, scenario string, rep int, fields string) Record {
	return Record{Server: server, Label: server, Scenario: scenario, Rep: rep, Result: json.RawMessage(fields)}
}

func TestSummarizeRatiosToRawC(t *testing.T) {
	recs := []Record{
		rec("rawc", "stream-64", 1, `{"msg_per_s":100,"server_cpu":1}`),
		rec("rawc", "stream-64", 2, `{"msg_per_s":300,"server_cpu":1}`),
		rec("rawc", "stream-64", 3, `{"msg_per_s":200,"server_cpu":1}`),
		rec("netsysgo", "stream-64", 1, `{"msg_per_s":150,"server_cpu":1}`),
		rec("rawc", "pingpong-64", 1, `{"p50_us":10,"p99_us":20}`),
		rec("netsysgo", "pingpong-64", 1, `{"p50_us":12,"p99_us":30}`),
		{Server: "netsysc", Scenario: "stream-64", NotMeasured: "no library"},
	}
	cells := summarize(recs)
	if len(cells) != 5 {
		t.Fatalf("got %d cells, want 5", len(cells))
	}
	raw, ng, pp, nc := cells[0], cells[1], cells[3], cells[4]
	if raw.Median != 200 || raw.Min != 100 || raw.Max != 300 || raw.Runs != 3 {
		t.Errorf("rawc cell = %+v", raw)
	}
	if ng.Ratio != 0.75 {
		t.Errorf("netsysgo ratio = %v, want 0.75", ng.Ratio)
	}
	// server CPU per message: 1 CPU / 150 msg/s vs 1 CPU / 200 msg/s.
	if math.Abs(ng.NsMsgRatio-200.0/150.0) > 1e-9 {
		t.Errorf("CPU per message ratio = %v, want %v", ng.NsMsgRatio, 200.0/150.0)
	}
	if !pp.Lower || pp.Ratio != 1.2 || pp.P99Ratio != 1.5 {
		t.Errorf("pingpong cell = %+v", pp)
	}
	if nc.NotMeasured != "no library" || nc.Ratio != 0 {
		t.Errorf("not-measured cell = %+v", nc)
	}
}

func TestPrimaryRejectsGarbage(t *testing.T) {
	if _, err := primary("stream-64", json.RawMessage(`not json`)); err == nil {
		t.Error("primary accepted a non-JSON result")
	}
	v, err := primary("idle-200", json.RawMessage(`{"conn_per_s":5,"rss_per_conn_bytes":0}`))
	if err != nil || v != 5 {
		t.Errorf("idle primary = %v, %v; want the connection rate 5", v, err)
	}
}

func TestGoalsUseTheRunsRatios(t *testing.T) {
	cells := summarize([]Record{
		rec("rawc", "stream-64", 1, `{"msg_per_s":100,"server_cpu":0.5}`),
		rec("netsysgo", "stream-64", 1, `{"msg_per_s":90,"server_cpu":1}`),
		rec("netsysgo", "idle-10000", 1, `{"rss_per_conn_bytes":2048,"server_rss_before_kb":5000}`),
	})
	var b strings.Builder
	writeGoals(&b, cells)
	out := b.String()
	for _, want := range []string{
		"| netsys Go stream-64 msg/s ≥ 0.8x raw C | 0.90x | yes |",
		// 1/90 s vs 0.5/100 s of CPU per message: 2.22x.
		"| netsys Go stream-64 server CPU per message ≤ 2x raw C | 2.22x | no |",
		"| netsys Go ≤ 600 B server memory per idle connection | 2048 B | no |",
		"| netsys C ABI stream-64 msg/s ≥ 0.6x raw C | not measured | - |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("goal table lacks %q:\n%s", want, out)
		}
	}
}

func TestPythonGoalComparesWithPyzmqInTheSameRun(t *testing.T) {
	cells := summarize([]Record{
		rec("rawc", "stream-64", 1, `{"msg_per_s":1000,"server_cpu":1}`),
		rec("netsyspy", "stream-64", 1, `{"msg_per_s":300,"server_cpu":1}`),
		{Server: "pyzmq", Label: "pyzmq, Python handler", Scenario: "stream-64", Rep: 1, Result: json.RawMessage(`{"msg_per_s":200,"server_cpu":1}`)},
	})
	var b strings.Builder
	writeGoals(&b, cells)
	want := "| netsys Python stream-64 into an on_message handler ≥ 2x pyzmq into a Python handler | 1.50x pyzmq, Python handler (300 vs 200 msg/s) | no |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("goal table lacks %q:\n%s", want, b.String())
	}
	// Without the pyzmq figure there is nothing to compare with.
	b.Reset()
	writeGoals(&b, cells[:2])
	if !strings.Contains(b.String(), "| netsys Python stream-64 into an on_message handler ≥ 2x pyzmq into a Python handler | not measured | - |") {
		t.Errorf("goal without pyzmq:\n%s", b.String())
	}
}

func TestSmokeToleratesOnlyMissingOptionalPeers(t *testing.T) {
	scs := []Scenario{{Name: "stream-64"}, {Name: "pingpong-64"}}
	srvs := []Server{
		{Name: "rawc", Label: "raw C"},
		{Name: "pyzmq", Label: "pyzmq", Optional: true, Scenarios: []string{"stream-64"}, NotMeasured: "pyzmq not installed (make deps)"},
		{Name: "spin", Label: "spin", Scenarios: []string{"pingpong-64"}},
	}
	ok := []Record{
		rec("rawc", "stream-64", 1, `{"msg_per_s":1}`),
		rec("rawc", "pingpong-64", 1, `{"p50_us":1}`),
		{Server: "pyzmq", Scenario: "stream-64", NotMeasured: "pyzmq not installed (make deps)"},
		rec("spin", "pingpong-64", 1, `{"p50_us":1}`),
	}
	problems, skipped := smokeProblems(scs, srvs, ok)
	if len(problems) != 0 || len(skipped) != 1 || !strings.Contains(skipped[0], "pyzmq not installed") {
		t.Errorf("problems %q, skipped %q; want none and the pyzmq reason", problems, skipped)
	}
	// A required server that was not measured fails, as does a missing
	// result and a zero figure.
	srvs[0].NotMeasured = "libnetsys.so was not built"
	bad := []Record{
		{Server: "rawc", Scenario: "stream-64", NotMeasured: "libnetsys.so was not built"},
		rec("spin", "pingpong-64", 1, `{"p50_us":0}`),
	}
	problems, _ = smokeProblems(scs, srvs, bad)
	if len(problems) != 3 {
		t.Errorf("problems = %q, want 3 (rawc not measured, rawc no pingpong result, spin zero)", problems)
	}
	// An optional peer that was built and then failed is a harness bug.
	srvs[1].NotMeasured = ""
	problems, _ = smokeProblems(scs, srvs[1:2], []Record{{Server: "pyzmq", Scenario: "stream-64", NotMeasured: "zmq_bench: exit status 1"}})
	if len(problems) != 1 {
		t.Errorf("problems = %q, want the failed optional run", problems)
	}
}

func TestResultsNameCommitAndCommand(t *testing.T) {
	info := RunInfo{Commit: "abc1234-dirty", Dirty: true, CommitSubject: "core: faster", Command: "make bench-peers BENCH_QUICK=1",
		Mode: "quick", Reps: 1, Started: "2026-12-01 20:00 UTC", Machine: "m", Toolchain: "go", Pinning: "p"}
	md := resultsMarkdown(info, summarize([]Record{rec("rawc", "stream-64", 1, `{"msg_per_s":1}`)}), "![chart](benchmarks.png)")
	for _, want := range []string{
		"- Commit: `abc1234-dirty` (\"core: faster\"); the work tree had uncommitted changes\n",
		"- Command: `make bench-peers BENCH_QUICK=1` from the repository root, 2026-12-01 20:00 UTC (BENCH_QUICK=1",
		"![chart](benchmarks.png)\n",
		"Medians of 1 run(s)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
}

func TestResultsRoundTripKeepsTheRunDescription(t *testing.T) {
	dir := t.TempDir()
	c := config{out: dir, smoke: true}
	info := RunInfo{Commit: "abc1234", Command: "make bench-peers", Mode: "full", Reps: 3}
	path := filepath.Join(dir, "results.jsonl")
	lines := `{"run":{"commit":"abc1234","command":"make bench-peers","mode":"full","reps":3}}` + "\n" +
		`{"server":"rawc","label":"raw C","scenario":"stream-64","rep":1,"result":{"msg_per_s":5}}` + "\n" +
		`{"run":{"commit":"abc1234","command":"make bench-peers","mode":"full","reps":3,"seconds":200}}` + "\n"
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got, recs, err := readResults(path)
	if err != nil || got.Commit != info.Commit || got.Reps != 3 || got.Seconds != 200 || len(recs) != 1 || recs[0].Server != "rawc" {
		t.Fatalf("readResults = %+v, %+v, %v", got, recs, err)
	}
	c.from = path
	if err := resummarize(c); err != nil {
		t.Fatal(err)
	}
	var sum Summary
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil || json.Unmarshal(b, &sum) != nil || sum.Run.Commit != "abc1234" || len(sum.Cells) != 1 {
		t.Errorf("summary.json = %s (%v)", b, err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "results.md"))
	if !strings.Contains(string(md), "- Commit: `abc1234`") || !strings.Contains(string(md), "Medians of 3 run(s)") {
		t.Errorf("results.md rebuilt without the run's description:\n%s", md)
	}
}

func TestReplaceGeneratedKeepsTheProse(t *testing.T) {
	doc := "# Benchmarks\n\nprose before\n\n" + docBegin + " -->\nold table\n" + docEnd + " -->\n\nprose after\n"
	got, err := replaceGenerated(doc, "new table\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Benchmarks\n\nprose before\n\n" + docBegin + " -->\n\nnew table\n\n" + docEnd + " -->\n\nprose after\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	again, err := replaceGenerated(got, "new table\n")
	if err != nil || again != got {
		t.Errorf("pasting the same results twice changed the document:\n%s", again)
	}
	for _, bad := range []string{"no markers\n", docEnd + " -->\n" + docBegin + " -->\n", docBegin + " -->\n" + docBegin + " -->\n" + docEnd + " -->\n"} {
		if _, err := replaceGenerated(bad, "x"); err == nil {
			t.Errorf("replaceGenerated(%q) accepted it", bad)
		}
	}
}

// git runs git in dir for a test, with an identity for commits.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestCommitOfAndDocProblems(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("code.go", "package x\n")
	write("docs/benchmarks.md", "prose\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "first")
	short, full, subject, dirty := commitOf(dir)
	if short != git(t, dir, "rev-parse", "--short", "HEAD") || dirty || subject != "first" || len(full) != 40 {
		t.Errorf("clean tree: %q %q %q %v", short, full, subject, dirty)
	}
	write("new.go", "package x\n") // untracked files change what is built too
	if short, _, _, dirty := commitOf(dir); !dirty || !strings.HasSuffix(short, "-dirty") {
		t.Errorf("untracked file: %q dirty=%v, want -dirty", short, dirty)
	}
	if err := os.Remove(filepath.Join(dir, "new.go")); err != nil {
		t.Fatal(err)
	}

	md := "tables\n![chart](" + chartFile + ")\n"
	run := RunInfo{Commit: short, FullCommit: full, Mode: "full", Command: "make bench-peers"}
	if p := docProblems(run, md, dir); len(p) != 0 {
		t.Errorf("a full run of HEAD: %q", p)
	}
	// A later commit touching only docs/ keeps the measured code.
	write("docs/benchmarks.md", "more prose\n")
	git(t, dir, "commit", "-q", "-am", "prose")
	if p := docProblems(run, md, dir); len(p) != 0 {
		t.Errorf("after a docs-only commit: %q", p)
	}
	write("code.go", "package y\n")
	git(t, dir, "commit", "-q", "-am", "code")
	quick := run
	quick.Mode, quick.Dirty = "quick", true
	p := docProblems(quick, "tables\n", dir)
	if len(p) != 4 {
		t.Errorf("quick, dirty, old code, no chart: got %d problems: %q", len(p), p)
	}
}
