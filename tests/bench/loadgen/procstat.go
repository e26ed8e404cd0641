package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/tests/bench/internal/sched"
)

// clockTick is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is 100
// on every Linux architecture Go supports.
const clockTick = 100

// serverCPU returns the CPU time (user+system, all threads, including exited
// ones) the process pid has used, from /proc/PID/stat.
func serverCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// serverRSS returns the resident set size of pid in KiB (VmRSS).
func serverRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// meter measures the wall time of a scenario's timed phase and the CPU both
// sides used during it: the check that the load generator, not the server,
// has headroom.
type meter struct {
	pid           int
	start         time.Time
	srv0, self0   time.Duration
	wall          time.Duration
	srvCPU, lgCPU float64
	cpus0         []cpuTimes
	cpuBusy       []float64 // per CPU: busy fraction of the timed phase
}

// cpuTimes is one "cpuN" line of /proc/stat, in clock ticks.
type cpuTimes struct{ busy, total int64 }

// readCPUTimes returns every CPU's busy and total ticks, indexed by CPU
// number. Busy is everything but idle and iowait; steal counts as busy,
// since a stolen vCPU is as unavailable to the server as a busy one.
func readCPUTimes() []cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	var out []cpuTimes
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		var t cpuTimes
		for i, v := range f[1:9] {
			n, _ := strconv.ParseInt(v, 10, 64)
			t.total += n
			if i != 3 && i != 4 { // idle, iowait
				t.busy += n
			}
		}
		out = append(out, t)
	}
	return out
}

// schedNice and schedSlice are the -nice and -slice options, applied to
// every thread of this process at start and again when a timed phase starts
// (threads the runtime created meanwhile get them too).
var (
	schedNice  int
	schedSlice uint64
)

func applySched() {
	if schedNice != 0 || schedSlice != 0 {
		if err := sched.Apply(os.Getpid(), schedNice, schedSlice); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: scheduler settings:", err)
		}
	}
}

func startMeter(pid int) *meter {
	applySched()
	m := &meter{pid: pid}
	if pid > 0 {
		m.srv0, _ = serverCPU(pid)
	}
	m.self0 = selfCPU()
	m.cpus0 = readCPUTimes()
	m.start = time.Now()
	return m
}

// stop ends the timed phase; wall is its duration.
func (m *meter) stop() {
	m.wall = time.Since(m.start)
	lg := selfCPU() - m.self0
	m.lgCPU = lg.Seconds() / m.wall.Seconds()
	if now := readCPUTimes(); len(now) == len(m.cpus0) {
		for i := range now {
			busy, total := now[i].busy-m.cpus0[i].busy, now[i].total-m.cpus0[i].total
			frac := 0.0
			if total > 0 {
				frac = float64(busy) / float64(total)
			}
			m.cpuBusy = append(m.cpuBusy, frac)
		}
	}
	if m.pid > 0 {
		if s, err := serverCPU(m.pid); err == nil {
			m.srvCPU = (s - m.srv0).Seconds() / m.wall.Seconds()
		}
	}
}
