package main

import (
	"encoding/json"
	"math"
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
		"| netsys Go ≤ 1 KiB server memory per idle connection | 2048 B | no |",
		"| netsys C ABI stream-64 msg/s ≥ 0.6x raw C | not measured | - |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("goal table lacks %q:\n%s", want, out)
		}
	}
}
