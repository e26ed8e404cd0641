package reliability

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFaultLossAndDelay runs well-behaved echo clients against a server
// across a link that drops and delays packets (netem.sh: two network
// namespaces joined by relfwd). Every message must still arrive, in order.
// Where namespaces or TUN devices cannot be created the check is NOT RUN.
func TestFaultLossAndDelay(t *testing.T) {
	need(t)
	type link struct {
		loss  string
		delay string
	}
	links := []link{{"5", "20ms"}}
	if prof.name == "soak" {
		links = append(links, link{"10", "50ms"})
	}
	for _, l := range links {
		t.Run(fmt.Sprintf("loss %s%% delay %s", l.loss, l.delay), func(t *testing.T) {
			lossyLink(t, l.loss, l.delay)
		})
	}
}

func lossyLink(t *testing.T, loss, delay string) {
	name := fmt.Sprintf("packet loss %s%% + delay %s each way, 2 echo clients for %v", loss, delay, prof.lossHold)
	bound := "every message echoed, in order, no disconnect; the link really dropped packets and TCP retransmitted"
	out, err := runCommand(prof.lossHold+2*time.Minute, "sh", "netem.sh", binDir, loss, delay, prof.lossHold.String())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	get := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix+" ") {
				return strings.TrimPrefix(l, prefix+" ")
			}
		}
		return ""
	}
	if why := get("NOTRUN"); why != "" {
		record(t, "faults", name, bound, "", &verdict{notRun: []string{why}})
		return
	}
	v := &verdict{}
	if err != nil || get("RESULT") == "" {
		v.check(false, "netem.sh failed: %v: %s", err, out)
		record(t, "faults", name, bound, "no result", v)
		return
	}
	var r struct {
		Accepted, Echoed, OutOfOrder, Disconnects int64
		P50, P99, Max                             float64
		Delivered                                 bool
	}
	var raw map[string]any
	json.Unmarshal([]byte(get("RESULT")), &raw)
	num := func(k string) float64 { f, _ := raw[k].(float64); return f }
	r.Accepted, r.Echoed, r.OutOfOrder, r.Disconnects = int64(num("accepted")), int64(num("echoed")), int64(num("out_of_order")), int64(num("disconnects"))
	r.P50, r.P99, r.Max = num("p50_ms"), num("p99_ms"), num("max_ms")
	r.Delivered, _ = raw["delivered"].(bool)
	fwd := parseKV("FWD " + strings.TrimPrefix(get("FWD"), "STATS "))
	dropped := atoi(fwd["a2b_dropped"]) + atoi(fwd["b2a_dropped"])
	forwarded := atoi(fwd["a2b_forwarded"]) + atoi(fwd["b2a_forwarded"])
	re := parseKV("RETRANS " + get("RETRANS"))
	retrans := atoi(re["client"]) + atoi(re["server"])
	v.check(r.Delivered, "%d/%d echoed, %d out of order, %d disconnects (%v)", r.Echoed, r.Accepted, r.OutOfOrder, r.Disconnects, raw["errors"])
	v.check(dropped > 0, "the forwarder dropped no packet: the link was not lossy")
	v.check(retrans > 0, "TCP retransmitted nothing: the loss did not reach TCP")
	record(t, "faults", name, bound,
		fmt.Sprintf("echoed %d/%d, out of order %d; p50 %.1f ms, p99 %.1f ms, max %.1f ms; link dropped %d of %d packets (%.1f%%); TCP retransmissions %d",
			r.Echoed, r.Accepted, r.OutOfOrder, r.P50, r.P99, r.Max, dropped, dropped+forwarded, 100*float64(dropped)/float64(max(1, dropped+forwarded)), retrans), v)
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
