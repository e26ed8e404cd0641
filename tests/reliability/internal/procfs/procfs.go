// Package procfs reads the few /proc figures the reliability suite
// measures: open fds and resident memory of a process (Linux only).
package procfs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// FDCount counts the open file descriptors of process pid (0: self).
func FDCount(pid int) (int, error) {
	entries, err := os.ReadDir(procDir(pid) + "/fd")
	if err != nil {
		return 0, fmt.Errorf("count fds: %w", err)
	}
	return len(entries), nil
}

// Memory is a process's resident set: now and its high-water mark, in KiB.
type Memory struct {
	RSSKiB, HWMKiB int64
}

// ReadMemory reads VmRSS and VmHWM of process pid (0: self).
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open(procDir(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch key {
		case "VmRSS":
			m.RSSKiB = parseKiB(val)
		case "VmHWM":
			m.HWMKiB = parseKiB(val)
		}
	}
	return m, sc.Err()
}

func parseKiB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n
}

// ResetPeakRSS sets the calling process's VmHWM back to its current RSS
// (Linux >= 4.0), so the next reading is the peak of what follows.
func ResetPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak rss: %w", err)
	}
	return nil
}

// RaiseFDLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit. Both sides of the big-connection tests need it, in
// separate processes: one process cannot hold both ends of 10,000
// connections under this machine's hard limit.
func RaiseFDLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, fmt.Errorf("setrlimit %d: %w", r.Max, err)
		}
	}
	return r.Cur, nil
}

func procDir(pid int) string {
	if pid == 0 {
		return "/proc/self"
	}
	return "/proc/" + strconv.Itoa(pid)
}
