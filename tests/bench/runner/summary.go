package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// figures are the loadgen result fields the summary uses (see
// loadgen/main.go's Result).
type figures struct {
	Messages    float64   `json:"messages"`
	Seconds     float64   `json:"seconds"`
	MsgPerS     float64   `json:"msg_per_s"`
	MBPerS      float64   `json:"mb_per_s"`
	P50us       float64   `json:"p50_us"`
	P95us       float64   `json:"p95_us"`
	P99us       float64   `json:"p99_us"`
	MaxUs       float64   `json:"max_us"`
	ConnPerS    float64   `json:"conn_per_s"`
	RSSPerConn  float64   `json:"rss_per_conn_bytes"`
	RSSBeforeKB float64   `json:"server_rss_before_kb"`
	RSSKB       float64   `json:"server_rss_kb"`
	ServerCPU   float64   `json:"server_cpu"`
	LoadgenCPU  float64   `json:"loadgen_cpu"`
	CPUBusy     []float64 `json:"cpu_busy"`
}

// metric says which figure ranks a scenario and whether lower is better.
func metric(scenario string) (name, unit string, lowerIsBetter bool) {
	switch {
	case strings.HasPrefix(scenario, "pingpong"):
		return "p50 latency", "µs", true
	case strings.HasPrefix(scenario, "connect"):
		return "connections/s", "conn/s", false
	case strings.HasPrefix(scenario, "idle"):
		return "server RSS per idle connection", "B", true
	default:
		return "messages/s", "msg/s", false
	}
}

func pick(scenario string, f figures) float64 {
	switch {
	case strings.HasPrefix(scenario, "pingpong"):
		return f.P50us
	case strings.HasPrefix(scenario, "connect"):
		return f.ConnPerS
	case strings.HasPrefix(scenario, "idle"):
		return f.RSSPerConn
	default:
		return f.MsgPerS
	}
}

// primary is the ranking figure of one raw result.
func primary(scenario string, raw json.RawMessage) (float64, error) {
	var f figures
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, err
	}
	if strings.HasPrefix(scenario, "idle") {
		// A tiny smoke run may not grow the RSS by a whole page; what must
		// be positive there is that the connections were opened and held
		// (the loadgen checks every one still echoes).
		return f.ConnPerS, nil
	}
	return pick(scenario, f), nil
}

// Cell is the summary of one server under one scenario.
type Cell struct {
	Server      string  `json:"server"`
	Label       string  `json:"label"`
	Scenario    string  `json:"scenario"`
	NotMeasured string  `json:"not_measured,omitempty"`
	Runs        int     `json:"runs"`
	Retried     int     `json:"retried_runs,omitempty"`   // runs repeated for interference
	Disturbed   int     `json:"disturbed_runs,omitempty"` // kept although disturbed
	Median      float64 `json:"median"`                   // the primary figure
	Min         float64 `json:"min"`
	Max         float64 `json:"max"`
	Unit        string  `json:"unit"`
	Lower       bool    `json:"lower_is_better"`
	// Ratio to the raw C server in this run: figure / rawc's figure (for
	// lower-is-better figures too, so 1.1 latency means 10% slower).
	Ratio float64 `json:"ratio_to_rawc,omitempty"`
	// Medians of the secondary figures.
	MBPerS      float64 `json:"mb_per_s,omitempty"`
	P95us       float64 `json:"p95_us,omitempty"`
	P99us       float64 `json:"p99_us,omitempty"`
	MaxUs       float64 `json:"max_us,omitempty"`
	P99Ratio    float64 `json:"p99_ratio_to_rawc,omitempty"`
	ServerCPU   float64 `json:"server_cpu"`
	LoadgenCPU  float64 `json:"loadgen_cpu"`
	ServerNsMsg float64 `json:"server_cpu_ns_per_msg,omitempty"`
	NsMsgRatio  float64 `json:"server_cpu_per_msg_ratio_to_rawc,omitempty"`
	RSSKB       float64 `json:"server_rss_kb"`
	RSSBeforeKB float64 `json:"server_rss_before_kb"`
	// Other is the median share of the server's CPU that other processes
	// used during the timed phase (0 when not pinned): a busy shared
	// machine shows up here.
	Other float64 `json:"other_load_on_server_cpu"`
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize groups the records by server and scenario, in first-seen order.
func summarize(recs []Record) []*Cell {
	var cells []*Cell
	index := map[string]*Cell{}
	values := map[*Cell]map[string][]float64{}
	for _, r := range recs {
		key := r.Server + "\x00" + r.Scenario
		c := index[key]
		if c == nil {
			name, unit, lower := metric(r.Scenario)
			_ = name
			c = &Cell{Server: r.Server, Label: r.Label, Scenario: r.Scenario, Unit: unit, Lower: lower}
			index[key] = c
			values[c] = map[string][]float64{}
			cells = append(cells, c)
		}
		if r.NotMeasured != "" {
			c.NotMeasured = r.NotMeasured
			continue
		}
		c.Retried += r.Retries
		if r.Disturbed {
			c.Disturbed++
		}
		var f figures
		if err := json.Unmarshal(r.Result, &f); err != nil {
			c.NotMeasured = "unparsable result: " + err.Error()
			continue
		}
		v := values[c]
		add := func(k string, x float64) { v[k] = append(v[k], x) }
		add("primary", pick(r.Scenario, f))
		add("mb", f.MBPerS)
		add("p95", f.P95us)
		add("p99", f.P99us)
		add("max", f.MaxUs)
		add("scpu", f.ServerCPU)
		add("lcpu", f.LoadgenCPU)
		add("rss", f.RSSKB)
		add("rss0", f.RSSBeforeKB)
		if len(f.CPUBusy) > 0 {
			add("other", max(0, f.CPUBusy[0]-f.ServerCPU))
		}
		if f.MsgPerS > 0 && f.ServerCPU > 0 {
			add("nsmsg", f.ServerCPU/f.MsgPerS*1e9)
		}
	}
	for _, c := range cells {
		if c.NotMeasured != "" {
			continue
		}
		v := values[c]
		p := v["primary"]
		c.Runs = len(p)
		c.Median = median(p)
		c.Min, c.Max = slices.Min(p), slices.Max(p)
		c.MBPerS, c.P95us, c.P99us, c.MaxUs = median(v["mb"]), median(v["p95"]), median(v["p99"]), median(v["max"])
		c.ServerCPU, c.LoadgenCPU = median(v["scpu"]), median(v["lcpu"])
		c.RSSKB, c.RSSBeforeKB = median(v["rss"]), median(v["rss0"])
		c.ServerNsMsg = median(v["nsmsg"])
		c.Other = median(v["other"])
	}
	for _, c := range cells {
		ref := index["rawc\x00"+c.Scenario]
		if c.NotMeasured != "" || ref == nil || ref.NotMeasured != "" || ref.Median == 0 {
			continue
		}
		c.Ratio = c.Median / ref.Median
		if ref.P99us > 0 {
			c.P99Ratio = c.P99us / ref.P99us
		}
		if ref.ServerNsMsg > 0 {
			c.NsMsgRatio = c.ServerNsMsg / ref.ServerNsMsg
		}
	}
	return cells
}

// human prints a figure with 3 significant digits and a k/M suffix.
func human(x float64) string {
	switch a := math.Abs(x); {
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", x/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", x/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	default:
		return fmt.Sprintf("%.3g", x)
	}
}

// spread is (max-min)/median in percent.
func spread(c *Cell) string {
	s := "-"
	if c.Runs >= 2 && c.Median != 0 {
		s = fmt.Sprintf("±%.0f%%", (c.Max-c.Min)/c.Median*50)
	}
	if c.Disturbed > 0 {
		s += fmt.Sprintf(" †%d", c.Disturbed)
	}
	return s
}

// loadgenBound marks a figure the load generator may have limited: it used
// (nearly) all of its CPU, so the server could have gone faster.
const loadgenBound = 0.95

// lg prints the load generator's CPU use, flagged when it was the limit.
func lg(x float64) string {
	if x >= loadgenBound {
		return fmt.Sprintf("**%.2f** ⚠", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// command is the command line the results header names.
func command(c config) string {
	if c.command != "" {
		return c.command
	}
	return strings.Join(os.Args, " ")
}

func ratio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x)
}

// Summary is summary.json: the run's description and one cell per server
// and scenario.
type Summary struct {
	Run   RunInfo `json:"run"`
	Cells []*Cell `json:"cells"`
}

// writeSummary writes summary.json, the chart (benchmarks.png, when
// matplotlib is available) and results.md, which shows the chart.
func writeSummary(c config, info RunInfo, cells []*Cell) error {
	js, err := json.MarshalIndent(Summary{Run: info, Cells: cells}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "summary.json"), js, 0o644); err != nil {
		return err
	}
	chart := ""
	if !c.smoke {
		chart = drawChart(c)
	}
	md := resultsMarkdown(info, cells, chart)
	return os.WriteFile(filepath.Join(c.out, "results.md"), []byte(md), 0o644)
}

// chartFile is the chart's name, beside results.md (and, once pasted by
// bench-doc, beside docs/benchmarks.md).
const chartFile = "benchmarks.png"

// plotMissing is plot.py's exit status when matplotlib is not installed.
const plotMissing = 3

// drawChart runs plot.py over summary.json and returns the Markdown line
// results.md shows for the chart: the image, or why there is none. A chart
// that cannot be drawn costs one line on stderr, never the run.
func drawChart(c config) string {
	png := filepath.Join(c.out, chartFile)
	_ = os.Remove(png)
	errFile := filepath.Join(c.out, "plot-error.txt")
	_ = os.Remove(errFile)
	out, err := exec.Command(c.python, filepath.Join(c.src, "plot.py"), filepath.Join(c.out, "summary.json"), png).CombinedOutput()
	if err == nil {
		return fmt.Sprintf("![netsys and its peers relative to the raw C server in the same run](%s)", chartFile)
	}
	var why string
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == plotMissing {
		from := c.from
		if from == "" {
			from = filepath.Join(c.out, "results.jsonl")
		}
		self, _ := os.Executable()
		why = fmt.Sprintf("matplotlib is not installed (make deps-bench installs it; then %s -from %s -out %s draws it without measuring again)", self, from, c.out)
	} else {
		_ = os.WriteFile(errFile, out, 0o644)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		why = fmt.Sprintf("plot.py failed (%v: %s; full output in %s)", err, strings.TrimSpace(lines[len(lines)-1]), errFile)
	}
	_ = os.Remove(png)
	fmt.Fprintf(os.Stderr, "runner: chart skipped: %s\n", why)
	return "No chart: " + why + "."
}

// resultsMarkdown is results.md: the run's description, the chart line,
// the legend, one table per scenario and the goal table. bench-doc pastes
// it into docs/benchmarks.md as it is.
func resultsMarkdown(info RunInfo, cells []*Cell, chart string) string {
	var b strings.Builder
	var order []string
	for _, cell := range cells {
		if !contains(order, cell.Scenario) {
			order = append(order, cell.Scenario)
		}
	}
	b.WriteString(info.describe())
	b.WriteString("\n")
	if chart != "" {
		b.WriteString(chart + "\n\n")
	}
	fmt.Fprintf(&b, "Medians of %d run(s) each; ± is half the min-max range over the median; ratio is to the raw C server in the same run", info.Reps)
	fmt.Fprintf(&b, " (for latency and memory, lower is better). CPU columns are CPUs used during the timed phase (1.00 = one core busy); loadgen CPU well below 1.00 means the load generator was not the bottleneck; ⚠ marks runs where it used ≥ %.2f of its CPU and may have been the limit. A run during which other processes used more than %.2f of the server's CPU is repeated (up to twice, within the time budget); †N counts runs kept although still disturbed. \"other load\" is the median share of the server's CPU used by other processes during the timed phase. The ZeroMQ peers speak their own protocol (ZMTP) and are driven by zmq_bench: its C sender is their \"loadgen\", the receiving process their \"server\".\n\n", loadgenBound, maxInterference)
	for _, sc := range order {
		name, unit, _ := metric(sc)
		fmt.Fprintf(&b, "### %s — %s (%s)\n\n", sc, name, unit)
		switch {
		case strings.HasPrefix(sc, "pingpong"):
			b.WriteString("| server | p50 µs | ± | ratio | p95 µs | p99 µs | p99 ratio | max µs | server CPU | loadgen CPU | other load | server RSS KiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		case strings.HasPrefix(sc, "idle"):
			b.WriteString("| server | B/conn | ± | ratio | RSS before KiB | RSS with conns KiB | server CPU | loadgen CPU | other load |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		default:
			b.WriteString("| server | " + unit + " | ± | ratio | MB/s | server CPU | ns CPU/msg | CPU/msg ratio | loadgen CPU | other load | server RSS KiB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		}
		for _, cell := range cells {
			if cell.Scenario != sc {
				continue
			}
			if cell.NotMeasured != "" {
				fmt.Fprintf(&b, "| %s | not measured: %s |\n", cell.Label, strings.ReplaceAll(cell.NotMeasured, "|", "/"))
				continue
			}
			switch {
			case strings.HasPrefix(sc, "pingpong"):
				fmt.Fprintf(&b, "| %s | %.1f | %s | %s | %.1f | %.1f | %s | %.0f | %.2f | %s | %.2f | %.0f |\n",
					cell.Label, cell.Median, spread(cell), ratio(cell.Ratio), cell.P95us, cell.P99us, ratio(cell.P99Ratio), cell.MaxUs, cell.ServerCPU, lg(cell.LoadgenCPU), cell.Other, cell.RSSKB)
			case strings.HasPrefix(sc, "idle"):
				fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %.0f | %.0f | %.2f | %s | %.2f |\n",
					cell.Label, cell.Median, spread(cell), ratio(cell.Ratio), cell.RSSBeforeKB, cell.RSSKB, cell.ServerCPU, lg(cell.LoadgenCPU), cell.Other)
			default:
				mb, ns := "-", "-"
				if cell.MBPerS > 0 {
					mb = fmt.Sprintf("%.0f", cell.MBPerS)
				}
				if cell.ServerNsMsg > 0 {
					ns = fmt.Sprintf("%.0f", cell.ServerNsMsg)
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f | %s | %s | %s | %.2f | %.0f |\n",
					cell.Label, human(cell.Median), spread(cell), ratio(cell.Ratio), mb, cell.ServerCPU, ns, ratio(cell.NsMsgRatio), lg(cell.LoadgenCPU), cell.Other, cell.RSSKB)
			}
		}
		b.WriteString("\n")
	}
	writeGoals(&b, cells)
	return b.String()
}
