package main

import (
	"fmt"
	"strings"
)

// goal is one target of the benchmark issue, checked against this run's
// figures. Goals are reported, never asserted: a missed goal is a finding
// to explain (docs/benchmarks.md), not a failed build.
type goal struct {
	text string
	// eval returns the measured value as text and whether the goal is met;
	// ok=false with measured "" means the figures are missing.
	eval func(find cellFinder) (measured string, met bool)
}

// cellFinder returns the measured cell of a server under a scenario, or nil.
type cellFinder func(server, scenario string) *Cell

// ratioGoal checks server's ratio to raw C (or, with cpu, its CPU-per-message
// ratio) under scenario against a bound.
func ratioGoal(server, scenario string, bound float64, lowerIsGood, cpu bool) func(cellFinder) (string, bool) {
	return func(find cellFinder) (string, bool) {
		c := find(server, scenario)
		if c == nil {
			return "", false
		}
		r := c.Ratio
		if cpu {
			r = c.NsMsgRatio
		}
		if r == 0 {
			return "", false
		}
		if lowerIsGood {
			return fmt.Sprintf("%.2fx", r), r <= bound
		}
		return fmt.Sprintf("%.2fx", r), r >= bound
	}
}

// compareGoal checks a figure of server a against the same figure of
// server b under scenario: cpu compares server CPU per message (a ≤ b·bound
// is met), otherwise the primary figure (a ≥ b·bound is met).
func compareGoal(a, b, scenario string, bound float64, cpu bool) func(cellFinder) (string, bool) {
	return func(find cellFinder) (string, bool) {
		x, y := find(a, scenario), find(b, scenario)
		if x == nil || y == nil {
			return "", false
		}
		if cpu {
			if x.ServerNsMsg == 0 || y.ServerNsMsg == 0 {
				return "", false
			}
			r := x.ServerNsMsg / y.ServerNsMsg
			return fmt.Sprintf("%.2fx %s (%.0f vs %.0f ns CPU/msg)", r, y.Label, x.ServerNsMsg, y.ServerNsMsg), r <= bound
		}
		if y.Median == 0 {
			return "", false
		}
		r := x.Median / y.Median
		return fmt.Sprintf("%.2fx %s (%s vs %s %s)", r, y.Label, human(x.Median), human(y.Median), x.Unit), r >= bound
	}
}

// idleGoal checks server's memory per idle connection against bytes.
func idleGoal(server, idleScenario string, bytes float64) func(cellFinder) (string, bool) {
	return func(find cellFinder) (string, bool) {
		c := find(server, idleScenario)
		if c == nil {
			return "", false
		}
		return fmt.Sprintf("%.0f B", c.Median), c.Median <= bytes
	}
}

// goals lists the goals for netsys with how to check each: first the
// per-message and idle-memory goals, then the earlier throughput, latency
// and connection goals.
func goals(fanManyScenario, idleScenario string) []goal {
	gs := []goal{
		{"netsys Go (OnMessage) stream-64 server CPU per message ≤ 1.3x raw C", ratioGoal("netsysgo", "stream-64", 1.3, true, true)},
		{"netsys Go pipelined echo server CPU per message ≤ gnet's", compareGoal("netsysgo", "gnet", "pipeline-64", 1, true)},
		{"netsys C++ stream-64 server CPU per message ≤ 2x raw C", ratioGoal("netsyscpp", "stream-64", 2, true, true)},
		{"netsys C ABI, poll (the pull interface) stream-64 server CPU per message ≤ 3x raw C", ratioGoal("netsysc-poll", "stream-64", 3, true, true)},
		{"netsys Python stream-64 into an on_message handler ≥ 2x pyzmq into a Python handler", compareGoal("netsyspy", "pyzmq", "stream-64", 2, false)},
		{"netsys Go ≤ 600 B server memory per idle connection", idleGoal("netsysgo", idleScenario, 600)},
		{"netsys C ABI ≤ 600 B server memory per idle connection", idleGoal("netsysc", idleScenario, 600)},
		{"netsys C++ ≤ 800 B server memory per idle connection", idleGoal("netsyscpp", idleScenario, 800)},
		{"netsys Python ≤ 1 KiB server memory per idle connection", idleGoal("netsyspy", idleScenario, 1024)},
		{"netsys Go fan-in 50 clients ≥ gnet", compareGoal("netsysgo", "gnet", "fanin-50", 1, false)},
		{"netsys Go " + fanManyScenario + " ≥ gnet", compareGoal("netsysgo", "gnet", fanManyScenario, 1, false)},
	}
	for _, sc := range []string{"stream-64", "stream-1k", "stream-8k"} {
		gs = append(gs,
			goal{"netsys Go " + sc + " msg/s ≥ 0.8x raw C", ratioGoal("netsysgo", sc, 0.8, false, false)},
			goal{"netsys Go " + sc + " server CPU per message ≤ 2x raw C", ratioGoal("netsysgo", sc, 2, true, true)},
			goal{"netsys C ABI " + sc + " msg/s ≥ 0.6x raw C", ratioGoal("netsysc", sc, 0.6, false, false)},
			goal{"netsys C++ " + sc + " msg/s ≥ 0.5x raw C", ratioGoal("netsyscpp", sc, 0.5, false, false)},
		)
	}
	gs = append(gs,
		goal{"netsys Go pipelined echo ≥ gnet", func(find cellFinder) (string, bool) {
			n, g := find("netsysgo", "pipeline-64"), find("gnet", "pipeline-64")
			if n == nil || g == nil || g.Median == 0 {
				return "", false
			}
			r := n.Median / g.Median
			return fmt.Sprintf("%.2fx gnet", r), r >= 1
		}},
		goal{"netsys Go ping-pong p50 ≤ 1.1x raw C", ratioGoal("netsysgo", "pingpong-64", 1.1, true, false)},
		goal{"netsys Go ping-pong p99 ≤ 1.1x raw C", func(find cellFinder) (string, bool) {
			c := find("netsysgo", "pingpong-64")
			if c == nil || c.P99Ratio == 0 {
				return "", false
			}
			return fmt.Sprintf("%.2fx", c.P99Ratio), c.P99Ratio <= 1.1
		}},
		goal{"netsys Go spin mode ping-pong p50 ≤ 1.2x busy-polling raw C", func(find cellFinder) (string, bool) {
			n, r := find("netsysgo-spin", "pingpong-64"), find("rawc-spin", "pingpong-64")
			if n == nil || r == nil || r.Median == 0 {
				return "", false
			}
			x := n.Median / r.Median
			return fmt.Sprintf("%.2fx", x), x <= 1.2
		}},
		goal{"netsys Go fan-in 50 clients ≥ 0.9x raw C", ratioGoal("netsysgo", "fanin-50", 0.9, false, false)},
		goal{"netsys Go " + fanManyScenario + " ≥ 0.9x raw C", ratioGoal("netsysgo", fanManyScenario, 0.9, false, false)},
		goal{"netsys Go connect (with handshake) ≥ 0.7x raw C", ratioGoal("netsysgo", "connect", 0.7, false, false)},
		goal{"netsys Python ≥ 500k msg/s of 64 B into a Python handler", func(find cellFinder) (string, bool) {
			c := find("netsyspy", "stream-64")
			if c == nil {
				return "", false
			}
			return human(c.Median) + " msg/s", c.Median >= 500e3
		}},
		goal{"netsys Go baseline RSS < 10 MB (fresh server, before the idle scenario)", func(find cellFinder) (string, bool) {
			c := find("netsysgo", idleScenario)
			if c == nil || c.RSSBeforeKB == 0 {
				return "", false
			}
			return fmt.Sprintf("%.1f MB", c.RSSBeforeKB*1024/1e6), c.RSSBeforeKB*1024 < 10e6
		}},
	)
	return gs
}

// writeGoals appends the goal table to b.
func writeGoals(b *strings.Builder, cells []*Cell) {
	find := func(server, scenario string) *Cell {
		for _, c := range cells {
			if c.Server == server && c.Scenario == scenario && c.NotMeasured == "" {
				return c
			}
		}
		return nil
	}
	fanMany, idle := "fanin-1000", "idle-10000"
	for _, c := range cells {
		if strings.HasPrefix(c.Scenario, "fanin-") && c.Scenario != "fanin-50" {
			fanMany = c.Scenario
		}
		if strings.HasPrefix(c.Scenario, "idle-") {
			idle = c.Scenario
		}
	}
	b.WriteString("### Goals (ratios within this run)\n\n| goal | measured | met |\n|---|---:|:---:|\n")
	for _, g := range goals(fanMany, idle) {
		measured, met := g.eval(find)
		verdict := "no"
		switch {
		case measured == "":
			measured, verdict = "not measured", "-"
		case met:
			verdict = "yes"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", g.text, measured, verdict)
	}
	b.WriteString("\n")
}
