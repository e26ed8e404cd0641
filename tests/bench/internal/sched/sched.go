// Package sched gives the measured processes of the benchmark a fair chance
// on a shared machine: a raised priority (nice) and a short scheduler slice
// for every thread of a process.
//
// Why the slice: Linux's EEVDF scheduler lets a running task finish its
// slice (3 ms by default) before a task it woke gets the CPU, unless the
// woken task asks for a shorter slice (sched_setattr's sched_runtime for
// SCHED_OTHER, Linux 6.12 and later). A server that sleeps between bursts,
// like the raw C one, was otherwise delayed by up to a slice on every wakeup
// whenever a compiler of another user ran on its CPU, while a server that
// stays busy was not: the ratios measured the machine's other users.
package sched

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// attr is struct sched_attr (SCHED_ATTR_SIZE_VER1).
type attr struct {
	size     uint32
	policy   uint32
	flags    uint64
	nice     int32
	priority uint32
	runtime  uint64
	deadline uint64
	period   uint64
	utilMin  uint32
	utilMax  uint32
}

// setThread sets SCHED_OTHER with the given nice and slice on one thread.
func setThread(tid, nice int, slice uint64) error {
	a := attr{size: uint32(unsafe.Sizeof(attr{})), policy: 0, nice: int32(nice), runtime: slice}
	_, _, e := unix.Syscall(unix.SYS_SCHED_SETATTR, uintptr(tid), uintptr(unsafe.Pointer(&a)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// Apply gives every current thread of process pid the nice value and a
// scheduler slice of slice nanoseconds (0 keeps the default slice). Threads
// created later inherit the nice value from their creator; the slice is
// applied again by calling Apply again.
func Apply(pid, nice int, slice uint64) error {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	var first error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := setThread(tid, nice, slice); err != nil && first == nil && err != unix.ESRCH {
			first = fmt.Errorf("sched_setattr(%d): %w", tid, err)
		}
	}
	return first
}
